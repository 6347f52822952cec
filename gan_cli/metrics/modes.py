"""Mode-collapse metrics for mixtures of Gaussians with known centres (Metz et al. 2017; Srivastava et al. 2017).

A sample is high quality when it lies within `n_sigmas` standard deviations of its nearest centre;
a mode is covered when at least `min_share` of its uniform share of all samples is high quality and
nearest to it. KL(mode histogram || uniform) is 0 when G spreads its good samples evenly.
"""

from __future__ import annotations

import math
from typing import Any

import torch


def mode_metrics(samples: torch.Tensor, centers: torch.Tensor, std: float, n_sigmas: float = 3.0, min_share: float = 0.25) -> dict[str, Any]:
    x = samples.detach().double().cpu().flatten(1)  # (n, dim)
    c = centers.double().cpu()  # (K, dim)
    n, k = len(x), len(c)
    finite = torch.isfinite(x).all(1)
    distance, nearest = torch.cdist(x[finite], c).min(1)
    good = distance <= n_sigmas * std
    counts = torch.bincount(nearest[good], minlength=k)  # high-quality samples per mode
    covered = int((counts >= min_share * n / k).sum())
    hq = int(good.sum())
    p = counts.double() / max(hq, 1)
    kl = float((p[p > 0] * (p[p > 0] * k).log()).sum()) if hq else math.inf
    return {
        "n": n,
        "modes": k,
        "modes_covered": covered,
        "high_quality": hq / n,  # share of all samples within n_sigmas of a centre
        "kl_uniform": kl,  # KL(histogram of modes || uniform), over the high-quality samples
        "mode_histogram": counts.tolist(),
        "success": covered == k,
        "collapsed": covered <= k // 2,
    }
