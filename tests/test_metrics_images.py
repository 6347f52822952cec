"""Image metrics against answers known in closed form, and the shipped classifier behind them."""

from __future__ import annotations

import json
import shutil
import socket
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_cli.errors import UserError
from gan_cli.eval.classifier import RECORD_FILE, WEIGHTS_FILE, load_classifier
from gan_cli.metrics.images import (
    class_histogram,
    classifier_score,
    frechet_distance,
    image_metrics,
    real_side,
    kid,
    modes_covered,
    precision_recall,
)

REAL_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data"
PACKAGE_EVAL = Path(__file__).resolve().parents[1] / "gan_cli" / "eval"


def whitened(n: int, d: int, seed: int) -> np.ndarray:
    """n samples whose sample mean is exactly 0 and sample covariance exactly I (np.cov's n - 1)."""
    z = np.random.default_rng(seed).standard_normal((n, d))
    z -= z.mean(0)
    return z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T


def one_hot(labels: np.ndarray, k: int = 10) -> np.ndarray:
    return np.eye(k)[labels]


# Fréchet distance


def test_frechet_distance_of_a_set_with_itself_is_zero() -> None:
    a = np.random.default_rng(0).standard_normal((2000, 16)) @ np.random.default_rng(1).standard_normal((16, 16))
    assert abs(frechet_distance(a, a)) < 1e-6


def test_frechet_distance_of_a_shifted_gaussian_sample_is_the_squared_shift() -> None:
    rng = np.random.default_rng(0)
    v = np.array([1.0, 2.0, 0.0, -1.0])  # |v|^2 = 6
    a, b = rng.standard_normal((20000, 4)), rng.standard_normal((20000, 4)) + v  # independent samples
    assert frechet_distance(a, b) == pytest.approx(6.0, abs=0.1)  # one seeded numpy draw, alike on every CPU: 6.006 (seeds 1-5: 5.95-6.05); |v| for |v|^2 reads 2.4


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians() -> None:
    # With exact sample moments the only error left is round-off: |mu_a - mu_b|^2 + sum (s_a - s_b)^2.
    mu_a, mu_b = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    s_a, s_b = np.array([1.0, 2.0, 0.5]), np.array([2.0, 0.5, 0.5])
    a, b = mu_a + whitened(500, 3, 0) * s_a, mu_b + whitened(700, 3, 1) * s_b
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum((s_a - s_b) ** 2)  # 5 + 1 + 2.25 = 8.25
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_is_exact_and_quiet_with_dead_feature_dimensions() -> None:
    # ReLU units that never fire make both covariances singular; the answer must not change.
    mu_a, mu_b, s_a, s_b = np.array([0.0, 1.0]), np.array([2.0, 1.0]), np.array([1.0, 3.0]), np.array([2.0, 3.0])
    dead = np.zeros((600, 5))
    a = np.hstack([mu_a + whitened(600, 2, 0) * s_a, dead])
    b = np.hstack([mu_b + whitened(600, 2, 1) * s_b, dead])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert frechet_distance(a, b) == pytest.approx(4.0 + 1.0, rel=1e-6)


def test_frechet_distance_handles_covariances_that_do_not_commute() -> None:
    # A = diag(4, 1) and B = A rotated by 45 degrees: tr(sqrt(A^1/2 B A^1/2)) = sqrt(12.5 + 2 sqrt(16)).
    cov_a, cov_b = np.diag([4.0, 1.0]), np.array([[2.5, 1.5], [1.5, 2.5]])
    a = whitened(400, 2, 0) @ np.linalg.cholesky(cov_a).T
    b = whitened(400, 2, 1) @ np.linalg.cholesky(cov_b).T
    assert frechet_distance(a, b) == pytest.approx(10 - 2 * np.sqrt(20.5), rel=1e-9)


# KID


def test_kid_is_near_zero_for_one_distribution_and_clearly_positive_for_two() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2000, 16)), rng.standard_normal((2000, 16))
    same, same_std = kid(a, b, subsets=20, subset_size=500)
    # The biased estimator (diagonals kept) would read about +0.03 here; the unbiased one centres on 0.
    assert abs(same) < 0.01 and same_std > 0  # a seeded draw: reads 0.0017 (seeds 1-5: -0.0006 to 0.0011)
    shifted, _ = kid(a, b + 0.5, subsets=20, subset_size=500)
    assert shifted > 0.5  # reads 1.03


