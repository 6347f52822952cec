"""How a finished (or stopped) run reports itself: metrics.json's record, and the table and advice on the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from gan_cli import __version__
from gan_cli.log import console, evaluation_rows, summary_table
from gan_cli.loop import LoopResult


def record(
    result: LoopResult, elapsed_s: float, trained: int, evaluation: dict[str, Any], cfg: DictConfig, choices: dict[str, str], overrides: list[str], d_meaning: str
) -> dict[str, Any]:
    """What metrics.json holds about the run's end."""
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
        "d_meaning": d_meaning,  # what D/real and D/fake are for this loss (a probability, or a raw score)
        "eval": evaluation,  # the data set's metrics on eval.n samples of the final G
        "gan_cli_version": __version__,
    }


def show_population(members: list[dict[str, Any]], run_dir: Path) -> None:
    """A population's summary: how its members ended; each member's own numbers are in its folder and in gan report."""
    statuses = [m["status"] for m in members]
    rows: dict[str, Any] = {"members": f"{len(members)} (seeds {members[0]['seed']} to {members[-1]['seed']})"}
    rows |= {status: statuses.count(status) for status in ("completed", "diverged", "interrupted") if status in statuses}
    judged = [m["eval"]["success"] for m in members if "success" in m["eval"]]
    if judged or "diverged" in statuses:
        rows["succeeded"] = f"{sum(judged)} of {len(members)}"
    rows["time"] = f"{members[0]['elapsed_s']:.1f} s ({members[0]['steps_per_sec']:.0f} it/s, evaluations included)"
    rows["run folders"] = str(run_dir / "seed=*")
    rows["report"] = f"gan report {run_dir}"
    rows["tensorboard"] = f"tensorboard --logdir {run_dir}"
    console.print(summary_table("gan train: population summary", rows))


def command(processes: int) -> str:
    """The command that trains a run on `processes` processes (torchrun's, for more than one)."""
    return "gan train" if processes == 1 else f"torchrun --nproc_per_node={processes} -m gan_cli train"


def show(metrics: dict[str, Any], run_dir: Path, last: Path) -> None:
    """The summary table, then what to do next when the run diverged or was stopped."""
    rows: dict[str, Any] = {"status": metrics["status"], "steps": f"{metrics['step']}/{metrics['steps']}", "time": f"{metrics['elapsed_s']:.1f} s ({metrics['steps_per_sec']:.0f} it/s, evaluations included)"}
    rows |= {k: v for k, v in metrics["final"].items() if not k.startswith("perf/")}
    if "D/real" in metrics["final"]:
        rows["D/real, D/fake"] = metrics["d_meaning"]
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
            "Try lower learning rates (optim.g.lr, optim.d.lr), another seed, the nonsat loss"
            + (", or divergence.retries=3 to roll back and retry with lower rates automatically." if metrics.get("processes", 1) == 1 else ".")
        )
    elif metrics["status"] == "interrupted":
        console.print(
            f"[bold yellow]stopped[/] at step {metrics['step']} of {metrics['steps']}; the checkpoint {last} holds it. "
            f"Continue with: {command(metrics.get('processes', 1))} resume={run_dir}"
        )
