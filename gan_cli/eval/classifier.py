"""The small MNIST classifier whose feature space the image metrics measure in, and its loader.

Its weights ship inside the package with their sha256 recorded next to them, so evaluation
never downloads anything and every number can name the exact extractor that produced it.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import warnings
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from gan_cli.errors import UserError

WEIGHTS_FILE = "mnist_classifier.pt"
RECORD_FILE = "mnist_classifier.json"
FEATURE_DIM = 128
TRAIN_COMMAND = "python -m gan_cli.eval.train_classifier data.root=<folder holding MNIST/raw>"


class MnistClassifier(nn.Module):
    """Three conv blocks, then fc 128 (the feature layer), then fc 10; about 75k parameters (~300 KB)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),  # (B, 32, 28, 28)
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 32, 14, 14)
            nn.Conv2d(32, 64, 3, padding=1),  # (B, 64, 14, 14)
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 64, 7, 7)
            # A third block shrinks the map before the fc layer: 64*7*7 -> 128 alone would be 1.6 MB of weights.
            nn.Conv2d(64, 32, 3, padding=1),  # (B, 32, 7, 7)
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 32, 3, 3)
            nn.Flatten(),  # (B, 288)
        )
        self.fc = nn.Linear(32 * 3 * 3, FEATURE_DIM)  # (B, 128)
        self.dropout = nn.Dropout(0.3)  # only active while training; features() never sees it
        self.head = nn.Linear(FEATURE_DIM, 10)  # (B, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) images in [-1, 1] -> (B, 128) post-ReLU activations of the feature layer."""
        return torch.relu(self.fc(self.conv(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) images in [-1, 1] -> (B, 10) logits."""
        return self.head(self.dropout(self.features(x)))


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _regenerate() -> str:
    return f"Reinstall gan-cli, or regenerate the weights and their record with `{TRAIN_COMMAND}`."


def floor() -> dict[str, float]:
    """The metrics of real training digits against the test digits, measured once and kept in the record."""
    record = json.loads(resources.files("gan_cli.eval").joinpath(RECORD_FILE).read_text())
    return {k: v for k, v in record.get("floor", {}).items() if isinstance(v, (int, float))}


def load_classifier(device: torch.device | str = "cpu", *, folder: Path | None = None) -> tuple[MnistClassifier, str]:
    """The shipped classifier (eval mode, on `device`) and its weights' sha256, checked against the record.

    `folder` replaces the package folder (for tests and for weights trained elsewhere); the default
    is the copy inside the installed gan_cli.eval package.
    """
    where = resources.files("gan_cli.eval") if folder is None else Path(folder)
    weights, record_file = where.joinpath(WEIGHTS_FILE), where.joinpath(RECORD_FILE)
    for f in (weights, record_file):
        if not f.is_file():
            raise UserError(f"the MNIST classifier behind the image metrics is incomplete: {f} is missing. {_regenerate()}")
    try:
        record = json.loads(record_file.read_text())
        expected = record["sha256"]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{record_file} is not a valid classifier record (it must be JSON with a sha256 field). {_regenerate()}") from None
    # Hash and load the same bytes, so the file cannot change between the check and the load.
    data = weights.read_bytes()
    actual = sha256_of(data)
    if actual != expected:
        raise UserError(
            f"the MNIST classifier's weights {weights} have sha256 {actual}, but {record_file} records {expected}: "
            f"the file was altered or replaced, and metrics from it would not be comparable with earlier ones. {_regenerate()}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        model = MnistClassifier()
        model.load_state_dict(state)
    except (pickle.UnpicklingError, RuntimeError, KeyError, TypeError, AttributeError) as e:
        raise UserError(f"{weights} matches its record but does not fit MnistClassifier ({str(e).splitlines()[0]}). {_regenerate()}") from None
    return model.to(device).eval(), actual
