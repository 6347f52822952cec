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

from gan_cli import distributed, population, precision, resolvers, resume, summary, sweep
from gan_cli.build import Experiment
from gan_cli.compat import build_or_explain
from gan_cli.divergence import train_with_retries
from gan_cli.errors import DIVERGED, UserError, user_errors
from gan_cli.interrupt import exit_status
from gan_cli.log import RunLog, SilentLog, console, flatten, metric_numbers, write_json
from gan_cli.loop import LoopOptions, LoopResult, Trainer
from gan_cli.population import member_overrides
from gan_cli.saving import RunCheckpoints
from gan_cli.validate import TRAIN_RULES, check

resolvers.register()


def train(cfg: DictConfig, run_dir: Path, choices: dict[str, str] | None = None, overrides: list[str] | None = None) -> dict[str, Any]:
    """Train one run into `run_dir` (or continue it: cfg.resume), or a population of runs into run_dir/seed=S/;
    returns what metrics.json holds (a population: each member's under "members").

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

    writes = exp.members.ranks.writes  # under torchrun, rank 0 alone writes the run folder
    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(exp, loop_options(cfg))
    if state is not None:
        resume.continue_from(trainer, state, cfg)
        if writes:
            resume.record_config(run_dir, cfg, overrides)
    runs = [MemberRun(trainer, k, run_dir, cfg, overrides) for k in range(exp.members.count)]
    ckpts = [RunCheckpoints(trainer, r.dir, r.resolved, choices, r.overrides, keep=cfg.keep_ckpts, member=k) for k, r in enumerate(runs)]
    if state is not None and writes and (aside := ckpts[0].folder.set_aside_after(trainer.step)):
        console.print(f"the checkpoints after step {trainer.step} belong to the history this run leaves; they were moved to {aside}")

    start_step = trainer.step
    logs = [RunLog(r.dir, purge_step=start_step + 1 if state is not None else None) if writes else SilentLog() for r in runs]
    announce(exp, cfg, choices, run_dir, f", continuing from step {start_step} ({start_from})" if state is not None else "")
    t0 = time.perf_counter()
    try:
        results, retries = train_with_retries(trainer, logs, ckpts, cfg)
        # At eval.n, so it goes to metrics.json and the final/* tags only; the eval/* curve keeps eval.n_during throughout.
        evaluations = finish(trainer, ckpts, results, cfg.eval.n)
        if not writes:  # another rank of a torchrun run: rank 0 records it
            return {"status": results[0].status, "signal": trainer.stop_signal}
        every = []
        for run, result, evaluation, log in zip(runs, results, evaluations, logs, strict=True):
            metrics = summary.record(result, time.perf_counter() - t0, result.step - start_step, evaluation, run.cfg, choices, run.overrides, exp.loss.d_meaning)
            metrics |= {"retries": retries, "resumed_from": str(start_from) if start_from else None, "signal": trainer.stop_signal}
            metrics["threads"] = torch.get_num_threads()  # steps_per_sec depends on it; a parallel sweep sets it per job
            metrics["processes"] = exp.members.ranks.world  # torchrun's; each took batch_size / processes of every batch
            write_json(metrics, run.dir / "metrics.json")
            if result.status != "interrupted":
                record_hparams(log, result, evaluation, choices, run.resolved)
            every.append(metrics)
    finally:
        for log in logs:
            log.close()
    if len(runs) == 1:
        summary.show(every[0], run_dir, ckpts[0].last)
        return every[0]
    summary.show_population(every, run_dir)
    # A population whose every member diverged ends as a diverged run does (its exit status says so); one that lost
    # some members completed, and its report counts them.
    status = "interrupted" if trainer.stop_signal is not None else "diverged" if all(r.status == "diverged" for r in results) else "completed"
    return {"status": status, "signal": trainer.stop_signal, "members": every}


class MemberRun:
    """Where one of the trainer's members keeps its run: its folder, its config and overrides. An ordinary run's is
    the run folder; population member k's is run_dir/seed=S, described as the ordinary run of seed S would be."""

    def __init__(self, trainer: Trainer, k: int, run_dir: Path, cfg: DictConfig, overrides: list[str]) -> None:
        resolved = OmegaConf.to_container(cfg, resolve=True)
        assert isinstance(resolved, dict)
        self.dir, self.resolved, self.overrides = run_dir, resolved, overrides
        if trainer.members.count > 1:
            seed = trainer.members.seeds[k]
            self.dir = run_dir / f"seed={seed}"
            self.resolved = resolved | {"seed": seed, "population": 1}
            self.overrides = member_overrides(overrides, seed)
        self.cfg = OmegaConf.create(self.resolved)