def test_kid_caps_the_subset_size_at_the_smaller_set() -> None:
    rng = np.random.default_rng(0)
    mean, std = kid(rng.standard_normal((50, 8)), rng.standard_normal((60, 8)) + 3, subsets=5, subset_size=1000)
    assert np.isfinite(mean) and np.isfinite(std) and mean > 1


def test_kid_is_reproducible_for_a_seed() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((300, 8)), rng.standard_normal((300, 8))
    assert kid(a, b, subsets=5, subset_size=100, seed=3) == kid(a, b, subsets=5, subset_size=100, seed=3)


def _kid_by_the_formula(a: np.ndarray, b: np.ndarray, subsets: int, m: int, seed: int) -> float:
    rng, d, values = np.random.default_rng(seed), a.shape[1], []
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
        k_xx, k_yy, k_xy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
        values.append((k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1)) - 2 * k_xy.mean())
    return float(np.mean(values))


def test_kid_with_the_real_sides_sums_kept_reads_as_the_formula_for_every_fake_count() -> None:
    rng = np.random.default_rng(0)
    real, kept = rng.standard_normal((400, 8)), {}
    for fake in (rng.standard_normal((300, 8)) + 0.2, rng.standard_normal((150, 8)), rng.standard_normal((300, 8))):
        got, _ = kid(fake, real, subsets=4, subset_size=100, seed=1, b_sums=kept)
        # Only rounding differs (products and sums in another order): 1e-9 of the value is far above it.
        assert got == pytest.approx(_kid_by_the_formula(fake, real, 4, 100, 1), rel=1e-9, abs=1e-12)
    assert len(kept) == 2  # one entry per fake count: the subsets drawn depend on it


# Classifier score


def test_classifier_score_of_confident_even_predictions_is_ten() -> None:
    assert classifier_score(one_hot(np.arange(1000) % 10)) == pytest.approx(10.0, rel=1e-12)


def test_classifier_score_of_a_single_class_is_one() -> None:
    assert classifier_score(one_hot(np.full(100, 3))) == pytest.approx(1.0, rel=1e-12)


def test_classifier_score_of_uniform_probabilities_is_one() -> None:
    assert classifier_score(np.full((100, 10), 0.1)) == pytest.approx(1.0, rel=1e-12)


def test_classifier_score_is_at_most_the_class_count() -> None:
    logits = torch.randn(500, 10, generator=torch.Generator().manual_seed(0)) * 5
    score = classifier_score(torch.softmax(logits, 1))
    assert 1.0 < score <= 10.0


# Precision and recall


def test_precision_recall_of_identical_sets_is_one_one() -> None:
    x = np.random.default_rng(0).standard_normal((300, 8))
    assert precision_recall(x, x.copy(), k=3, chunk=64) == (1.0, 1.0)


def test_precision_of_samples_far_from_the_real_manifold_is_zero() -> None:
    rng = np.random.default_rng(0)
    real, fake = rng.standard_normal((300, 8)), rng.standard_normal((300, 8)) + 100
    assert precision_recall(real, fake) == (0.0, 0.0)


def test_precision_counts_the_share_of_fakes_on_the_real_manifold() -> None:
    rng = np.random.default_rng(0)
    real = rng.standard_normal((400, 8))
    fake = np.concatenate([real[:150], rng.standard_normal((150, 8)) + 100])  # half copies, half far off
    precision, _ = precision_recall(real, fake, k=3, chunk=50)
    assert precision == 0.5


def test_precision_recall_does_not_depend_on_the_chunk_size() -> None:
    rng = np.random.default_rng(0)
    real, fake = rng.standard_normal((257, 8)), rng.standard_normal((301, 8)) * 1.3 + 0.3
    results = {precision_recall(real, fake, k=3, chunk=c) for c in (7, 100, 1000)}
    assert len(results) == 1
    precision, recall = results.pop()
    assert 0 < precision < 1 and 0 < recall < 1


# Class histogram and modes


def test_a_batch_of_one_class_covers_one_mode() -> None:
    counts = class_histogram(one_hot(np.full(500, 7)))
    assert counts.tolist() == [0] * 7 + [500, 0, 0]
    assert modes_covered(counts) == 1


