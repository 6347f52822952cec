"""Exact metrics for 1-D samples of G: the first four moments tell a Gaussian from a look-alike
with the same mean and std; W1 and KS measure the whole shape against the target distribution."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(8)
_TAILS = np.logspace(-15, -1, 15)  # probabilities that cut the target's tails into short pieces


def one_d_metrics(samples: np.ndarray | torch.Tensor, dist: Any, mean_tol: float = 0.1, std_tol: float = 0.1) -> dict[str, float | bool | int]:
    """Moments, W1 and KS of `samples` (any shape, flattened) against `dist`: a frozen scipy.stats distribution, or
    anything with its cdf, ppf, isf, support and stats (the Gaussian's gan_cli.data.gaussian.Normal)."""
    if isinstance(samples, torch.Tensor):
        samples = samples.detach().cpu().double().numpy()
    x = np.sort(np.asarray(samples, dtype=np.float64).ravel())
    if not len(x):
        raise ValueError("one_d_metrics needs at least one sample.")
    t_mean, t_var, t_skew, t_kurt = (float(v) for v in dist.stats(moments="mvsk"))
    target = {"target_mean": t_mean, "target_std": t_var**0.5, "target_skewness": t_skew, "target_excess_kurtosis": t_kurt}
    if not np.isfinite(x).all():  # a diverged G: report it, don't crash the run that measures it
        nan = float("nan")
        return {"n": len(x), "mean": nan, "std": nan, "skewness": nan, "excess_kurtosis": nan} | target | {"w1": nan, "ks": nan, "success": False}
    with np.errstate(all="ignore"), warnings.catch_warnings():  # a collapsed G or < 4 samples: nan moments, no noise
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = float(x.mean())
        std = float(x.std(ddof=1)) if len(x) > 1 else float("nan")
        skew, kurt = skewness(x), excess_kurtosis(x)
    success = bool(abs(mean - t_mean) < mean_tol and abs(std - target["target_std"]) < std_tol)
    return {"n": len(x), "mean": mean, "std": std, "skewness": skew, "excess_kurtosis": kurt} | target | {
        "w1": _w1(x, dist),
        "ks": ks_statistic(x, dist.cdf),
        "success": success,
    }


# Skewness, kurtosis and KS as scipy.stats computes them (skew and kurtosis with bias=False, kstest's statistic), to the
# bit: importing scipy.stats for these three would cost every run 0.7 s of its start-up. tests/test_metrics_one_d.py
# holds them to scipy's numbers.


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x's mean and its 2nd, 3rd and 4th central moments, each power formed as scipy forms it (d², d²·d, (d²)²)."""
    mean = x.mean(keepdims=True)
    d = x - mean
    d2 = d**2
    return mean[0], d2.mean(), (d2 * d).mean(), (d2**2).mean()


def _spread_is_zero(m2: np.ndarray, mean: np.ndarray) -> bool:
    # scipy's test: a variance within rounding of 0, relative to the mean, leaves the shape undefined (nan)
    return bool(m2 <= (np.finfo(np.float64).eps * mean) ** 2)


def skewness(x: np.ndarray) -> float:
    """The bias-corrected sample skewness G1 of a 1-D float64 array (scipy.stats.skew(x, bias=False))."""
    n = len(x)
    mean, m2, m3, _ = _moments(x)
    if _spread_is_zero(m2, mean):
        return float("nan")
    if n <= 2:  # too few samples to correct: scipy gives the biased value
        return float(m3 / m2**1.5)
    return float(((n - 1.0) * n) ** 0.5 / (n - 2.0) * m3 / m2**1.5)


def excess_kurtosis(x: np.ndarray) -> float:
    """The bias-corrected sample excess kurtosis G2 of a 1-D float64 array (scipy.stats.kurtosis(x, bias=False))."""
    n = len(x)
    mean, m2, _, m4 = _moments(x)
    if _spread_is_zero(m2, mean):
        return float("nan")
    if n <= 3:  # too few samples to correct: scipy gives the biased value
        return float(m4 / m2**2.0 - 3)
    return float(1.0 / (n - 2) / (n - 3) * ((n**2 - 1.0) * m4 / m2**2.0 - 3 * (n - 1) ** 2.0) + 3.0 - 3)


def ks_statistic(x: np.ndarray, cdf: Any) -> float:
    """sup |F_n - F| for sorted x: the Kolmogorov-Smirnov statistic (scipy.stats.kstest(x, cdf).statistic)."""
    n = len(x)
    f = cdf(x)
    above = (np.arange(1.0, n + 1) / n - f).max()  # F_n just after each sample over F
    below = (f - np.arange(0.0, n) / n).max()  # F over F_n just before each sample
    return float(above if above > below else below)


def _w1(x: np.ndarray, dist: Any) -> float:
    # W1 = ∫|F_n - F| dx over the line. We cut it at the samples (where F_n jumps), at F's crossings of the levels
    # k/n (so F_n - F keeps one sign on each piece), at the support's ends and at tail quantiles (so no piece is long
    # where F still bends): |F_n - F| is then smooth on every piece, and 8-point Gauss-Legendre integrates it to
    # rounding error. Outside [x_1, x_n] F_n is 0 or 1, and the pieces run on to the target's 1e-15 quantiles;
    # beyond those |F_n - F| is a tail mass under 1e-15, whose integral (about 1e-16 of the scale) is left out.
    n = len(x)
    with np.errstate(all="ignore"):
        tails = np.concatenate([dist.ppf(_TAILS), dist.isf(_TAILS), dist.support()])
        cuts = np.concatenate([x, dist.ppf(np.arange(1, n) / n), tails])
    tails = tails[np.isfinite(tails)]
    lo, hi = min(x[0], tails.min()), max(x[-1], tails.max())
    cuts = np.unique(np.clip(cuts[np.isfinite(cuts)], lo, hi))
    a, b = cuts[:-1], cuts[1:]
    f_n = np.searchsorted(x, (a + b) / 2, side="right") / n  # F_n is constant on each piece
    xs = (a + b)[:, None] / 2 + (b - a)[:, None] / 2 * _NODES
    return float(((b - a) / 2 * (np.abs(f_n[:, None] - dist.cdf(xs)) @ _WEIGHTS)).sum())
