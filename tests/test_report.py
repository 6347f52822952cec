"""`gan report` on real runs: groups by setting, pools seeds, counts outcomes, writes Markdown and CSV."""

from __future__ import annotations

import csv
import io
import json
import statistics
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from gan_cli.report import report, setting, terminal_table, wilson
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
        assert row["success_rate"] == row["succeeded"] / 2
    diverged = next(r for k, r in rows.items() if "optim.d.lr=1e30" in k)
    assert diverged["runs"] == 1 and diverged["diverged"] == 1
    assert diverged["success_rate"] == 0 and diverged["success_judged"] == 1  # a diverged run is a failed run

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


# Expected values from the formula by hand (z = 1.96, z² = 3.8416):
#   centre = (p + z²/2n) / (1 + z²/n),  half = z / (1 + z²/n) · sqrt(p(1-p)/n + z²/4n²)
#   16/20: centre = 0.89604 / 1.19208 = 0.75166, half = 1.96 · sqrt(0.008 + 0.002401) / 1.19208 = 0.16768
#          -> [0.58398, 0.91935]
#   0/10:  centre = 0.19208 / 1.38416 = 0.13877 = half -> [0, 0.27754]; 10/10 is its mirror: [0.72246, 1]
#   3/5:   centre = 0.98416 / 1.76832 = 0.55655, half = 1.96 · sqrt(0.048 + 0.038416) / 1.76832 = 0.32583
#          -> [0.23072, 0.88238]
#   0/2:   centre = 0.9604 / 2.9208 = 0.32881 = half -> [0, 0.65763]
@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [(16, 20, 0.58398, 0.91935), (0, 10, 0.0, 0.27754), (10, 10, 0.72246, 1.0), (3, 5, 0.23072, 0.88238), (0, 2, 0.0, 0.65763)],
)
def test_wilson_interval_matches_the_formula_worked_by_hand(k: int, n: int, low: float, high: float) -> None:
    assert wilson(k, n) == pytest.approx((low, high), abs=2e-5)  # five hand-rounded decimals


def test_wilson_interval_holds_the_rate_and_stays_inside_0_1() -> None:
    # At k=0 and k=n the bounds are 0 and 1 only up to float round-off (0/1 gives -5.6e-17, 6/6 0.9999999999999999).
    for n in range(1, 51):
        for k in range(n + 1):
            low, high = wilson(k, n)
            assert 0.0 <= low <= k / n <= high <= 1.0


def write_run(folder: Path, status: str, evaluation: dict[str, Any], data: str, seed: int) -> None:
    """A metrics.json as gan train writes it, with only the keys gan report reads."""
    folder.mkdir(parents=True)
    record = {"status": status, "seed": seed, "choices": {"data": data, "model": "mlp", "loss": "nonsat"}, "overrides": [f"data={data}", f"seed={seed}"], "eval": evaluation}
    (folder / "metrics.json").write_text(json.dumps(record))


def test_report_gives_each_setting_its_success_rate_with_a_wilson_interval(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    # gaussian: 3 succeeded, 1 failed, 1 diverged (a failure: 3/5), 1 stopped early (no outcome yet, left out)
    for seed, success in enumerate([True, True, True, False]):
        write_run(sweep / f"gaussian{seed}", "completed", {"w1": 0.1 + seed, "success": success}, "gaussian", seed)
    write_run(sweep / "gaussian4", "diverged", {}, "gaussian", 4)
    write_run(sweep / "gaussian5", "interrupted", {}, "gaussian", 5)
    # mixture: every run diverged: 0 of 2 succeeded, however the data set judges success
    for seed in (0, 1):
        write_run(sweep / f"mixture{seed}", "diverged", {}, "mixture", seed)
    # a data set without a success criterion: its evaluations carry no success key, so no rate, not even 0/1 from its diverged run
    for seed in (0, 1):
        write_run(sweep / f"nocriterion{seed}", "completed", {"fd": 7.0 + seed, "collapsed": False}, "nocriterion", seed)
    write_run(sweep / "nocriterion2", "diverged", {}, "nocriterion", 2)

    rows = {row["setting"].split(",")[0]: row for row in report(sweep)}
    assert [rows[d]["runs"] for d in ("data=gaussian", "data=mixture", "data=nocriterion")] == [6, 2, 3]

    md = (sweep / "report.md").read_text()
    assert "| setting | runs | succeeded | diverged | collapsed | success (95% CI) |" in md
    assert "| 3 | 1 | 0 | 3/5 = 60% [23%, 88%] |" in md
    assert "| 0 | 2 | 0 | 0/2 = 0% [0%, 66%] |" in md
    assert "| 0 | 1 | 0 | - |" in md
    with open(sweep / "report.csv") as f:
        written = {row["setting"].split(",")[0]: row for row in csv.DictReader(f)}
    gaussian = written["data=gaussian"]
    assert [float(gaussian[c]) for c in ("success_rate", "success_ci_low", "success_ci_high")] == pytest.approx([0.6, 0.23072, 0.88238], abs=2e-5)
    assert float(written["data=mixture"]["success_ci_high"]) == pytest.approx(0.65763, abs=2e-5)
    assert [written["data=nocriterion"][c] for c in ("success_rate", "success_ci_low", "success_ci_high")] == ["", "", ""]

    shown = Console(width=250, record=True, file=io.StringIO())  # wide: no cell folded across lines
    shown.print(terminal_table(list(rows.values()), sweep))
    text = shown.export_text()
    assert "success (95% CI)" in text and "3/5 = 60% [23%, 88%]" in text and "0/2 = 0% [0%, 66%]" in text
