"""Sample-quality metrics for generated images, measured in the MNIST classifier's feature space.

The functions on features and probabilities are pure (numpy or torch arrays in, numbers out);
image_metrics() runs the classifier once over both image sets and gathers every number with
its provenance (sample counts, the extractor's sha256, the reference split), since a value
like FD means nothing without them. The real side (RealSide) can be computed once and reused:
a run evaluates against the same 10k test digits at every evaluation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import scipy.special
import torch

from gan_cli.errors import UserError
from gan_cli.eval.classifier import MnistClassifier

ArrayLike = np.ndarray | torch.Tensor


def _as_float64(x: ArrayLike, name: str) -> np.ndarray:
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, D) array, got shape {a.shape}")
    return a.astype(np.float64, copy=False)


def _sqrtm(m: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        # Singular products are the norm here (ReLU units that never fire on real digits have zero
        # variance); scipy warns about them, yet the Schur square root stays accurate, and the
        # non-finite case is handled by the caller.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        return scipy.linalg.sqrtm(m)


def frechet_distance(feat_a: ArrayLike, feat_b: ArrayLike) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017, FID)."""
    a, b = _as_float64(feat_a, "feat_a"), _as_float64(feat_b, "feat_b")
    if a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"need >= 2 samples of the same dimension on each side, got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = _sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():
        # The reference FID code's fallback: nudge both covariances off singularity and try again.
        offset = np.eye(len(cov_a)) * 1e-6
        covmean = _sqrtm((cov_a + offset) @ (cov_b + offset))
    if np.iscomplexobj(covmean):
        # Round-off can leave tiny imaginary parts; large ones mean the result is not to be trusted.
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"sqrtm returned a significant imaginary part ({np.abs(covmean.imag).max():.3g})")
        covmean = covmean.real
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean))


def _cubic_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(x·y/d + 1)³ for every pair of rows: in place, and cubed by two products, because numpy's `** 3` is its
    general power function and took two thirds of an MNIST evaluation's time."""
    k = x @ y.T
    k /= x.shape[1]
    k += 1.0
    return k * k * k


def _within_sum(x: np.ndarray) -> float:
    """Σ k(x_i, x_j) over i ≠ j: unbiased, the diagonal k(x_i, x_i) is left out."""
    k = _cubic_kernel(x, x)
    return float(k.sum() - np.trace(k))


def kid(
    feat_a: ArrayLike, feat_b: ArrayLike, subsets: int = 50, subset_size: int = 1000, seed: int = 0, b_sums: dict | None = None
) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased MMD² with k(x, y) = (x·y/d + 1)³, mean and std over subsets (Bińkowski et al. 2018).

    `b_sums`: a dict kept beside `feat_b` for its within-subset kernel sums, which depend only on feat_b and on the
    subsets drawn (the same for the same sizes and seed): evaluations against the same real features compute
    them once."""
    a, b = _as_float64(feat_a, "feat_a"), _as_float64(feat_b, "feat_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape} and {b.shape}")
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError("KID needs at least 2 samples on each side")
    rng = np.random.default_rng(seed)
    draws = [(rng.choice(len(a), m, replace=False), rng.choice(len(b), m, replace=False)) for _ in range(subsets)]
    key = (len(a), len(b), m, subsets, seed)
    b_sums = {} if b_sums is None else b_sums
    if key not in b_sums:
        b_sums[key] = [_within_sum(b[iy]) for _, iy in draws]
    values = np.array(
        [(_within_sum(a[ix]) + yy) / (m * (m - 1)) - 2 * _cubic_kernel(a[ix], b[iy]).mean() for (ix, iy), yy in zip(draws, b_sums[key])]
    )
    return float(values.mean()), float(values.std())


def classifier_score(probs: ArrayLike) -> float:
    """exp(E_x KL(p(y|x) || p(y))), the Inception Score with another classifier (Salimans et al. 2016); at most the class count."""
    p = _as_float64(probs, "probs")
    p_y = p.mean(0, keepdims=True)
    # xlogy gives 0·log 0 = 0, so confident one-hot predictions are exact rather than NaN.
    kl = (scipy.special.xlogy(p, p) - scipy.special.xlogy(p, p_y)).sum(1)
    return float(np.exp(kl.mean()))


def _kth_neighbour_radii(feat: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    # k + 1: each point's nearest neighbour in its own set is itself, at distance 0.
    return torch.cat([torch.cdist(rows, feat).kthvalue(k + 1, dim=1).values for rows in feat.split(chunk)])


def _inside_manifold(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int) -> float:
    # A point is on the manifold when it lies in the k-NN ball of at least one centre.
    hits = [(torch.cdist(rows, centres) <= radii[None, :]).any(1) for rows in points.split(chunk)]
    return float(torch.cat(hits).double().mean())


def precision_recall(
    real_feat: ArrayLike, fake_feat: ArrayLike, k: int = 3, chunk: int = 1000, real_radii: torch.Tensor | None = None
) -> tuple[float, float]:
    """Improved precision and recall from k-NN radii manifolds (Kynkäänniemi et al. 2019).

    `real_radii`: the real features' k-NN radii when already known (RealSide), as this would compute them."""
    real = torch.as_tensor(_as_float64(real_feat, "real_feat"))
    fake = torch.as_tensor(_as_float64(fake_feat, "fake_feat"))
    if real.shape[1] != fake.shape[1] or min(len(real), len(fake)) <= k:
        raise ValueError(f"need more than k={k} samples of the same dimension on each side, got {tuple(real.shape)} and {tuple(fake.shape)}")
    # Chunks of rows: 10k x 10k float64 distances would be 800 MB at once, 1000 rows are 80 MB.
    radii = _kth_neighbour_radii(real, k, chunk) if real_radii is None else real_radii
    precision = _inside_manifold(fake, real, radii, chunk)
    recall = _inside_manifold(real, fake, _kth_neighbour_radii(fake, k, chunk), chunk)
    return precision, recall


