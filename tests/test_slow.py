"""Long checks (`make test-slow`): what the tool promises, measured end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.test_cli import gan

REAL_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data"

pytestmark = pytest.mark.slow


def test_default_experiment_converges_for_at_least_six_of_ten_seeds(tmp_path: Path) -> None:
    gan("train", "-m", "seed=range(10)", f"hydra.sweep.dir={tmp_path}", timeout=1800)  # 10 runs of 27-45 s each here
    evals = [json.loads(p.read_text())["eval"] for p in sorted(tmp_path.glob("*/metrics.json"))]
    assert len(evals) == 10
    ok = [abs(e["mean"] - 4.0) < 0.1 and abs(e["std"] - 1.25) < 0.1 for e in evals]
    assert ok == [e["success"] for e in evals]
    # 99.8% a seed [98.6%, 100%] over 400 seeds it was not tuned on (docs/results.md); another CPU's runs are new
    # draws, so 6 of 10 (missed by about 1 machine in 10 million at 98.6%). A broken loop or loss converges for none.
    assert sum(ok) >= 6, evals


@pytest.mark.skipif(not (REAL_MNIST / "MNIST" / "raw").is_dir(), reason="no real MNIST in ../shared/data")
def test_dcgan_one_epoch_of_real_mnist_draws_all_ten_digits(tmp_path: Path) -> None:
    from torchvision.datasets import MNIST

    # One epoch on one thread takes about 8 minutes.
    gan("train", "model=dcgan", "loss=nonsat", "steps=1875", f"data.root={REAL_MNIST}", "data.download=false", f"hydra.run.dir={tmp_path / 'run'}", timeout=1800)
    evaluated = json.loads((tmp_path / "run" / "metrics.json").read_text())["eval"]
    # The classifier's reading (each digit >= 5%). Not measured on other CPUs: one epoch is early (README: score 7.96),
    # so one digit may sit under 5% there; a collapsed G or noise covers 1-3.
    assert evaluated["modes_covered"] >= 9, evaluated["class_histogram"]
    gan("sample", f"ckpt={tmp_path / 'run'}", "n=1000", f"out={tmp_path / 'samples'}")
    fake = torch.from_numpy(np.load(tmp_path / "samples" / "samples.npy")).flatten(1)
    test = MNIST(str(REAL_MNIST), train=False, download=False)
    real = test.data.flatten(1).float() / 127.5 - 1
    # Nearest real test digit in pixel space: a crude reader, but noise or one collapsed mode would fail it.
    labels = test.targets[torch.cdist(fake, real).argmin(1)]
    share = torch.bincount(labels, minlength=10).float() / len(labels)
    assert (share > 0.03).all(), share  # 1000 samples: a digit at 10% has sd 0.0095, so 3% is 7 sd below; collapse leaves most at 0
