"""`gan train`: compose the config, build the experiment, run the loop, leave a complete run folder."""

from __future__ import annotations

import copy
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

from gan_cli import __version__, checkpoint, resolvers, resume
from gan_cli.build import build
from gan_cli.errors import DIVERGED, UserError, user_errors
from gan_cli.interrupt import exit_status, stop_on_signals
from gan_cli.log import RunLog, console, evaluation_rows, flatten, metric_numbers, summary_table, write_json
from gan_cli.loop import LoopOptions, LoopResult, Trainer
from gan_cli.rng import seed_everything
from gan_cli.validate import TRAIN_RULES, check

resolvers.register()


def loop_options(cfg: DictConfig) -> LoopOptions:
    names = {f.name for f in fields(LoopOptions)} - {"eval_every", "eval_n"}
    return LoopOptions(**{name: cfg[name] for name in names}, eval_every=cfg.eval.every, eval_n=cfg.eval.n_during)


def train(cfg: DictConfig, run_dir: Path, choices: dict[str, str] | None = None, overrides: list[str] | None = None) -> dict[str, Any]:
    """Train one run into `run_dir` (or continue it: cfg.resume); returns what metrics.json holds.

    Raises UserError for bad settings, before any work starts.
    """
    choices, overrides = dict(choices or {}), list(overrides or [])
    start_from = resume.find(OmegaConf.select(cfg, "resume"), run_dir)
    state = resume.load(start_from) if start_from else None
    if state is not None:
        cfg, choices, overrides = resume.continued_config(state, cfg, overrides)
    check(cfg, TRAIN_RULES, extra=("reg",))  # +reg=[...] is the one addition the configs expect
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    exp = build(cfg)
    if cfg.amp and exp.device.type != "cuda":
        raise UserError(f"amp=true needs a CUDA device, but this run is on {exp.device.type}. Drop amp=true, or use device=cuda.")
    if exp.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels once
    for note in filter(None, (hook.advice(exp.D) for hook in (exp.loss, *exp.regs))):
        console.print(note)
    if cfg.dry_run:
        g, d = (sum(p.numel() for p in net.parameters()) for net in (exp.G, exp.D))
        console.print(f"dry run: the config is valid; G has {g:,} parameters, D {d:,}, on {exp.device.type}. Nothing was trained.")
        return {"status": "dry_run"}

    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(exp, loop_options(cfg), seed=cfg.seed)
    if state is not None:
        continue_from(trainer, state, cfg)
        record_config(run_dir, cfg, overrides)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    ckpts = checkpoint.Folder(run_dir / "checkpoints", keep=cfg.keep_ckpts)
    if state is not None and (aside := ckpts.set_aside_after(trainer.step)):
        console.print(f"the checkpoints after step {trainer.step} belong to the history this run leaves; they were moved to {aside}")
    saved_step: list[int] = []  # the step of the newest checkpoint this process wrote

    def save_checkpoint(step: int, periodic: bool = True) -> None:
        if trainer.weights_finite():  # never replace a good checkpoint with broken weights
            parts = trainer.state_dict() | {"config": resolved, "choices": choices, "overrides": overrides, "arch": exp.arch}
            ckpts.save(checkpoint.make(**parts), step, periodic)
            saved_step[:] = [step]

    start_step = trainer.step
    log = RunLog(run_dir, purge_step=start_step + 1 if state is not None else None)
    what = " ".join(f"{k}={choices[k]}" for k in ("data", "model", "loss", "device") if k in choices)
    went_on = f", continuing from step {start_step} ({start_from})" if state is not None else ""
    console.print(f"[bold]gan train[/] {what} on {exp.device.type}, seed {cfg.seed}, {cfg.steps} steps{escape(went_on)} -> {escape(str(run_dir))}")
    retries: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    try:
        # Where to go back to if the run diverges before it has written a checkpoint.
        # Its config records the rates it holds, as a checkpoint's does.
        fallback = copy.deepcopy(trainer.state_dict() | {"config": resolved}) if cfg.divergence.retries else None
        while True:
            with stop_on_signals(trainer):
                result = trainer.run(log, save_checkpoint)
            if result.status != "diverged" or len(retries) >= cfg.divergence.retries:
                break
            retries.append(roll_back(trainer, ckpts.last if saved_step else fallback, result, cfg, resolved))
            log.restart(purge_step=trainer.step + 1)
        if result.status in ("completed", "interrupted"):
            save_checkpoint(result.step, periodic=False)
        evaluation = trainer.evaluate(cfg.eval.n) if result.status == "completed" else {}
        log.evaluation(result.step, evaluation)
        metrics = describe(result, time.perf_counter() - t0, result.step - start_step, evaluation, cfg, choices, overrides)
        metrics |= {"retries": retries, "resumed_from": str(start_from) if start_from else None, "signal": trainer.stop_signal}
        write_json(metrics, run_dir / "metrics.json")
        if result.status != "interrupted":
            hparams = {k: choices[k] for k in ("data", "model", "loss") if k in choices} | flatten(resolved)
            # final/* tags: add_hparams also writes these as scalars, so they must not reuse the eval/* series
            numbers = {f"final/{k}": v for k, v in (result.last | metric_numbers(evaluation)).items()}
            log.hparams(hparams, numbers | {"final/diverged": float(result.status == "diverged")}, step=result.step)
    finally:
        log.close()
    show(metrics, run_dir, ckpts.last)
    return metrics