def test_an_even_batch_covers_all_ten_modes() -> None:
    counts = class_histogram(one_hot(np.arange(1000) % 10))
    assert counts.tolist() == [100] * 10
    assert modes_covered(counts) == 10


def test_modes_covered_counts_a_class_at_exactly_half_its_share() -> None:
    # N = 100, 10 classes: the uniform share is 10, half of it 5. A class with 5 counts, one with 4 does not.
    counts = np.array([5, 4, 13, 13, 13, 13, 13, 13, 13, 0])
    assert counts.sum() == 100
    assert modes_covered(counts) == 8
    assert modes_covered(counts, share=0.4) == 9  # now 4 is exactly on the boundary


def test_class_histogram_takes_the_argmax_of_soft_probabilities() -> None:
    probs = np.array([[0.6, 0.4] + [0] * 8, [0.2, 0.3] + [0.5 / 8] * 8, [0.05] * 9 + [0.55]])
    assert class_histogram(probs).tolist() == [1, 1] + [0] * 7 + [1]


# The shipped classifier


def test_load_classifier_works_offline_from_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("load_classifier tried to open a network connection")

    monkeypatch.setattr(socket, "socket", no_network)
    model, sha = load_classifier()
    record = json.loads((PACKAGE_EVAL / RECORD_FILE).read_text())
    assert sha == record["sha256"]
    assert (PACKAGE_EVAL / WEIGHTS_FILE).stat().st_size < 500 * 1024  # a few hundred KB
    assert not model.training
    x = torch.zeros(3, 1, 28, 28)
    assert model.features(x).shape == (3, 128) and model(x).shape == (3, 10)


