"""Sweeps on Hydra's plugins (the sweep extra): jobs in parallel (joblib), as cluster jobs (submitit, run locally),
and Optuna studies; each job a complete run folder that `gan report` reads, as with the basic launcher."""

from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from gan_cli import sweep
from gan_cli.errors import UserError
from tests.commands import ENV, gan, run_cli
from tests.conftest import QUICK

TINY = [*QUICK, "steps=4"]


def read_metrics(job: Path) -> dict:
    return json.loads((job / "metrics.json").read_text())


def assert_complete(job: Path, step: int = 4) -> dict:
    """A job folder as the basic launcher leaves it: checkpoint, TensorBoard events, config and metrics."""
    assert (job / "checkpoints" / "last.pt").is_file(), sorted(p.name for p in job.parent.iterdir())
    assert list((job / "tb").glob("events.out.tfevents.*"))
    assert (job / ".hydra" / "config.yaml").is_file()
    metrics = read_metrics(job)
    assert metrics["status"] == "completed" and metrics["step"] == step
    return metrics


@pytest.mark.parametrize(
    ("n_jobs", "cores", "threads"),
    [(-1, 2, 1), (-1, 64, 1), (2, 64, 32), (3, 64, 21), (-2, 64, 1), (-33, 64, 2), (8, 2, 1)],
)
def test_parallel_jobs_share_the_cores(n_jobs: int, cores: int, threads: int) -> None:
    assert sweep.job_threads({"n_jobs": n_jobs}, cores=cores) == threads
    at_once = n_jobs if n_jobs > 0 else cores + 1 + n_jobs  # joblib's reading of n_jobs
    assert at_once * threads <= cores or threads == 1  # more jobs than cores: one thread each, the least there is


def test_launchers_that_run_one_job_here_leave_threads_alone() -> None:
    assert sweep.job_threads({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}, cores=8) is None
    assert sweep.job_threads({"timeout_min": 60, "gpus_per_node": 1}, cores=8) is None  # submitit


def test_a_trial_without_a_result_scores_the_worst_value() -> None:
    completed = {"status": "completed", "eval": {"w1": 0.25, "ks": 0.1, "success": True, "n": 500}}
    assert sweep.objective_value(completed, "eval.w1", "minimize") == 0.25
    diverged = {"status": "diverged", "eval": {}}
    assert sweep.objective_value(diverged, "eval.w1", "minimize") == math.inf
    assert sweep.objective_value(diverged, "eval.high_quality", "maximize") == -math.inf
    non_finite = {"status": "completed", "eval": {"w1": math.nan}}
    assert sweep.objective_value(non_finite, "eval.w1", "minimize") == math.inf
    with pytest.raises(UserError, match=r"objective=eval.fd is not a number of this run's metrics.json; .* are: eval.w1, eval.ks\. "):
        sweep.objective_value(completed, "eval.fd", "minimize")
    with pytest.raises(UserError, match="not a number"):
        sweep.objective_value(completed, "eval.success", "maximize")
    with pytest.raises(UserError, match="give minimize or maximize"):
        sweep.worst(["minimize", "maximize"])


def test_joblib_runs_the_jobs_side_by_side_each_a_complete_run(tmp_path: Path) -> None:
    folder = tmp_path / "sweep"
    # threads=null: the 1-D toy's own threads=1 would otherwise decide
    gan("train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1", "threads=null", *TINY, f"hydra.sweep.dir={folder}")
    for seed in (0, 1):
        metrics = assert_complete(folder / f"seed={seed}")  # named after the swept keys, as the basic launcher names them
        assert metrics["seed"] == seed and metrics["threads"] == sweep.job_threads({"n_jobs": 2})
    status, text = run_cli(["report", str(folder)])
    assert status == 0 and "| 2 |" in (folder / "report.md").read_text(), text  # one setting, two runs


def test_submitit_local_runs_the_cluster_path_and_a_stopped_job_continues(tmp_path: Path) -> None:
    folder = tmp_path / "sweep"
    # Each job a subprocess started by submitit, as SLURM would start it; resume=auto starts afresh the first time.
    launcher = ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5", "resume=auto", f"hydra.sweep.dir={folder}"]
    status, text = run_cli(["train", "-m", *launcher, "seed=0,1", *TINY])
    assert status == 0, text
    for seed in (0, 1):
        assert assert_complete(folder / f"seed={seed}")["resumed_from"] is None
    assert list((folder / ".submitit").iterdir())  # submitit's own logs, beside the jobs
    # A job again, as a cluster requeues it (a sweep of one value keeps its folder's name): it continues from its
    # own last checkpoint.
    status, text = run_cli(["train", "-m", *launcher, "seed=choice(1)", *TINY[:-1], "steps=6"])
    metrics = assert_complete(folder / "seed=1", step=6)
    assert status == 0 and metrics["resumed_from"] == str(folder / "seed=1" / "checkpoints" / "last.pt"), text
    status, text = run_cli(["report", str(folder)])
    with open(folder / "report.csv") as f:
        assert status == 0 and sum(int(row["runs"]) for row in csv.DictReader(f)) == 2, text


