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
    """Moments, W1 and KS of `samples` (any shape, flattened) against the frozen scipy distribution `dist`."""
    import scipy.stats  # here, not with the module: the data set that imports this may never be evaluated

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
        skew = float(scipy.stats.skew(x, bias=False))
        kurt = float(scipy.stats.kurtosis(x, fisher=True, bias=False))
    success = bool(abs(mean - t_mean) < mean_tol and abs(std - target["target_std"]) < std_tol)
    return {"n": len(x), "mean": mean, "std": std, "skewness": skew, "excess_kurtosis": kurt} | target | {
        "w1": _w1(x, dist),
        "ks": float(scipy.stats.kstest(x, dist.cdf).statistic),
        "success": success,
    }


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
