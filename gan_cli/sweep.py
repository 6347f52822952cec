"""What gan-cli adds to Hydra's launchers and Optuna sweeper (the `sweep` extra): each parallel job's threads, the
number a study optimises, and the study's best trial as a command. The engines themselves are Hydra's plugins."""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from rich.markup import escape

from gan_cli.errors import UserError
from gan_cli.log import console, metric_numbers

# The Hydra options that come with `pip install gan-cli[sweep]`, by the plugin that brings them.
PLUGINS = {
    "hydra/launcher/joblib": "hydra-joblib-launcher",
    "hydra/launcher/submitit_local": "hydra-submitit-launcher",
    "hydra/launcher/submitit_slurm": "hydra-submitit-launcher",
    "hydra/sweeper/optuna": "hydra-optuna-sweeper",
}
RESULTS = "optimization_results.yaml"  # what Hydra's Optuna sweeper writes into the sweep folder at its end


def not_installed(option: str) -> str:
    """The message for a sweep option (hydra/launcher/joblib, ...) whose plugin is missing."""
    group, _, name = option.rpartition("/")
    return (
        f"{group}={name} comes with gan-cli's sweep extra ({PLUGINS[option]}), which is not installed here. "
        "Install it with pip install 'gan-cli[sweep]' (from a clone: make install, or pip install -c requirements.lock -e '.[sweep]')."
    )


def job_threads(launcher: DictConfig | dict[str, Any] | None, cores: int | None = None) -> int | None:
    """Torch threads for each job of a launcher that runs n_jobs of them at once on this machine (joblib), so that
    jobs × threads never exceeds the cores; None for a launcher that runs one job at a time here, or elsewhere."""
    n_jobs = OmegaConf.select(OmegaConf.create(launcher or {}), "n_jobs")
    if not isinstance(n_jobs, int) or n_jobs == 0:
        return None
    if cores is None:
        from joblib import cpu_count  # joblib's own count (CPU affinity, a container's quota) sizes its n_jobs=-1

        cores = cpu_count()
    at_once = n_jobs if n_jobs > 0 else max(cores + 1 + n_jobs, 1)  # joblib: -1 is every core, -2 all but one, ...
    return max(1, cores // at_once)


def check_objective(cfg: DictConfig) -> None:
    """Before any training: an objective needs the final evaluation, of one run."""
    objective = cfg.get("objective")
    if objective is None:
        return
    if OmegaConf.select(cfg, "eval.n") == 0:
        raise UserError(f"objective={objective} is a final metric, but eval.n=0 skips the final evaluation. Give eval.n a number of samples, e.g. eval.n=10000.")
    population = cfg.get("population")
    if isinstance(population, int) and population > 1:
        raise UserError(f"objective={objective} scores one run, but population={population} trains several at once. Drop population= from the study.")


def worst(direction: Any) -> float:
    """The value of a trial that has no result (it diverged): +inf when the study minimises, -inf when it
    maximises. Optuna takes infinities as values, and ranks them last."""
    name = str(getattr(direction, "name", direction)).lower()
    if name not in ("minimize", "maximize"):
        raise UserError(f"hydra.sweeper.direction={name} is not allowed: gan train optimises one objective, so give minimize or maximize.")
    return math.inf if name == "minimize" else -math.inf


def objective_value(metrics: dict[str, Any], objective: str, direction: Any) -> float:
    """The number of metrics.json that `objective` names (eval.w1, ...), or the worst value when the run has none:
    a diverged (or stopped) run has no final evaluation, and a G gone non-finite scores NaN."""
    bad = worst(direction)
    if metrics["status"] != "completed":
        return bad
    value: Any = metrics
    for part in objective.split("."):
        if not isinstance(value, dict) or part not in value:
            numbers = ", ".join(f"eval.{k}" for k in metric_numbers(metrics.get("eval", {}), flags=False))
            raise UserError(
                f"objective={objective} is not a number of this run's metrics.json; this data set's final metrics are: "
                f"{numbers or 'none (eval.n=0 skips the final evaluation)'}. Choose one of them: objective=eval.NAME."
            )
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"objective={objective} is {value!r}, not a number; choose a numeric metric, e.g. objective=eval.w1.")
    return float(value) if math.isfinite(value) else bad


def best_trial(sweep_dir: Path) -> dict[str, Any] | None:
    """The study's best trial from the Optuna sweeper's results: its value, its parameters, and when its run folder
    is found, the folder and the `gan train` command that reruns it; None when the folder holds no study's results."""
    path = sweep_dir / RESULTS
    if not path.is_file():
        return None
    results = OmegaConf.to_container(OmegaConf.load(path))
    assert isinstance(results, dict)
    if "best_params" not in results:  # a multi-objective study: a Pareto front, not one best trial
        return None
    params = {str(k): v for k, v in results["best_params"].items()}
    # The sweeper passed each trial its parameters as name=value; the trial whose overrides hold all of them is the best.
    wanted = {f"{k}={v}" for k, v in params.items()}
    folder, overrides = None, []
    for metrics_file in sorted(sweep_dir.glob("*/metrics.json")):
        try:
            run = OmegaConf.to_container(OmegaConf.load(metrics_file))  # JSON is YAML
        except Exception:  # noqa: BLE001 - an unreadable run is not the best one
            continue
        if isinstance(run, dict) and wanted <= set(run.get("overrides", [])):
            folder, overrides = metrics_file.parent, list(run["overrides"])
            break
    objective = OmegaConf.select(OmegaConf.load(folder / ".hydra" / "config.yaml"), "objective") if folder and (folder / ".hydra" / "config.yaml").is_file() else None
    return {
        "objective": objective or "objective",
        "value": results["best_value"],
        "params": params,
        "folder": folder,
        "command": shlex.join(["gan", "train", *overrides]) if folder else None,
    }


def show_best(sweep_dir: Path) -> None:
    """Print the study's best trial and the command that reruns it, if `sweep_dir` holds a study's results."""
    best = best_trial(sweep_dir)
    if best is None:
        return
    if best["folder"] is None:  # its folder is elsewhere: the parameters alone would not rerun it
        found = f"{best['objective']} = {best['value']:.6g}, with " + " ".join(f"{k}={v}" for k, v in best["params"].items())
        console.print(f"[bold]best trial[/]: {escape(found)} (its run folder is not in {escape(str(sweep_dir))})")
        return
    found = f"{best['objective']} = {best['value']:.6g} ({best['folder']})"
    console.print(f"[bold]best trial[/]: {escape(found)}\nrerun it with: {escape(best['command'])}")