def prepare(cfg: DictConfig) -> Experiment:
    """Check every option, set threads and seeds, and build the experiment on its device; print the hooks' advice."""
    precision.upgrade(cfg)  # amp=true/false, from older command lines and checkpoints
    check(cfg, TRAIN_RULES, extra=("reg",))  # +reg=[...] is the one addition the configs expect
    population.check(cfg)
    distributed.check(cfg, distributed.current())
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    exp = build_or_explain(cfg)  # seeds the RNGs (each member's in turn) before it builds the networks
    precision.check(cfg.amp, exp.device)
    if exp.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels once
    for note in filter(None, (hook.advice(exp.D) for hook in (exp.loss, *exp.regs))):
        console.print(note)
    return exp


def dry_run(exp: Experiment) -> dict[str, Any]:
    k = exp.members.count
    g, d = (sum(p.numel() for p in net.parameters()) // k for net in (exp.G, exp.D))  # a population's tensors hold K members
    each = f" (each of the {k} members)" if k > 1 else ""
    console.print(f"dry run: the config is valid; G has {g:,} parameters, D {d:,}{each}, on {exp.device.type}. Nothing was trained.")
    return {"status": "dry_run"}


def loop_options(cfg: DictConfig) -> LoopOptions:
    names = {f.name for f in fields(LoopOptions)} - {"eval_every", "eval_n"}
    return LoopOptions(**{name: cfg[name] for name in names}, eval_every=cfg.eval.every, eval_n=cfg.eval.n_during)


def announce(exp: Experiment, cfg: DictConfig, choices: dict[str, str], run_dir: Path, went_on: str) -> None:
    shown = ("experiment", "data", "model", "loss", "cond", "device")  # a recipe and a conditioning only when chosen
    what = " ".join(f"{k}={choices[k]}" for k in shown if choices.get(k) not in (None, "none"))
    console.print(f"[bold]gan train[/] {what} on {exp.device.type}, seed {cfg.seed}, {cfg.steps} steps{escape(went_on)} -> {escape(str(run_dir))}")


def finish(trainer: Trainer, ckpts: list[RunCheckpoints], results: list[LoopResult], eval_n: int) -> list[dict[str, Any]]:
    """Each member's last checkpoint (unless it diverged: the last good one stays), then the final evaluation of
    every completed member (none for the others)."""
    for member, result in zip(ckpts, results, strict=True):
        if result.status in ("completed", "interrupted"):
            member.save(result.step, periodic=False)
    evaluated = trainer.ranks.writes and any(r.status == "completed" for r in results)  # under torchrun, rank 0 evaluates
    evaluations = trainer.evaluate(eval_n) if evaluated else [{} for _ in results]
    return [e if r.status == "completed" else {} for e, r in zip(evaluations, results, strict=True)]


def record_hparams(log: RunLog, result: LoopResult, evaluation: dict[str, Any], choices: dict[str, str], resolved: dict[str, Any]) -> None:
    """The run's settings with its final numbers: TensorBoard's HParams view of a sweep."""
    hparams = {k: choices[k] for k in ("data", "model", "loss") if k in choices} | flatten(resolved)
    # final/* tags: add_hparams also writes these as scalars, so they must not reuse the eval/* series
    numbers = {f"final/{k}": v for k, v in (result.last | metric_numbers(evaluation)).items()}
    log.hparams(hparams, numbers | {"final/diverged": float(result.status == "diverged")}, step=result.step)


@hydra.main(version_base="1.3", config_path="pkg://gan_cli.conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """One run or one job of a sweep; returns the final value of cfg.objective (for Optuna's sweeper), if set."""
    hc = HydraConfig.get()
    with user_errors():
        if hc.mode == RunMode.MULTIRUN and distributed.launched():
            raise UserError("gan train -m under torchrun: a sweep's jobs are runs of their own. Run the sweep without torchrun, or each run under torchrun.")
        if hc.mode == RunMode.MULTIRUN and cfg.get("resume") not in (None, "auto"):
            raise UserError(
                f"resume={cfg.resume} continues one run, not a sweep. For a sweep, give it a fixed folder and "
                "resume=auto: gan train -m ... hydra.sweep.dir=DIR resume=auto continues each job from its own checkpoint."
            )
        sweep.check_objective(cfg)
        # Jobs that run side by side on this machine share its cores; an explicit threads= (or a data set's) still wins.
        if cfg.threads is None and (threads := sweep.job_threads(hc.launcher)) is not None:
            torch.set_num_threads(threads)
        metrics = train(cfg, Path(hc.runtime.output_dir), choices=dict(hc.runtime.choices), overrides=list(hc.overrides.task))
        value = sweep.objective_value(metrics, cfg.objective, OmegaConf.select(hc, "sweeper.direction", default="minimize")) if cfg.objective else None
    if metrics["status"] == "interrupted":  # the whole sweep stops too: the user asked for it
        sys.exit(exit_status(metrics["signal"]))
    # In a sweep a diverged job is recorded and the sweep goes on (a study's trial scores the worst value);
    # a single run says so in its exit status.
    if metrics["status"] == "diverged" and hc.mode == RunMode.RUN:
        sys.exit(DIVERGED)
    return value