def test_a_tampered_copy_of_the_weights_is_refused(tmp_path: Path) -> None:
    for name in (WEIGHTS_FILE, RECORD_FILE):
        shutil.copy(PACKAGE_EVAL / name, tmp_path / name)
    load_classifier(folder=tmp_path)  # the untouched copy loads
    data = bytearray((tmp_path / WEIGHTS_FILE).read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, somewhere in the tensors
    (tmp_path / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(UserError, match="sha256.*train_classifier"):
        load_classifier(folder=tmp_path)


def test_missing_weights_are_refused_with_the_command_that_makes_them(tmp_path: Path) -> None:
    shutil.copy(PACKAGE_EVAL / RECORD_FILE, tmp_path / RECORD_FILE)
    with pytest.raises(UserError, match="missing.*train_classifier"):
        load_classifier(folder=tmp_path)


def test_train_classifier_writes_weights_a_record_and_the_real_data_floor(mnist_root: Path, tmp_path: Path) -> None:
    from gan_cli.eval import train_classifier

    # The small files' classes are bars 2 pixels apart, so shifts would swap classes; unshifted, a few epochs learn them.
    train_classifier.main([f"data.root={mnist_root}", "epochs=6", "batch_size=32", "shift=0", f"out={tmp_path}"])
    record = json.loads((tmp_path / RECORD_FILE).read_text())
    model, sha = load_classifier(folder=tmp_path)  # the written record vouches for the written weights
    # 0.99 is MIN_ACCURACY (below it nothing is written); 12 trainings here (seeds 0-5 on 1 and 2 threads) read 64/64, loss 0.002
    assert sha == record["sha256"] and record["test_accuracy"] >= 0.99 and record["epochs"] == 6
    floor = record["floor"]
    assert floor["what"].startswith("256 real training digits against the 64 test digits")
    # Real against real reads as perfect: every class covered, a confident classifier, features alike.
    # Another CPU trains another classifier. 12 trainings (seeds 0-5 on 1 and 2 threads) read 10 modes, score 9.91-9.95,
    # fd 0.62-0.71, precision 0.898-0.981, recall 0.81-0.92; noise for the training digits reads 3 modes, score 1.04,
    # fd 369, precision and recall 0; 1 neighbour instead of 3 reads precision 0.62, recall 0.61.
    assert floor["modes_covered"] == 10 and floor["classifier_score"] > 9.0
    assert floor["fd"] < 1.5 and floor["precision"] > 0.75 and floor["recall"] > 0.7
    # Other weights (here: another seed) never silently replace an extractor whose numbers are on record.
    before = {f.name: f.read_bytes() for f in tmp_path.iterdir()}
    again = [f"data.root={mnist_root}", "epochs=6", "batch_size=32", "shift=0", "seed=1", f"out={tmp_path}"]
    with pytest.raises(SystemExit):
        train_classifier.main(again)
    assert {f.name: f.read_bytes() for f in tmp_path.iterdir()} == before
    train_classifier.main([*again, "replace=true"])
    assert json.loads((tmp_path / RECORD_FILE).read_text())["seed"] == 1 and load_classifier(folder=tmp_path)[1] != sha


def test_train_classifier_writes_nothing_below_the_accuracy_the_metrics_need(mnist_root: Path, tmp_path: Path) -> None:
    from gan_cli.eval import train_classifier

    with pytest.raises(SystemExit):  # one step of training cannot separate ten classes
        train_classifier.main([f"data.root={mnist_root}", "epochs=1", "batch_size=256", "lr=1e-6", f"out={tmp_path}"])
    assert list(tmp_path.iterdir()) == []


def test_image_metrics_records_its_provenance() -> None:
    model, sha = load_classifier()
    g = torch.Generator().manual_seed(0)
    fake, real = torch.rand(120, 1, 28, 28, generator=g) * 2 - 1, torch.rand(150, 1, 28, 28, generator=g) * 2 - 1
    m = image_metrics(fake, real, model, sha, reference="test noise (150)", batch_size=50)
    assert {k: m[k] for k in ("n_fake", "n_real", "extractor_sha256", "reference")} == {
        "n_fake": 120,
        "n_real": 150,
        "extractor_sha256": sha,
        "reference": "test noise (150)",
    }
    assert sum(m["class_histogram"]) == 120 and len(m["class_histogram"]) == 10
    assert all(isinstance(c, int) for c in m["class_histogram"])
    for key in ("fd", "kid", "kid_std", "classifier_score", "precision", "recall"):
        assert isinstance(m[key], float) and np.isfinite(m[key]), key
    assert 1 <= m["classifier_score"] <= 10 and 0 <= m["modes_covered"] <= 10


def test_the_real_side_computed_once_reads_as_computing_it_at_every_evaluation(mnist_root: Path) -> None:
    from gan_cli.data.mnist import MNIST

    model, _ = load_classifier()
    g = torch.Generator().manual_seed(0)
    fake_a, fake_b = (torch.rand(120, 1, 28, 28, generator=g) * 2 - 1 for _ in range(2))
    data = MNIST(root=str(mnist_root), download=False)
    data.evaluate(fake_a)
    assert data.evaluate(fake_b) == MNIST(root=str(mnist_root), download=False).evaluate(fake_b)  # the second reused the first's
    real, fake = real_side(data.images(train=False), model), real_side(data.images(train=True)[:120], model)
    # The kept radii are the ones precision_recall would draw for itself (k = 3); training digits sit near their edges
    assert 0 < precision_recall(real.features, fake.features)[0] < 1
    assert precision_recall(real.features, fake.features, real_radii=real.radii) == precision_recall(real.features, fake.features)


def test_an_mnist_evaluation_on_the_cpu_is_the_cpu_classifiers(mnist_root: Path) -> None:
    from gan_cli.data.mnist import MNIST

    fake = torch.rand(120, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    data = MNIST(root=str(mnist_root), download=False)
    measured = data.evaluate(fake)
    model, sha = load_classifier("cpu")
    expected = image_metrics(fake, data.images(train=False), model, sha, reference="MNIST test (64)")
    assert {k: measured[k] for k in expected} == expected  # the same numbers, to the bit
    assert {p.device for p in data.classifier(torch.device("cpu"))[0].parameters()} == {torch.device("cpu")}


def test_an_mnist_evaluation_runs_the_classifier_on_the_samples_device(mnist_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """G's samples are on the run's device (a GPU), and the classifier runs there. With no GPU here the meta device
    stands in for one (tensors with a device and no values), and the metrics, which would need values, are stubbed."""
    from gan_cli.data.mnist import MNIST
    from gan_cli.metrics import images

    def device_of(classifier: torch.nn.Module) -> set[torch.device]:
        return {t.device for t in (*classifier.parameters(), *classifier.buffers())}

    seen = []
    monkeypatch.setattr(images, "real_side", lambda real, classifier: seen.append(("real", device_of(classifier))))
    monkeypatch.setattr(
        images, "image_metrics", lambda fake, real, classifier, sha256, reference: seen.append(("fake", fake.device, device_of(classifier))) or {"modes_covered": 10}
    )
    meta = torch.device("meta")
    MNIST(root=str(mnist_root), download=False).evaluate(torch.zeros(8, 1, 28, 28, device=meta))
    assert seen == [("real", {meta}), ("fake", meta, {meta})]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_an_mnist_evaluation_on_cuda_classifies_there_and_reads_as_on_the_cpu(mnist_root: Path) -> None:
    from gan_cli.data.mnist import MNIST

    fake = torch.rand(120, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    on_cpu = MNIST(root=str(mnist_root), download=False).evaluate(fake)
    data = MNIST(root=str(mnist_root), download=False)
    on_cuda = data.evaluate(fake.cuda())
    assert next(data.classifier(torch.device("cuda", 0))[0].parameters()).is_cuda
    assert on_cuda["class_histogram"] == on_cpu["class_histogram"]
    for key in ("fd", "kid", "classifier_score", "precision", "recall"):  # float32 convolutions differ in rounding only
        assert on_cuda[key] == pytest.approx(on_cpu[key], rel=1e-3, abs=1e-4), key


def test_image_metrics_refuses_images_out_of_range_or_shape() -> None:
    model, sha = load_classifier()
    real = torch.zeros(10, 1, 28, 28)
    with pytest.raises(UserError, match=r"\[-1, 1\]"):
        image_metrics(torch.full((10, 1, 28, 28), 255.0), real, model, sha, "x")
    with pytest.raises(UserError, match=r"\(N, 1, 28, 28\)"):
        image_metrics(torch.zeros(10, 784), real, model, sha, "x")


# Real MNIST: the floor a perfect generator would reach


@pytest.mark.slow
@pytest.mark.skipif(not (REAL_MNIST / "MNIST" / "raw").is_dir(), reason="no real MNIST in ../shared/data")
def test_real_training_digits_against_the_test_set_read_as_a_perfect_generator() -> None:
    from torchvision.datasets import MNIST

    def scale(d: torch.Tensor) -> torch.Tensor:
        return d.unsqueeze(1).float() / 127.5 - 1  # uint8 0..255 -> [-1, 1]

    model, sha = load_classifier()
    train, test = MNIST(str(REAL_MNIST), train=True, download=False), MNIST(str(REAL_MNIST), train=False, download=False)
    real, labels = scale(test.data), test.targets
    with torch.no_grad():
        accuracy = torch.cat([model(x).argmax(1) for x in real.split(1000)]).eq(labels).double().mean().item()
    fake = scale(train.data[torch.randperm(60000, generator=torch.Generator().manual_seed(0))[:10000]])
    start = time.perf_counter()
    m = image_metrics(fake, real, model, sha, reference="MNIST test (10,000)")
    print(
        f"\nclassifier test accuracy {accuracy:.4%}; floor (10k train vs 10k test, {time.perf_counter() - start:.1f} s): "
        f"fd {m['fd']:.4f}, kid {m['kid']:.5f} ± {m['kid_std']:.5f}, classifier_score {m['classifier_score']:.3f}, "
        f"precision {m['precision']:.4f}, recall {m['recall']:.4f}, modes {m['modes_covered']}, histogram {m['class_histogram']}"
    )
    assert accuracy >= 0.99
    # Scale, measured against the same test set: these digits read fd 0.48, kid 0.012 ± 0.15 (std over
    # subsets); with N(0, 0.2) pixel noise added, fd 26 and kid 3.5; blurred (5x5 binomial), fd 186, kid 19.
    assert m["fd"] < 1.0
    assert abs(m["kid"]) < 0.1  # ~4 standard errors of the mean over 50 subsets
    assert m["classifier_score"] > 9.5
    assert m["modes_covered"] == 10
    assert m["precision"] > 0.6 and m["recall"] > 0.6
    assert (m["n_fake"], m["n_real"], m["extractor_sha256"]) == (10000, 10000, sha)
    # The floor every evaluation shows is this measurement, as train_classifier wrote it into the record.
    shipped = json.loads((PACKAGE_EVAL / RECORD_FILE).read_text())["floor"]
    for key in ("fd", "kid", "kid_std", "classifier_score", "precision", "recall", "modes_covered"):
        assert m[key] == pytest.approx(shipped[key], rel=1e-3, abs=1e-4), key
