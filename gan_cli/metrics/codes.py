"""How well InfoGAN's codes are recovered from G's samples (Chen et al. 2016, section 7).

A categorical code has no names of its own: code 3 may draw sevens. Its error is that of the best one-to-one
matching of code values to the data's classes (as read by the data set's own judge), the unsupervised
clustering error the paper reports (5% on MNIST). A continuous code is read back by Q; its score is the
Pearson correlation between the code given to G and the mean Q reads from G's sample.
"""

from __future__ import annotations

import torch


def matching_error(codes: torch.Tensor, classes: torch.Tensor, n_codes: int, n_classes: int) -> float:
    """The share of samples whose class is not the one matched to their code, under the one-to-one matching of
    code values to classes that makes it smallest (codes or classes left unmatched count as errors)."""
    from scipy.optimize import linear_sum_assignment  # lazily: scipy costs every command its import time

    counts = torch.zeros(n_codes, n_classes, dtype=torch.long)
    counts.index_put_((codes.cpu().long(), classes.cpu().long()), torch.ones(len(codes), dtype=torch.long), accumulate=True)
    rows, cols = linear_sum_assignment(counts.numpy(), maximize=True)
    return 1.0 - counts[rows, cols].sum().item() / max(len(codes), 1)


def correlations(given: torch.Tensor, read: torch.Tensor) -> list[float]:
    """Pearson's r between each column of `given` (n, K) and of `read` (n, K); 0 where either column is constant."""
    a, b = given.double() - given.double().mean(0), read.double() - read.double().mean(0)
    scale = (a.square().sum(0) * b.square().sum(0)).sqrt()
    r = (a * b).sum(0) / scale.clamp_min(1e-300)
    return [float(v) if s > 0 else 0.0 for v, s in zip(r.tolist(), scale.tolist())]
