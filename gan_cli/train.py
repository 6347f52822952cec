"""`gan train`: compose the config, build the experiment, run the loop, leave a complete run folder."""

from __future__ import annotations

import random
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from gan_cli import __version__, checkpoint, resolvers
from gan_cli.build import build
from gan_cli.errors import DIVERGED, UserError, user_errors
from gan_cli.log import RunLog, console, evaluation_rows, flatten, metric_numbers, summary_table, write_json
from gan_cli.loop import LoopOptions, LoopResult, Trainer
from gan_cli.validate import TRAIN_RULES, check

resolvers.register()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def loop_options(cfg: DictConfig) -> LoopOptions:
    names = {f.name for f in fields(LoopOptions)} - {"eval_every", "eval_n"}
    return LoopOptions(**{name: cfg[name] for name in names}, eval_every=cfg.eval.every, eval_n=cfg.eval.n_during)


def train(cfg: DictConfig, run_dir: Path, choices: dict[str, str] | None = None, overrides: list[str] | None = None) -> dict[str, Any]:
    """Train one run into `run_dir`; returns what metrics.json holds. Raises UserError for bad settings."""
    check(cfg, TRAIN_RULES)
    choices = dict(choices or {})
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    exp = build(cfg)
    if cfg.amp and exp.device.type != "cuda":
        raise UserError(f"amp=true needs a CUDA device, but this run is on {exp.device.type}. Drop amp=true, or use device=cuda.")
    if exp.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels once

    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(exp, loop_options(cfg), seed=cfg.seed)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    ckpts = checkpoint.Folder(run_dir / "checkpoints", keep=cfg.keep_ckpts)

    def save_checkpoint(step: int, periodic: bool = True) -> None:
        if trainer.weights_finite():  # never replace a good checkpoint with broken weights
            state = checkpoint.make(**trainer.state_dict(), config=resolved, choices=choices, arch=exp.arch, rng=checkpoint.rng_state())
            ckpts.save(state, step, periodic)

    log = RunLog(run_dir)
    what = " ".join(f"{k}={choices[k]}" for k in ("data", "model", "loss", "device") if k in choices)
    console.print(f"[bold]gan train[/] {what} on {exp.device.type}, seed {cfg.seed}, {cfg.steps} steps -> {run_dir}")
    try:
        result = trainer.run(log, save_checkpoint)
        if result.status == "completed":
            save_checkpoint(result.step, periodic=False)
        evaluation = trainer.evaluate(cfg.eval.n) if result.status == "completed" else {}
        log.evaluation(result.step, evaluation)
        metrics = describe(result, evaluation, cfg, choices, overrides)
        write_json(metrics, run_dir / "metrics.json")
        hparams = {k: choices[k] for k in ("data", "model", "loss") if k in choices} | flatten(resolved)
        # final/* tags: add_hparams also writes these as scalars, so they must not reuse the eval/* series
        numbers = {f"final/{k}": v for k, v in (result.last | metric_numbers(evaluation)).items()}
        log.hparams(hparams, numbers | {"final/diverged": float(result.status == "diverged")})
    finally:
        log.close()
    show(metrics, run_dir, ckpts.last)
    return metrics


def describe(result: LoopResult, evaluation: dict[str, Any], cfg: DictConfig, choices: dict[str, str], overrides: list[str] | None) -> dict[str, Any]:
    return {
        "status": result.status,
        "step": result.step,
        "steps": cfg.steps,
        "diverged_at": result.diverged_at,
        "elapsed_s": round(result.elapsed_s, 3),
        "steps_per_sec": round(result.step / max(result.elapsed_s, 1e-9), 2),
        "seed": cfg.seed,
        "choices": choices,
        "overrides": list(overrides or []),  # what this run set on the command line; `gan report` groups by it
        "final": result.last,  # the last logged means of the losses and D's outputs
        "eval": evaluation,  # the data set's metrics on eval.n samples of the final G
        "gan_cli_version": __version__,
    }


def show(metrics: dict[str, Any], run_dir: Path, last: Path) -> None:
    rows: dict[str, Any] = {"status": metrics["status"], "steps": f"{metrics['step']}/{metrics['steps']}", "time": f"{metrics['elapsed_s']:.1f} s ({metrics['steps_per_sec']:.0f} it/s)"}
    rows |= {k: v for k, v in metrics["final"].items() if not k.startswith("perf/")}
    rows |= evaluation_rows(metrics["eval"])
    rows["run folder"] = str(run_dir)
    if last.exists():
        rows["checkpoint"] = str(last)
    rows["tensorboard"] = f"tensorboard --logdir {run_dir / 'tb'}"
    console.print(summary_table("gan train: summary", rows))
    if metrics["status"] == "diverged":
        kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was written before it"
        console.print(
            f"[bold red]diverged:[/] the losses became NaN or infinite at step {metrics['diverged_at']}; {kept}. "
            "Try lower learning rates (optim.g.lr, optim.d.lr), another seed, or the nonsat loss."
        )


@hydra.main(version_base="1.3", config_path="pkg://gan_cli.conf", config_name="train")
def main(cfg: DictConfig) -> None:
    hc = HydraConfig.get()
    with user_errors():
        metrics = train(cfg, Path(hc.runtime.output_dir), choices=dict(hc.runtime.choices), overrides=list(hc.overrides.task))
    # In a sweep a diverged job is recorded and the sweep goes on; a single run says so in its exit status.
    if metrics["status"] == "diverged" and hc.mode == RunMode.RUN:
        sys.exit(DIVERGED)
