"""Known answers for the exact 1-D metrics: each number here is computable by hand or by theory."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.stats
import torch

from gan_cli.data.gaussian import Gaussian, Normal
from gan_cli.metrics.one_d import excess_kurtosis, ks_statistic, one_d_metrics, skewness

TARGET = scipy.stats.norm(loc=4.0, scale=1.25)
KEYS = {"n", "mean", "std", "skewness", "excess_kurtosis", "target_mean", "target_std", "target_skewness", "target_excess_kurtosis", "w1", "ks", "success"}


@pytest.fixture(scope="module")
def draws() -> np.ndarray:
    return np.random.default_rng(0).normal(4.0, 1.25, 100_000)


def test_draws_from_the_target_itself_succeed(draws: np.ndarray) -> None:
    m = one_d_metrics(draws, TARGET)
    assert set(m) == KEYS and m["n"] == 100_000
    assert m["success"] is True
    # One seeded numpy draw, alike on every CPU: w1 0.0036, ks 0.0019, skewness -0.005, kurtosis 0.024 (seeds 1-3 at most 0.008, 0.004, 0.014, 0.020)
    assert m["w1"] < 0.02 and m["ks"] < 0.01
    assert abs(m["skewness"]) < 0.05 and abs(m["excess_kurtosis"]) < 0.05
    assert (m["target_mean"], m["target_std"], m["target_skewness"], m["target_excess_kurtosis"]) == pytest.approx((4.0, 1.25, 0.0, 0.0))


def test_shifted_draws_fail_and_w1_sees_the_shift(draws: np.ndarray) -> None:
    m = one_d_metrics(draws + 0.5, TARGET)
    assert m["success"] is False
    assert m["w1"] == pytest.approx(0.5, abs=0.02)  # reads 0.4989 (seeds 1-3: 0.494-0.501)
    assert m["mean"] - m["target_mean"] == pytest.approx(0.5, abs=0.02)


def test_tolerances_are_configurable(draws: np.ndarray) -> None:
    shifted = draws + 0.05  # inside the default 0.1, outside a stricter 0.02
    assert one_d_metrics(shifted, TARGET)["success"] is True
    assert one_d_metrics(shifted, TARGET, mean_tol=0.02)["success"] is False
    assert one_d_metrics(draws * 1.06, TARGET, std_tol=0.05)["success"] is False  # std 1.325 vs 1.25


def test_collapsed_sample() -> None:
    m = one_d_metrics(np.full(1000, 4.0), TARGET)
    assert m["success"] is False and m["std"] == 0.0
    assert m["w1"] == pytest.approx(1.25 * math.sqrt(2 / math.pi), abs=1e-3)  # E|X - 4|
    assert m["ks"] == pytest.approx(0.5)


def test_w1_far_from_the_target() -> None:
    # A G that wandered off: all mass at 104, so W1 = E|X - 104| = 100 exactly.
    assert one_d_metrics(np.array([104.0]), TARGET)["w1"] == pytest.approx(100.0, abs=1e-9)
    assert one_d_metrics(np.array([1e6]), TARGET)["w1"] == pytest.approx(1e6 - 4.0, rel=1e-12)


def test_uniform_look_alike_passes_moments_but_not_shape() -> None:
    half = 1.25 * math.sqrt(3)  # uniform on [4 - half, 4 + half] has mean 4 and std 1.25
    m = one_d_metrics(np.random.default_rng(1).uniform(4 - half, 4 + half, 100_000), TARGET)
    assert m["success"] is True  # mean and std alone cannot tell
    assert m["excess_kurtosis"] == pytest.approx(-1.2, abs=0.05)  # reads -1.2035 (seeds 2-3: -1.203, -1.205)
    assert m["ks"] > 0.04  # sup |F_uniform - F_normal| ≈ 0.057


@pytest.mark.parametrize(("samples", "w1"), [([0.0], 0.5), ([0.25, 0.75], 0.125), ([-1.0, 2.0], 1.25), ([0.5, 0.5], 0.25)])
def test_w1_by_hand_against_uniform(samples: list[float], w1: float) -> None:
    # ∫|F_n - F| with F(x) = x on [0, 1]: e.g. [0.25, 0.75] gives 4 triangles of area 0.25²/2.
    assert one_d_metrics(np.array(samples), scipy.stats.uniform(0, 1))["w1"] == pytest.approx(w1, abs=1e-12)


def test_torch_input_of_any_shape_matches_numpy(draws: np.ndarray) -> None:
    x = draws[:1000]
    assert one_d_metrics(torch.tensor(x, dtype=torch.float64).reshape(-1, 1), TARGET) == one_d_metrics(x, TARGET)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_samples_give_nan_not_an_error(bad: float) -> None:
    m = one_d_metrics(torch.tensor([[3.0], [bad], [5.0]]), TARGET)
    assert set(m) == KEYS and m["n"] == 3 and m["success"] is False
    assert all(math.isnan(m[k]) for k in ("mean", "std", "skewness", "excess_kurtosis", "w1", "ks"))
    assert m["target_mean"] == 4.0  # the target is still known


def test_gaussian_dist() -> None:
    dist = Gaussian(mean=1.0, std=2.0).dist
    assert dist.mean() == pytest.approx(1.0) and dist.std() == pytest.approx(2.0)
    assert dist.cdf(1.0) == pytest.approx(0.5)


SHAPES = {  # samples of every kind the moments meet: plain, tiny, constant, far from 0, tiny spread, heavy tails
    "normal": np.random.default_rng(2).normal(4.0, 1.25, 10_000),
    "three": np.array([3.1, 4.7, 5.2]),
    "four": np.array([3.1, 4.7, 5.2, 2.0]),
    "two": np.array([3.1, 4.7]),
    "one": np.array([4.0]),
    "constant": np.full(100, 4.0),
    "far from 0": np.random.default_rng(3).exponential(2.0, 5_000) + 1e6,
    "tiny spread": np.random.default_rng(4).normal(1.0, 1e-8, 1_000),
    "cauchy": np.random.default_rng(5).standard_cauchy(2_000),
}


@pytest.mark.parametrize("name", SHAPES)
def test_skewness_kurtosis_and_ks_are_scipys_to_the_bit(name: str) -> None:
    """They stand in for scipy.stats' own (importing scipy.stats costs a run 0.7 s), so given the same cdf they must
    agree exactly."""
    x = np.sort(SHAPES[name])
    with np.errstate(all="ignore"), warnings.catch_warnings():  # constant and tiny samples: scipy warns, both give nan
        warnings.simplefilter("ignore", RuntimeWarning)
        ours = (skewness(x), excess_kurtosis(x), ks_statistic(x, TARGET.cdf))
        theirs = (scipy.stats.skew(x, bias=False), scipy.stats.kurtosis(x, fisher=True, bias=False), scipy.stats.kstest(x, TARGET.cdf).statistic)
    assert np.array_equal(np.array(ours), np.array(theirs, dtype=float), equal_nan=True), (ours, theirs)


def test_the_gaussians_normal_is_scipys_norm_to_rounding() -> None:
    """Normal stands in for scipy.stats.norm with torch.special's float64 ndtr and ndtri (importing scipy.special costs
    a run 0.2 s): its cdf agrees to 1e-15, which is what KS and W1 need, and its quantiles to a few ulps."""
    ours = Normal(4.0, 1.25)
    x = np.concatenate([np.random.default_rng(6).normal(4.0, 5.0, 1_000), [np.inf, -np.inf, np.nan, 4.0, 1e300, -1e300]])
    q = np.concatenate([np.logspace(-300, 0, 500), [0.0, 1.0, -0.1, 1.1, np.nan, 0.5]])
    with np.errstate(all="ignore"):  # the density of ±1e300 squares past the largest float in both
        assert np.array_equal(ours.pdf(x), TARGET.pdf(x), equal_nan=True)
        np.testing.assert_allclose(ours.cdf(x), TARGET.cdf(x), rtol=0, atol=1e-15)
        for method in ("ppf", "isf"):
            np.testing.assert_allclose(getattr(ours, method)(q), getattr(TARGET, method)(q), rtol=1e-14, atol=0, err_msg=method)
    for scale in (1.25, 0.1, 3.3, 7.77):
        a, b = Normal(-2.5, scale), scipy.stats.norm(-2.5, scale)
        assert (a.mean(), a.std(), a.support()) == (b.mean(), b.std(), b.support())
        assert a.stats("mvsk") == tuple(float(v) for v in b.stats("mvsk"))
    draws = np.random.default_rng(7).normal(3.9, 1.3, 10_000)
    ours_metrics, theirs = one_d_metrics(draws, ours), one_d_metrics(draws, TARGET)
    assert ours_metrics == pytest.approx(theirs, rel=1e-12, abs=1e-15)  # every metric of a run, to rounding