def class_histogram(probs: ArrayLike) -> np.ndarray:
    """How many samples the classifier assigns to each class (argmax), as used for mode counting (Srivastava et al. 2017)."""
    p = _as_float64(probs, "probs")
    return np.bincount(p.argmax(1), minlength=p.shape[1])


def modes_covered(counts: ArrayLike, share: float = 0.5) -> int:
    """Classes that get at least `share` of their uniform share N/K of the samples (a mode count, Srivastava et al. 2017)."""
    c = np.asarray(counts)
    # counts·K >= share·N rather than counts >= share·N/K: no rounding at the boundary.
    return int((c * len(c) >= share * c.sum()).sum())


@torch.no_grad()
def extract(images: ArrayLike, classifier: MnistClassifier, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) float64 classifier features of `images` and (N, 10) class probabilities, in one pass."""
    device = next(classifier.parameters()).device
    x = torch.as_tensor(images)
    feats, probs = [], []
    for batch in x.split(batch_size):
        f = classifier.features(batch.to(device, torch.float32))
        feats.append(f.cpu())
        probs.append(torch.softmax(classifier.head(f), dim=1).cpu())  # head(features) == forward in eval mode
    return torch.cat(feats).double().numpy(), torch.cat(probs).double().numpy()


def per_class_fd(fake_feat: np.ndarray, fake_y: ArrayLike, real_feat: np.ndarray, real_y: ArrayLike, classes: int) -> list[float]:
    """FD of each class's fakes against the real features of that class (NaN where a side has fewer than 2)."""
    fy, ry = np.asarray(fake_y), np.asarray(real_y)
    return [
        frechet_distance(fake_feat[fy == c], real_feat[ry == c]) if min((fy == c).sum(), (ry == c).sum()) >= 2 else float("nan")
        for c in range(classes)
    ]


def _check_images(images: ArrayLike, name: str) -> None:
    shape = tuple(images.shape)
    if len(shape) != 4 or shape[1:] != (1, 28, 28):
        raise UserError(f"the {name} images have shape {shape}; the MNIST metrics need (N, 1, 28, 28), as `gan sample` writes to samples.npy.")
    if shape[0] < 2:
        raise UserError(f"the metrics need at least 2 {name} images, got {shape[0]}; sample more (e.g. n=10000).")
    lo, hi = float(images.min()), float(images.max())
    if lo < -1.01 or hi > 1.01:
        raise UserError(f"the {name} images range over [{lo:.3g}, {hi:.3g}]; the classifier expects pixels in [-1, 1] (G's tanh range). Rescale them, e.g. x / 127.5 - 1 for 0..255.")


@dataclass(frozen=True)
class RealSide:
    """What image_metrics needs of the real images; the same for every evaluation against them."""

    features: np.ndarray  # (N, D) float64 classifier features
    radii: torch.Tensor  # (N,) each feature's distance to its k-th nearest neighbour: the real manifold of precision
    kid_sums: dict = field(default_factory=dict, compare=False, repr=False)  # KID's within-subset sums of `features`, filled by the first evaluation


def real_side(real: ArrayLike, classifier: MnistClassifier, batch_size: int = 500, k: int = 3, chunk: int = 1000) -> RealSide:
    """The classifier's features of `real` ((N, 1, 28, 28) in [-1, 1]) and their k-NN radii: about half an
    evaluation's time on CPU, so a run computes them once."""
    _check_images(real, "reference")
    classifier.eval()  # batch norm and dropout in training mode would make features depend on the batch
    features, _ = extract(real, classifier, batch_size)
    return RealSide(features, _kth_neighbour_radii(torch.as_tensor(features), k, chunk))


def image_metrics(
    fake: ArrayLike, real: ArrayLike | RealSide, classifier: MnistClassifier, sha256: str, reference: str, batch_size: int = 500
) -> dict[str, Any]:
    """Every image metric of `fake` against `real` (both (N, 1, 28, 28) in [-1, 1], or the real side computed
    once) in one flat dict with its provenance."""
    _check_images(fake, "generated")
    real = real if isinstance(real, RealSide) else real_side(real, classifier, batch_size)
    classifier.eval()  # batch norm and dropout in training mode would make features depend on the batch
    fake_feat, fake_probs = extract(fake, classifier, batch_size)
    real_feat = real.features
    kid_mean, kid_std = kid(fake_feat, real_feat, b_sums=real.kid_sums)
    precision, recall = precision_recall(real_feat, fake_feat, real_radii=real.radii)
    counts = class_histogram(fake_probs)
    return {
        "fd": frechet_distance(fake_feat, real_feat),
        "kid": kid_mean,
        "kid_std": kid_std,
        "classifier_score": classifier_score(fake_probs),
        "precision": precision,
        "recall": recall,
        "modes_covered": modes_covered(counts),
        "class_histogram": [int(c) for c in counts],
        "n_fake": len(fake_feat),
        "n_real": len(real_feat),
        "extractor_sha256": sha256,
        "reference": reference,
    }
