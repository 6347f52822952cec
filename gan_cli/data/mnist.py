"""MNIST digits through torchvision, held in memory as one tensor scaled to [-1, 1]."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gan_cli.data.base import BatchStream
from gan_cli.data.images import ImageData
from gan_cli.errors import UserError

if TYPE_CHECKING:
    from gan_cli.eval.classifier import MnistClassifier

RAW_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class EpochStream(BatchStream):
    """Epochs of a fixed tensor in a fresh random order each; the position is (the RNG state that drew
    this epoch's order, the offset into it), so a resumed run redraws the same order and goes on from there."""

    def __init__(self, images: torch.Tensor, batch_size: int, generator: torch.Generator, labels: torch.Tensor | None = None) -> None:
        self.images, self.batch_size, self.generator = images, batch_size, generator
        self.labels = labels  # given: each batch is (images, their digits)
        self._new_epoch()

    def _new_epoch(self) -> None:
        self.epoch_rng = self.generator.get_state()
        self.order = torch.randperm(len(self.images), generator=self.generator).to(self.images.device)
        self.offset = 0

    def __next__(self) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        if self.offset + self.batch_size > len(self.images):
            self._new_epoch()  # the last partial batch is dropped: batch norm and D prefer equal batches
        index = self.order[self.offset : self.offset + self.batch_size]
        self.offset += self.batch_size
        return self.images[index] if self.labels is None else (self.images[index], self.labels[index])

    def state_dict(self) -> dict[str, Any]:
        return {"epoch_rng": self.epoch_rng, "offset": self.offset}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["epoch_rng"])
        self._new_epoch()
        self.offset = int(state["offset"])


class MNIST(ImageData):
    sample_shape = (1, 28, 28)
    classes = 10  # the digits

    def __init__(self, root: str = "data", download: bool = True, train: bool = True) -> None:
        # Nothing is read here: `gan sample` rebuilds this object from a checkpoint and never needs the files.
        self.root, self.download, self.train = Path(root).expanduser(), bool(download), bool(train)
        self._loaded: dict[bool, torch.Tensor] = {}
        self._labels: dict[bool, torch.Tensor] = {}
        self._classifier: tuple[MnistClassifier, str] | None = None
        self._real: Any = None  # the test digits' features and radii (metrics.images.RealSide), made at the first evaluation

    def _missing_message(self, why: str, train: bool) -> str:
        raw = self.root / "MNIST" / "raw"
        files = ", ".join(RAW_FILES[train])
        return (
            f"MNIST could not be loaded from data.root={str(self.root)!r}: {why}. torchvision expects the files "
            f"{files} (or their .gz archives) in {raw}/. Point data.root at the folder that holds MNIST/raw, "
            "or fetch them there once on a machine that is online (data.download=true does that)."
        )

    def images(self, train: bool | None = None) -> torch.Tensor:
        """A split's images as one (N, 1, 28, 28) float tensor in [-1, 1], loaded on first use (default: data.train's)."""
        train = self.train if train is None else train
        if train not in self._loaded:
            from torchvision import datasets

            if self.root.exists() and not self.root.is_dir():
                raise UserError(f"data.root={str(self.root)!r} is a file, not a folder. Give the folder that holds MNIST/raw.")
            try:
                ds = datasets.MNIST(str(self.root), train=train, download=self.download)
            except RuntimeError as e:
                if "not found" in str(e).lower():
                    why = "the files are not there and data.download=false"
                else:  # torchvision lists every mirror it tried; the first line and the last cause suffice
                    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
                    why = f"the download failed ({lines[0].rstrip(':')}: {lines[-1].strip('<>)')})"
                raise UserError(self._missing_message(why, train)) from None
            except (OSError, ValueError, AssertionError) as e:
                raise UserError(self._missing_message(f"the files are unreadable or corrupt ({e})", train)) from None
            self._loaded[train] = ds.data.unsqueeze(1).float().div_(127.5).sub_(1.0)  # uint8 0..255 -> [-1, 1]
            self._labels[train] = ds.targets.long()
        return self._loaded[train]

    def evaluate(self, fake: torch.Tensor) -> dict[str, Any]:
        """The shipped classifier's metrics against the 10k test digits (never the training split G saw)."""
        from gan_cli.eval.classifier import floor
        from gan_cli.metrics.images import image_metrics

        classifier, sha256 = self.classifier(fake.device)
        metrics = image_metrics(fake.detach().float(), self._reference(classifier), classifier, sha256, reference=f"MNIST test ({len(self.images(train=False)):,})")
        metrics["success"] = metrics["modes_covered"] == 10
        metrics["collapsed"] = metrics["modes_covered"] <= 5  # half the digits or fewer
        metrics["floor"] = floor()  # what real digits score, so a reader knows what "perfect" reads as
        return metrics

    def _reference(self, classifier: MnistClassifier) -> Any:
        """The test digits' features and radii (metrics.images.RealSide): made at the first evaluation, then reused."""
        from gan_cli.metrics.images import real_side

        if self._real is None:
            self._real = real_side(self.images(train=False), classifier)
        return self._real

    def classifier(self, device: torch.device) -> tuple[MnistClassifier, str]:
        """The shipped classifier and its weights' sha256, on `device`: it runs where G's samples are (the run's
        device), so a run on a GPU does not classify on the CPU. Loaded once; it follows the samples if they move."""
        from gan_cli.eval.classifier import load_classifier

        if self._classifier is None:
            self._classifier = load_classifier(device)
        classifier, sha256 = self._classifier
        return classifier.to(device), sha256

    def batches(self, batch_size: int, generator: torch.Generator, device: torch.device) -> Iterator[torch.Tensor]:
        # Loaded here, not on the first batch, so missing files stop the run before training starts.
        images = self.images().to(device)  # once: batches are slices of one tensor, no per-image PIL work
        if batch_size > len(images):
            raise UserError(f"batch_size={batch_size} is larger than the {len(images)} images in data.root; lower batch_size.")
        return EpochStream(images, batch_size, generator)

    def labelled_batches(self, batch_size: int, generator: torch.Generator, device: torch.device) -> BatchStream:
        stream = self.batches(batch_size, generator, device)
        assert isinstance(stream, EpochStream)
        stream.labels = self._labels[self.train].to(device)
        return stream

    def classify(self, fake: torch.Tensor) -> torch.Tensor:
        """The digit the shipped classifier reads in each sample."""
        classifier, _ = self.classifier(fake.device)
        with torch.no_grad():
            return torch.cat([classifier(part).argmax(1) for part in fake.detach().float().split(1000)]).cpu()

    def conditional_metrics(self, fake: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
        """cond_accuracy: the share of G(z, y) that the shipped classifier reads as digit y. fd_per_class: FD-MNIST of
        G(z, y) against the test digits of class y, for each y; fd_class_mean their mean (one classifier pass)."""
        from gan_cli.metrics.images import extract, per_class_fd

        classifier, _ = self.classifier(fake.device)
        reference = self._reference(classifier)  # puts the classifier in eval mode
        features, probs = extract(fake.detach().float(), classifier)
        asked = y.cpu().numpy()
        per_class = per_class_fd(features, asked, reference.features, self._labels[False].numpy(), self.classes)
        accuracy = float((probs.argmax(1) == asked).mean())
        return {"cond_accuracy": accuracy, "fd_class_mean": float(np.mean(per_class)), "fd_per_class": per_class}
