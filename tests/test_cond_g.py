"""G's side of a conditional GAN (cond.g=cbn: conditional batch norm) and what a conditional G's pictures and MNIST
metrics show: one grid row per class, FD-MNIST per class."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_cli.build import build
from gan_cli.cond.base import balanced
from gan_cli.cond.cbn import ClassBatchNorm
from gan_cli.data.images import grid_cells
from gan_cli.data.mnist import MNIST
from gan_cli.evaluate import evaluate
from gan_cli.metrics import images
from gan_cli.report import report
from gan_cli.sample import sample
from tests.commands import gan
from tests.conftest import QUICK, compose_config, run_train
from tests.tb import events
from tests.test_cond import RING, nearest_modes

CBN = ["cond=projection", "cond.g=cbn", "model.g_norm=batch"]  # the ring's MLP G has batch norm only when asked


def test_cbn_g_reads_z_alone_and_starts_as_the_unconditional_g() -> None:
    cfg, _ = compose_config("train", ["data=ring2d", *CBN, "device=cpu"])
    exp = build(cfg)
    first = exp.G.G.net[0]
    assert first.in_features == exp.latent.dim and exp.latent.width == exp.latent.dim + 8  # y is not in G's input
    norms = [m for m in exp.G.modules() if isinstance(m, ClassBatchNorm)]
    assert len(norms) == 1 and not any(isinstance(m, torch.nn.BatchNorm1d) and m.affine for m in exp.G.modules())
    z = exp.latent.sample(64)
    other = z.clone()
    other[:, exp.latent.dim :] = z[:, exp.latent.dim :].roll(1, 1)  # every row asks for the next class
    with torch.no_grad():
        assert torch.equal(exp.G(z), exp.G(other))  # gain 1 and bias 0 for every class: y changes nothing yet
        norms[0].bias.weight[3] += 1.0
        assert not torch.allclose(exp.G(z), exp.G(other))  # ... until a class's bias moves


@pytest.fixture(scope="module")
def cbn_ring(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("cbn_ring")
    run_train([*RING, *CBN, "steps=300"], run)
    return run


def test_a_cbn_ring_puts_class_y_on_mode_y_and_gan_sample_rebuilds_it(cbn_ring: Path, tmp_path: Path) -> None:
    metrics = json.loads((cbn_ring / "metrics.json").read_text())["eval"]
    # Seed 0 reads 1.0 at 300 steps; a G whose batch norms ignore y reads chance (1/8): 0.8 leaves room for any machine.
    assert metrics["cond_accuracy"] >= 0.8, metrics
    gan("sample", f"ckpt={cbn_ring}", "label=5", "n=200", f"out={tmp_path / 'five'}", "device=cpu")
    assert (nearest_modes(tmp_path / "five" / "samples.txt") == 5).mean() >= 0.8


def test_per_class_fd_compares_each_class_with_its_own_reference() -> None:
    rng = np.random.default_rng(0)
    real_y, fake_y = np.arange(600) % 3, np.arange(300) % 3
    means = np.eye(3, 8) * 5  # each class its own mean
    real, fake = means[real_y] + rng.normal(size=(600, 8)), means[fake_y] + rng.normal(size=(300, 8))
    own = images.per_class_fd(fake, fake_y, real, real_y, 3)
    assert max(own) < 0.5  # the same Gaussian per class: only the sample's noise (about 8 * 8 / 300)
    swapped = images.per_class_fd(fake, (fake_y + 1) % 3, real, real_y, 3)
    assert min(swapped) > 40  # the squared distance between two class means is 50
    assert np.isnan(images.per_class_fd(fake[:4], fake_y[:4], real, real_y, 3)[2])  # one sample of class 2: no covariance


def test_mnist_fd_per_class_reads_the_test_digits_of_each_class_once(mnist_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = []
    real_side = images.real_side
    monkeypatch.setattr(images, "real_side", lambda *a, **k: made.append(1) or real_side(*a, **k))
    data = MNIST(root=str(mnist_root), download=False)
    digits, labels = data.images(train=False), data._labels[False]
    right = data.conditional_metrics(digits, labels)
    wrong = data.conditional_metrics(digits, (labels + 1) % 10)
    data.evaluate(digits)
    assert made == [1]  # the reference features: once for both calls and the unconditional metrics
    assert len(right["fd_per_class"]) == 10 and right["fd_class_mean"] == pytest.approx(np.mean(right["fd_per_class"]))
    assert right["fd_class_mean"] < 1e-3 < wrong["fd_class_mean"]  # the test digits of a class against themselves: 0
    classifier, _ = data.classifier(torch.device("cpu"))
    with torch.no_grad():
        read = classifier(digits).argmax(1)  # what the classifier reads the synthetic digits as
    assert data.conditional_metrics(digits, read)["cond_accuracy"] == 1.0 and made == [1]


def test_grid_cells_give_each_class_a_row_when_the_classes_do_not_divide_the_grid() -> None:
    for n, classes in ((64, 10), (20, 8), (100, 8)):
        fake = torch.arange(n, dtype=torch.float)[:, None, None, None].expand(n, 1, 2, 2) / n - 0.5  # cell i holds i/n - 0.5
        labels = balanced(n, classes)
        cells, width = grid_cells(fake, labels)
        assert len(cells) == classes * width and width == torch.bincount(labels).max()  # one row each, no wrap at these n
        for row, c in enumerate(range(classes)):
            own = fake[labels == c]
            assert torch.equal(cells[row * width : row * width + len(own)], own)
            assert (cells[row * width + len(own) : (row + 1) * width] == 1).all()  # blank (white) after a short share


def png_size(path_or_bytes: Path | bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes) as im:
        return im.size  # (width, height)


def test_conditional_mnist_with_cbn_dcgan_grids_a_row_per_class_and_reports_fd_per_class(mnist_root: Path, tmp_path: Path) -> None:
    tiny = ["model=dcgan", "model.ngf=4", "model.ndf=4", "model.fc=16"]
    run = tmp_path / "run"
    metrics = run_train(["data=mnist", f"data.root={mnist_root}", "data.download=false", "cond=acgan", "cond.g=cbn", *tiny, *QUICK], run)
    assert len(metrics["eval"]["fd_per_class"]) == 10 and np.isfinite(metrics["eval"]["fd_class_mean"])
    # The preview (QUICK's preview_n=16): 10 classes of 1 or 2 samples, one row each, 2 wide; 28-pixel cells, 2 of padding.
    (picture,) = events(run / "tb").Images("samples")[-1:]
    assert png_size(picture.encoded_image_string) == (2 * 30 + 2, 10 * 30 + 2)
    # In process, not through the CLI (test_cond.py's ring runs that path): the commands' own functions.
    sample(compose_config("sample", [f"ckpt={run}", "n=24", "device=cpu"])[0], tmp_path / "all")  # 2 or 3 of each digit
    assert png_size(tmp_path / "all" / "samples.png") == (3 * 30 + 2, 10 * 30 + 2)
    evaluate(compose_config("eval", [f"ckpt={run}", "n=200", "draws=2", "device=cpu"])[0], tmp_path / "eval")
    result = json.loads((tmp_path / "eval" / "eval.json").read_text())
    pooled = np.mean([d["fd_per_class"] for d in result["draws"]], 0)
    assert result["eval"]["fd_per_class"] == pytest.approx(pooled)  # two draws' values averaged, not added
    report(run)
    assert "fd_class_mean" in (run / "report.md").read_text()


def test_cond_on_mode_is_each_class_share_within_n_sigmas_of_its_own_mode() -> None:
    from gan_cli.data.mixture import Ring

    ring = Ring()
    x, y = ring.sample_labelled(8000, torch.Generator().manual_seed(0))
    real = ring.conditional_metrics(x, y)
    # The data themselves: P(chi2 with 2 dof <= 9) = 1 - exp(-4.5) = 0.989 per class; 1000 draws a class move it by ~0.003.
    assert all(0.975 < s < 0.999 for s in real["cond_on_mode"]) and real["cond_on_mode_min"] == min(real["cond_on_mode"])
    x[y == 2] = ring.centers[3]  # class 2 drawn on mode 3: near a mode, but not its own
    off = ring.conditional_metrics(x, y)
    assert off["cond_on_mode"][2] == 0.0 and off["cond_on_mode_min"] == 0.0 and off["cond_on_mode"][3] == real["cond_on_mode"][3]


def test_cond_std_ratio_tells_the_data_from_a_tight_blob_on_the_mode() -> None:
    from gan_cli.data.mixture import Ring

    ring = Ring()
    x, y = ring.sample_labelled(8000, torch.Generator().manual_seed(0))
    real = ring.conditional_metrics(x, y)
    # ~1000 draws a class: a std estimate is off by ~2% (1/sqrt(2n)); 0.92-1.08 is four of those either side.
    assert all(0.92 < r < 1.08 for r in real["cond_std_ratio"]) and 0.92 < real["cond_std_ratio_mean"] < 1.08
    x[y == 5] = ring.centers[5] + 0.25 * (x[y == 5] - ring.centers[5])  # class 5 a blob a quarter as wide, on its mode
    tight = ring.conditional_metrics(x, y)
    assert tight["cond_on_mode"][5] == 1.0  # the share on the mode cannot tell it ...
    assert 0.2 < tight["cond_std_ratio"][5] < 0.3 and tight["cond_std_ratio"][4] == real["cond_std_ratio"][4]  # ... the spread does


def test_resuming_with_another_g_side_is_refused(tmp_path: Path) -> None:
    from gan_cli.errors import UserError

    quick = ["data=ring2d", "cond=projection", "model.g_norm=batch", *QUICK]
    run_train(quick, tmp_path)
    with pytest.raises(UserError) as e:
        run_train([*quick, "cond.g=cbn", f"resume={tmp_path}"], tmp_path)
    assert "cannot resume with a different cond.g (cond.g: concat in the checkpoint, cbn now)" in str(e.value)
