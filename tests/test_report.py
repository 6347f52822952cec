"""`gan report` on real runs: groups by setting, pools seeds, counts outcomes, writes Markdown and CSV."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

import pytest

from gan_cli.report import report, setting
from tests.conftest import QUICK, run_train


def test_report_groups_settings_and_pools_seeds(tmp_path: Path, mnist_root: Path) -> None:
    sweep = tmp_path / "sweep"
    evals = {}
    for d_steps in (1, 2):
        for seed in (0, 1):
            overrides = [f"d_steps={d_steps}", f"seed={seed}", *QUICK]
            evals[(d_steps, seed)] = run_train(overrides, sweep / f"d_steps={d_steps},seed={seed}")["eval"]
    diverging = ["data=mnist", "model=mlp", f"data.root={mnist_root}", "data.download=false", "optim.d.lr=1e30", "steps=3", *QUICK[1:]]
    run_train(diverging, sweep / "diverging")

    rows = {row["setting"]: row for row in report(sweep)}
    assert len(rows) == 3  # two d_steps settings (seeds pooled) and the diverging one
    assert all("seed=" not in key and "data.root" not in key and "device" not in key for key in rows)
    by_d = {d: next(r for k, r in rows.items() if f"d_steps={d}," in k) for d in (1, 2)}
    for d, row in by_d.items():
        w1 = [evals[(d, s)]["w1"] for s in (0, 1)]
        assert row["runs"] == 2 and row["diverged"] == 0
        assert row["w1_mean"] == pytest.approx(statistics.fmean(w1))
        assert row["w1_std"] == pytest.approx(statistics.stdev(w1))
        assert row["succeeded"] == sum(evals[(d, s)]["success"] for s in (0, 1))
    diverged = next(r for k, r in rows.items() if "optim.d.lr=1e30" in k)
    assert diverged["runs"] == 1 and diverged["diverged"] == 1

    with open(sweep / "report.csv") as f:
        written = list(csv.DictReader(f))
    assert len(written) == 3 and float(written[0]["w1_mean"]) > 0
    assert "± " in (sweep / "report.md").read_text()


def test_setting_ignores_seed_paths_and_hydra_keys() -> None:
    run = {"choices": {"data": "mnist", "model": "dcgan", "loss": "nonsat", "device": "cpu"}, "overrides": ["seed=3", "data.root=/x", "hydra.run.dir=y", "threads=2", "+loss.extra=1", "steps=9"]}
    assert setting(run) == "data=mnist,loss=nonsat,loss.extra=1,model=dcgan,steps=9"


def test_report_of_gan_eval_results_uses_them_and_says_which_runs_lack_them(tmp_path: Path, mnist_root: Path) -> None:
    from gan_cli.evaluate import evaluate
    from tests.commands import assert_clean_error, gan
    from tests.conftest import compose_config

    sweep = tmp_path / "sweep"
    for seed in (0, 1):
        run_train([f"seed={seed}", *QUICK], sweep / f"seed={seed}")
    run_train(["seed=2", *QUICK], sweep / "seed=2,+reg=[ema]")  # brackets in a folder name are not rich markup
    run_train(["data=mnist", "model=mlp", f"data.root={mnist_root}", "data.download=false", "optim.d.lr=1e30", "steps=3", *QUICK[1:]], sweep / "diverging")
    pooled = {}
    for seed in (0, 1):  # seed 2 is left without its gan eval result
        cfg, _ = compose_config("eval", [f"ckpt='{sweep / f'seed={seed}'}'", "n=300", "draws=2", "device=cpu"])
        pooled[seed] = evaluate(cfg, sweep / f"seed={seed}" / "eval_draws2")["eval"]

    done = gan("report", str(sweep), "--eval", "eval_draws2")
    out = " ".join(done.stdout.split())
    assert "skipped" in out and "seed=2,+reg=[ema]: no readable eval.json in eval_draws2/" in out and "gan eval ckpt=" in out
    with open(sweep / "report_eval_draws2.csv") as f:
        rows = {row["setting"]: row for row in csv.DictReader(f)}
    gaussian = next(r for k, r in rows.items() if "data=gaussian" in k)
    assert gaussian["runs"] == "2"  # seeds 0 and 1; seed 2 skipped, not mixed in with its own single draw
    assert float(gaussian["w1_mean"]) == pytest.approx(statistics.fmean(pooled[s]["w1"] for s in (0, 1)))
    assert next(r for k, r in rows.items() if "optim.d.lr=1e30" in k)["diverged"] == "1"  # no G, still counted
    assert "from each run's eval_draws2/eval.json" in (sweep / "report_eval_draws2.md").read_text()
    assert not (sweep / "report.md").exists()  # the runs' own report is a separate file

    report(sweep)
    assert "own final evaluation" in (sweep / "report.md").read_text()
    assert_clean_error(gan("report", str(sweep), "--eval", "nowhere", status=None), "has nowhere/eval.json: run gan eval on each")