def test_an_optuna_study_of_the_1d_toy_prints_a_best_trial_that_reruns(tmp_path: Path) -> None:
    folder = tmp_path / "study"
    status, text = run_cli(["train", "-m", "hparams_search=one_d", "hydra.sweeper.n_trials=4", *TINY, f"hydra.sweep.dir={folder}"])
    assert status == 0, text
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["trial0", "trial1", "trial2", "trial3"]
    results = OmegaConf.load(folder / "optimization_results.yaml")
    values = {p.name: read_metrics(p)["eval"]["w1"] for p in folder.glob("trial*")}
    assert results.best_value == min(values.values())
    assert set(results.best_params) == {"optim.g.lr", "optim.d.lr", "d_steps"}  # batch_size is fixed on this command line
    best = min(values, key=values.get)
    assert f"best trial: eval.w1 = {results.best_value:.6g} ({folder / best})" in " ".join(text.split())
    [command] = [line.removeprefix("rerun it with: ") for line in text.splitlines() if line.startswith("rerun it with: gan train ")]
    assert "hparams_search=one_d" in command and f"optim.g.lr={results.best_params['optim.g.lr']}" in command
    # gan report reads the trials' folders, and says the same
    status, text = run_cli(["report", str(folder)])
    assert status == 0 and command in text, text
    # The command reruns the best trial: on CPU, the same numbers.
    args = command.split()[1:]  # no quoting needed: these values hold no spaces
    status, text = run_cli([*args, f"hydra.run.dir={tmp_path / 'rerun'}"])
    assert status == 0 and read_metrics(tmp_path / "rerun")["eval"]["w1"] == results.best_value, text


def test_a_diverged_trial_scores_the_worst_value_and_the_study_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "study"
    # The grid sampler tries both rates; Optuna's sweeper stops at any trial that returns no number (max_failure_rate=0).
    args = ["train", "-m", "hydra/sweeper=optuna", "hydra/sweeper/sampler=grid", "objective=eval.w1", "optim.d.lr=choice(1e30,4e-3)"]
    status, text = run_cli([*args, *TINY, f"hydra.sweep.dir={folder}"])
    assert status == 0, text
    statuses = {p.name: read_metrics(p)["status"] for p in folder.iterdir() if p.is_dir()}
    assert statuses == {"optim.d.lr=1e+30": "diverged", "optim.d.lr=0.004": "completed"}
    results = OmegaConf.load(folder / "optimization_results.yaml")
    assert results.best_params == {"optim.d.lr": 0.004} and math.isfinite(results.best_value)


def test_study_mistakes_end_in_one_paragraph(tmp_path: Path) -> None:
    tiny = [a for a in TINY if not a.startswith("eval.n=")]
    status, text = run_cli(["train", "-m", "hparams_search=one_d", "eval.n=0", *tiny, f"hydra.sweep.dir={tmp_path}"])
    assert status == 2 and "eval.n=0 skips the final evaluation" in text and "Traceback" not in text, text
    status, text = run_cli(["train", "-m", "hydra/sweeper=optuna", "objective=w1", *TINY, f"hydra.sweep.dir={tmp_path}"])
    assert status == 2 and "objective='w1' is not allowed: objective must be null or a final metric, eval.NAME" in " ".join(text.split()), text


@pytest.mark.skipif(shutil.which("sbatch") is not None, reason="SLURM is here: the launcher would submit jobs")
def test_the_slurm_launcher_without_slurm_says_what_to_do(tmp_path: Path) -> None:
    status, text = run_cli(["train", "-m", "hydra/launcher=slurm", "seed=0,1", *TINY, f"hydra.sweep.dir={tmp_path}"])
    assert status == 2 and "sbatch, which is not on this machine's PATH" in text and "hydra/launcher=submitit_local" in text, text
    assert not list(tmp_path.iterdir())


def test_the_slurm_presets_are_the_plugins_config_with_ours_on_top() -> None:
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module("gan_cli.conf", version_base="1.3"):
        launcher = compose("train", overrides=["hydra/launcher=slurm", "hydra.launcher.gpus_per_node=2"], return_hydra_config=True).hydra.launcher
    GlobalHydra.instance().clear()
    assert launcher._target_.endswith("SlurmLauncher") and launcher.gpus_per_node == 2 and launcher.mem_gb == 16
    assert launcher.max_num_timeout > 0 and launcher.partition is None  # the plugin's own keys are all there


def test_without_the_sweep_extra_the_message_says_how_to_install_it() -> None:
    # Hydra finds its plugins in the hydra_plugins namespace; with that emptied, this is an install without the extra.
    script = (
        "import hydra_plugins; hydra_plugins.__path__ = []\n"
        "from tests.commands import run_cli\n"
        "for args in (['hydra/launcher=joblib', 'seed=0,1'], ['hparams_search=one_d']):\n"
        "    status, text = run_cli(['train', '-m', *args]); print(status); print(text)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[1])
    out = " ".join(done.stdout.split())
    assert done.returncode == 0 and "Traceback" not in out, done.stdout + done.stderr
    assert "hydra/launcher=joblib comes with gan-cli's sweep extra (hydra-joblib-launcher), which is not installed here" in out
    assert "hydra/sweeper=optuna comes with gan-cli's sweep extra (hydra-optuna-sweeper)" in out
    assert out.count("pip install 'gan-cli[sweep]'") == 2