def continue_from(trainer: Trainer, state: dict[str, Any], cfg: DictConfig) -> None:
    """Put a checkpoint's state into a freshly built trainer, then apply what the command line changed."""
    try:
        trainer.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError, TypeError) as e:
        raise UserError(f"the checkpoint does not fit the run it describes ({str(e).splitlines()[0] if str(e) else type(e).__name__}): it is damaged or was edited. Resume from another checkpoint of the run.") from None
    for net, factor in resume.lr_factors(state["config"], cfg).items():
        trainer.scale_lr(factor, net)
    for net, opt in (("g", trainer.exp.opt_g), ("d", trainer.exp.opt_d)):
        for key, value in cfg.optim[net].items():  # betas, eps, ...: the config says what they are now
            if key not in ("_target_", "_partial_", "lr"):
                for group in opt.param_groups:
                    if key in group:
                        group[key] = tuple(value) if OmegaConf.is_list(value) else value


def record_config(run_dir: Path, cfg: DictConfig, overrides: list[str]) -> None:
    """Hydra has just written the resuming command's own config into .hydra/; the run's is the continued one."""
    hydra_dir = run_dir / ".hydra"
    if (hydra_dir / "config.yaml").is_file():
        OmegaConf.save(cfg, hydra_dir / "config.yaml")
        OmegaConf.save(OmegaConf.create(overrides), hydra_dir / "overrides.yaml")


def roll_back(trainer: Trainer, to: Path | dict[str, Any], result: LoopResult, cfg: DictConfig, resolved: dict[str, Any]) -> dict[str, Any]:
    """After a divergence: back to the last good state, with learning rates lowered by divergence.lr_factor."""
    # A copy of the in-memory state: loading may alias its tensors, and training would then change them.
    state = checkpoint.load(to) if isinstance(to, Path) else copy.deepcopy(to)
    trainer.load_state_dict(state)
    factor = cfg.divergence.lr_factor
    for net in ("g", "d"):  # the checkpoint's config must say the rates the run goes on with
        resolved["optim"][net]["lr"] *= factor
        # The state may predate earlier retries (the start, or a checkpoint written before them), so its
        # optimiser goes from the rate it was saved with to the lowered one, however many factors apart.
        saved = state["config"]["optim"][net]["lr"]
        if saved > 0:
            trainer.scale_lr(resolved["optim"][net]["lr"] / saved, net)
    console.print(
        f"[bold yellow]diverged[/] at step {result.diverged_at}: back to step {trainer.step} with learning rates "
        f"x{factor} (optim.g.lr {resolved['optim']['g']['lr']:.3g}, optim.d.lr {resolved['optim']['d']['lr']:.3g})"
    )
    return {"diverged_at": result.diverged_at, "back_to": trainer.step, "lr_g": resolved["optim"]["g"]["lr"], "lr_d": resolved["optim"]["d"]["lr"]}


def describe(result: LoopResult, elapsed_s: float, trained: int, evaluation: dict[str, Any], cfg: DictConfig, choices: dict[str, str], overrides: list[str]) -> dict[str, Any]:
    return {
        "status": result.status,
        "step": result.step,
        "steps": cfg.steps,
        "diverged_at": result.diverged_at,
        "elapsed_s": round(elapsed_s, 3),  # this process's training, evaluations included
        "steps_per_sec": round(trained / max(elapsed_s, 1e-9), 2),
        "seed": cfg.seed,
        "choices": choices,
        "overrides": overrides,  # what this run set on the command line; `gan report` groups by it
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
            "Try lower learning rates (optim.g.lr, optim.d.lr), another seed, the nonsat loss, or divergence.retries=3 "
            "to roll back and retry with lower rates automatically."
        )
    elif metrics["status"] == "interrupted":
        console.print(
            f"[bold yellow]stopped[/] at step {metrics['step']} of {metrics['steps']}; the checkpoint {last} holds it. "
            f"Continue with: gan train resume={run_dir}"
        )


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
