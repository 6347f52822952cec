"""`gan train`: compose the config, build the experiment, run the loop, leave a complete run folder.

`train()` reads in the order things happen: where the run starts from, the checks and the build, the loop
(with its divergence retries), the final checkpoint and evaluation, then the run's record.
"""

from __future__ import annotations

import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from rich.markup import escape

from gan_cli import resolvers, resume, summary
from gan_cli.build import Experiment
from gan_cli.compat import build_or_explain
from gan_cli.divergence import train_with_retries
from gan_cli.errors import DIVERGED, UserError, user_errors
from gan_cli.interrupt import exit_status
from gan_cli.log import RunLog, console, flatten, metric_numbers, write_json
from gan_cli.loop import LoopOptions, LoopResult, Trainer
from gan_cli.rng import seed_everything
from gan_cli.saving import RunCheckpoints
from gan_cli.validate import TRAIN_RULES, check

resolvers.register()


def train(cfg: DictConfig, run_dir: Path, choices: dict[str, str] | None = None, overrides: list[str] | None = None) -> dict[str, Any]:
    """Train one run into `run_dir` (or continue it: cfg.resume); returns what metrics.json holds.

    Raises UserError for bad settings, before any work starts.
    """
    choices, overrides = dict(choices or {}), list(overrides or [])
    start_from = resume.find(OmegaConf.select(cfg, "resume"), run_dir)
    state = resume.load(start_from) if start_from else None
    if state is not None:
        cfg, choices, overrides = resume.continued_config(state, cfg, overrides)
    exp = prepare(cfg)
    if cfg.dry_run:
        return dry_run(exp)

    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(exp, loop_options(cfg), seed=cfg.seed)
    if state is not None:
        resume.continue_from(trainer, state, cfg)
        resume.record_config(run_dir, cfg, overrides)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    ckpts = RunCheckpoints(trainer, run_dir, resolved, choices, overrides, keep=cfg.keep_ckpts)
    if state is not None and (aside := ckpts.folder.set_aside_after(trainer.step)):
        console.print(f"the checkpoints after step {trainer.step} belong to the history this run leaves; they were moved to {aside}")

    start_step = trainer.step
    log = RunLog(run_dir, purge_step=start_step + 1 if state is not None else None)
    announce(exp, cfg, choices, run_dir, f", continuing from step {start_step} ({start_from})" if state is not None else "")
    t0 = time.perf_counter()
    try:
        result, retries = train_with_retries(trainer, log, ckpts, cfg)
        # At eval.n, so it goes to metrics.json and the final/* tags only; the eval/* curve keeps eval.n_during throughout.
        evaluation = finish(trainer, ckpts, result, cfg.eval.n)
        metrics = summary.record(result, time.perf_counter() - t0, result.step - start_step, evaluation, cfg, choices, overrides, exp.loss.d_meaning)
        metrics |= {"retries": retries, "resumed_from": str(start_from) if start_from else None, "signal": trainer.stop_signal}
        write_json(metrics, run_dir / "metrics.json")
        if result.status != "interrupted":
            record_hparams(log, result, evaluation, choices, resolved)
    finally:
        log.close()
    summary.show(metrics, run_dir, ckpts.last)
    return metrics


def prepare(cfg: DictConfig) -> Experiment:
    """Check every option, set threads and seeds, and build the experiment on its device; print the hooks' advice."""
    check(cfg, TRAIN_RULES, extra=("reg",))  # +reg=[...] is the one addition the configs expect
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    exp = build_or_explain(cfg)
    if cfg.amp and exp.device.type != "cuda":
        raise UserError(f"amp=true needs a CUDA device, but this run is on {exp.device.type}. Drop amp=true, or use device=cuda.")
    if exp.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels once
    for note in filter(None, (hook.advice(exp.D) for hook in (exp.loss, *exp.regs))):
        console.print(note)
    return exp


def dry_run(exp: Experiment) -> dict[str, Any]:
    g, d = (sum(p.numel() for p in net.parameters()) for net in (exp.G, exp.D))
    console.print(f"dry run: the config is valid; G has {g:,} parameters, D {d:,}, on {exp.device.type}. Nothing was trained.")
    return {"status": "dry_run"}


def loop_options(cfg: DictConfig) -> LoopOptions:
    names = {f.name for f in fields(LoopOptions)} - {"eval_every", "eval_n"}
    return LoopOptions(**{name: cfg[name] for name in names}, eval_every=cfg.eval.every, eval_n=cfg.eval.n_during)


def announce(exp: Experiment, cfg: DictConfig, choices: dict[str, str], run_dir: Path, went_on: str) -> None:
    what = " ".join(f"{k}={choices[k]}" for k in ("data", "model", "loss", "device") if k in choices)
    console.print(f"[bold]gan train[/] {what} on {exp.device.type}, seed {cfg.seed}, {cfg.steps} steps{escape(went_on)} -> {escape(str(run_dir))}")


def finish(trainer: Trainer, ckpts: RunCheckpoints, result: LoopResult, eval_n: int) -> dict[str, Any]:
    """The last checkpoint (unless the run diverged: the last good one stays), then the final evaluation of a completed run."""
    if result.status in ("completed", "interrupted"):
        ckpts.save(result.step, periodic=False)
    evaluation = trainer.evaluate(eval_n) if result.status == "completed" else {}
    return evaluation


def record_hparams(log: RunLog, result: LoopResult, evaluation: dict[str, Any], choices: dict[str, str], resolved: dict[str, Any]) -> None:
    """The run's settings with its final numbers: TensorBoard's HParams view of a sweep."""
    hparams = {k: choices[k] for k in ("data", "model", "loss") if k in choices} | flatten(resolved)
    # final/* tags: add_hparams also writes these as scalars, so they must not reuse the eval/* series
    numbers = {f"final/{k}": v for k, v in (result.last | metric_numbers(evaluation)).items()}
    log.hparams(hparams, numbers | {"final/diverged": float(result.status == "diverged")}, step=result.step)


@hydra.main(version_base="1.3", config_path="pkg://gan_cli.conf", config_name="train")
def main(cfg: DictConfig) -> None:
    hc = HydraConfig.get()
    with user_errors():
        if hc.mode == RunMode.MULTIRUN and cfg.get("resume") not in (None, "auto"):
            raise UserError(
                f"resume={cfg.resume} continues one run, not a sweep. For a sweep, give it a fixed folder and "
                "resume=auto: gan train -m ... hydra.sweep.dir=DIR resume=auto continues each job from its own checkpoint."
            )
        metrics = train(cfg, Path(hc.runtime.output_dir), choices=dict(hc.runtime.choices), overrides=list(hc.overrides.task))
    if metrics["status"] == "interrupted":  # the whole sweep stops too: the user asked for it
        sys.exit(exit_status(metrics["signal"]))
    # In a sweep a diverged job is recorded and the sweep goes on; a single run says so in its exit status.
    if metrics["status"] == "diverged" and hc.mode == RunMode.RUN:
        sys.exit(DIVERGED)
