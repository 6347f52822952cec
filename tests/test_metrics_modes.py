"""Mode-collapse metrics against known answers: the target itself, one mode, and junk."""

from __future__ import annotations

import math

import pytest
import torch

from gan_cli.data.mixture import Grid, Line, Ring
from gan_cli.metrics.modes import mode_metrics


@pytest.mark.parametrize("data", [Ring(), Grid(), Line()], ids=["ring", "grid", "line"])
def test_samples_of_the_target_cover_every_mode(data) -> None:
    m = data.evaluate(data.sample(20000, torch.Generator().manual_seed(0)))
    dim = data.sample_shape[0]
    # P(within 3 std) of a Gaussian: 0.9973 in 1-D, 1 - exp(-4.5) = 0.9889 in 2-D
    assert m["high_quality"] == pytest.approx(0.9973 if dim == 1 else 1 - math.exp(-4.5), abs=0.005)  # sd 0.0007 at n=20000; seeds 0-2 read at most 0.001 off
    assert m["modes_covered"] == m["modes"] == len(data.centers) and m["success"] and not m["collapsed"]
    assert m["kl_uniform"] < 0.01  # about (modes - 1) / 2n = 0.0002; seeds 0-2 read at most 0.0009


def test_one_mode_is_collapse() -> None:
    ring = Ring()
    one = ring.centers[3] + ring.std * torch.randn(5000, 2)
    m = ring.evaluate(one)
    assert m["modes_covered"] == 1 and m["collapsed"] and not m["success"]
    assert m["kl_uniform"] == pytest.approx(math.log(8))  # all mass on one of 8 modes
    assert m["mode_histogram"][3] == sum(m["mode_histogram"])


def test_samples_between_modes_are_low_quality() -> None:
    ring = Ring()
    between = torch.zeros(1000, 2)  # the centre of the ring: far from every mode
    m = ring.evaluate(between)
    assert m["high_quality"] == 0 and m["modes_covered"] == 0 and m["kl_uniform"] == math.inf
    nan = mode_metrics(torch.full((10, 2), float("nan")), ring.centers, ring.std)
    assert nan["high_quality"] == 0 and nan["modes_covered"] == 0


def test_a_mode_needs_its_share() -> None:
    ring = Ring()
    x = torch.cat([ring.centers[i].expand(1000, 2) for i in range(7)] + [ring.centers[7].expand(20, 2)])
    assert ring.evaluate(x)["modes_covered"] == 7  # 20 of 7020 samples is under a quarter of 1/8


@pytest.mark.parametrize("data", ["ring2d", "grid2d", "gaussian_mixture_1d"])
def test_a_run_logs_scatter_plots_and_mode_metrics(data: str, tmp_path) -> None:
    from tests.conftest import run_train
    from tests.tb import events
    from tests.test_sample import run_sample

    few = ["steps=4", "batch_size=16", "log_every=2", "sample_every=2", "eval.every=2", "eval.n=500", "eval.n_during=200", "preview_n=100", "device=cpu"]
    metrics = run_train([f"data={data}", *few], tmp_path / "run")
    assert {"modes_covered", "high_quality", "kl_uniform", "mode_histogram"} <= set(metrics["eval"])
    acc = events(tmp_path / "run" / "tb")
    assert [i.step for i in acc.Images("samples")] == [2, 4]  # the scatter (or density) figure
    assert [p.step for p in acc.Scalars("eval/high_quality")] == [2, 4]
    result = run_sample(tmp_path / "out", ckpt=tmp_path / "run", n=300)
    assert (tmp_path / "out" / "samples.png").is_file() and "high quality" in result
    assert len((tmp_path / "out" / "samples.txt").read_text().splitlines()) == 301  # a header line, then one per sample
