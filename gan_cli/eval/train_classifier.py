"""Train the MNIST classifier the image metrics use, and write its weights and record.

    python -m gan_cli.eval.train_classifier data.root=/path/to/data [epochs=3] [seed=0] [out=FOLDER] [replace=false]

Deterministic on one CPU for a fixed seed and thread count: the same command writes the same bytes
there (another CPU's kernels may round differently and write other bytes), so the sha256 in the
record identifies the extractor. `out` defaults to the gan_cli.eval package folder, where
load_classifier() looks; other weights already there are only replaced with replace=true.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from gan_cli.errors import UserError, user_errors
from gan_cli.eval.classifier import RECORD_FILE, WEIGHTS_FILE, MnistClassifier, sha256_of

PACKAGE_DIR = Path(__file__).resolve().parent
# Every option and its default; data.root has none, since nothing may be downloaded.
DEFAULTS: dict[str, Any] = {
    "data.root": None,
    "epochs": 3,
    "seed": 0,
    "out": str(PACKAGE_DIR),
    "batch_size": 128,
    "lr": 0.003,
    "shift": 2,  # augmentation: random translations of up to this many pixels; 0 turns it off
    # Part of the recipe (kernels may sum in another order with another count). One thread is also the
    # fastest on a shared machine: with 2 threads on 2 busy cores a step took 800 ms, with 1 thread 110 ms.
    "threads": 1,
    # Weights from another machine round differently: replacing the shipped ones would change every metric.
    "replace": False,
}
MIN_ACCURACY = 0.99
FLOOR_N = 10_000  # real training digits behind the floor, as many as a default `gan eval` draws


def _as_bool(value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise ValueError(value)
    return value.lower() == "true"


def parse_args(argv: list[str]) -> dict[str, Any]:
    """KEY=VALUE arguments over DEFAULTS, each converted to its default's type."""
    opts = dict(DEFAULTS)
    for arg in argv:
        key, eq, value = arg.partition("=")
        if not eq or key not in DEFAULTS:
            raise UserError(f"{arg!r} is not an option of train_classifier. Give KEY=VALUE with KEY one of: {', '.join(DEFAULTS)}.")
        kind = type(DEFAULTS[key]) if DEFAULTS[key] is not None else str
        try:
            opts[key] = _as_bool(value) if kind is bool else kind(value)
        except ValueError:
            what = {int: "a whole number", float: "a number", bool: "true or false"}.get(kind, "text")
            raise UserError(f"{key}={value!r} must be {what}, e.g. {key}={str(DEFAULTS[key]).lower() if kind is bool else DEFAULTS[key]}.") from None
    if opts["data.root"] is None:
        raise UserError("train_classifier needs the MNIST files: give data.root=FOLDER, the folder that holds MNIST/raw (nothing is downloaded).")
    for key in ("epochs", "batch_size", "threads"):
        if opts[key] < 1:
            raise UserError(f"{key}={opts[key]} must be at least 1.")
    return opts


def load_split(root: str, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1, 28, 28) images in [-1, 1] and (N,) labels, held in memory."""
    from torchvision import datasets

    try:
        ds = datasets.MNIST(root, train=train, download=False)
    except (RuntimeError, OSError, ValueError) as e:
        # torchvision's own advice (download=True) is not an option here, so only the cause is kept.
        why = "the files are not there" if "not found" in str(e).lower() else f"unreadable: {str(e).splitlines()[0]}"
        raise UserError(
            f"MNIST could not be read from data.root={root!r} ({why}). Point data.root at the folder "
            "that holds MNIST/raw with the four idx files (train and t10k images and labels); nothing is downloaded."
        ) from None
    return ds.data.unsqueeze(1).float().div_(127.5).sub_(1.0), ds.targets.clone()  # uint8 0..255 -> [-1, 1]


def random_shift(x: torch.Tensor, pixels: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by up to `pixels` in x and y, filling with background (-1)."""
    if pixels == 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (pixels,) * 4, value=-1.0)  # (B, 1, H + 2p, W + 2p)
    dy, dx = torch.randint(0, 2 * pixels + 1, (2, b, 1), generator=generator)
    rows = (dy + torch.arange(h))[:, :, None]  # (B, H, 1)
    cols = (dx + torch.arange(w))[:, None, :]  # (B, 1, W)
    return padded[torch.arange(b)[:, None, None], 0, rows, cols].unsqueeze(1)  # (B, 1, H, W)


@torch.no_grad()
def accuracy(model: MnistClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    correct = sum(int((model(xb).argmax(1) == yb).sum()) for xb, yb in zip(x.split(1000), y.split(1000)))
    return correct / len(y)


def train(opts: dict[str, Any], x: torch.Tensor, y: torch.Tensor) -> tuple[MnistClassifier, dict[str, Any]]:
    """Train from scratch on images `x` and labels `y` with `opts`; return the model and the settings that reproduce it."""
    torch.set_num_threads(opts["threads"])
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(opts["seed"])  # weights' init and dropout
    shuffle = torch.Generator().manual_seed(opts["seed"])  # batch order and shifts
    # channels_last: faster CPU convolutions (about 1.5x in a quick benchmark); the saved weights are made contiguous again.
    model = MnistClassifier().to(memory_format=torch.channels_last)
    bs = opts["batch_size"]
    steps_per_epoch = len(x) // bs
    optimizer = torch.optim.Adam(model.parameters(), lr=opts["lr"])
    # One cycle (warm-up, then annealing to ~0) reaches >99% in a few epochs without tuning a schedule.
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=opts["lr"], total_steps=opts["epochs"] * steps_per_epoch)
    for epoch in range(opts["epochs"]):
        model.train()
        order = torch.randperm(len(x), generator=shuffle)
        total = 0.0
        for step in range(steps_per_epoch):
            idx = order[step * bs : (step + 1) * bs]
            batch = random_shift(x[idx], opts["shift"], shuffle).contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model(batch), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
        print(f"epoch {epoch + 1}/{opts['epochs']}: mean training loss {total / steps_per_epoch:.4f}", flush=True)
    settings = {k: opts[k] for k in ("epochs", "seed", "batch_size", "lr", "shift", "threads")}
    settings |= {"optimizer": "Adam + OneCycleLR", "train_images": len(x)}
    return model.eval(), settings


def measure_floor(
    model: MnistClassifier, sha256: str, x_train: torch.Tensor, x_test: torch.Tensor, seed: int = 0
) -> dict[str, Any]:
    """The image metrics of real training digits against the test digits: what a perfect G reads as.

    Kept in the record, so every evaluation can show it next to its own figures without recomputing it.
    """
    from gan_cli.metrics.images import image_metrics

    n = min(FLOOR_N, len(x_train))
    pick = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed))[:n]
    m = image_metrics(x_train[pick], x_test, model, sha256, reference=f"MNIST test ({len(x_test):,})")
    keep = ("fd", "kid", "kid_std", "classifier_score", "precision", "recall", "modes_covered")
    return {"what": f"{n:,} real training digits against the {len(x_test):,} test digits: what a perfect G reads as"} | {
        k: round(m[k], 5) if isinstance(m[k], float) else m[k] for k in keep
    }


def write_atomic(path: Path, data: bytes) -> None:
    """A temporary file in the same folder, fsync, then rename: never half a file at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes files private; these are package data everyone reads
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    with user_errors():
        opts = parse_args(args)
        x_test, y_test = load_split(opts["data.root"], train=False)  # first: missing files stop it before training
        x_train, y_train = load_split(opts["data.root"], train=True)
        start = time.perf_counter()
        model, settings = train(opts, x_train, y_train)
        seconds = time.perf_counter() - start
        acc = accuracy(model, x_test, y_test)
        # Serialized in memory: torch.save names the archive after the file, so saving to a
        # temporary file name would change the bytes (and the sha256) from run to run.
        buffer = io.BytesIO()
        torch.save({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}, buffer)
        data = buffer.getvalue()
        out = Path(opts["out"]).expanduser()
        record = {
            "weights_file": WEIGHTS_FILE,
            "sha256": sha256_of(data),
            "size_bytes": len(data),
            "test_accuracy": acc,
            "test_split": f"MNIST test ({len(y_test):,})",
            **settings,
            "train_seconds": round(seconds, 1),
            "torch_version": str(torch.__version__),
            "command": "python -m gan_cli.eval.train_classifier " + " ".join(shlex.quote(a) for a in args),
        }
        print(f"test accuracy {acc:.4%} on {len(y_test):,} images; trained in {seconds:.0f} s")
        if acc < MIN_ACCURACY:  # checked before writing: a weaker model must never replace the shipped one
            raise UserError(
                f"test accuracy {acc:.4%} is below the {MIN_ACCURACY:.0%} the metrics need, so nothing was written; "
                f"train longer (e.g. epochs={opts['epochs'] + 2})."
            )
        shipped = MnistClassifier()  # the floor is measured with the saved bytes, the extractor the sha256 names
        shipped.load_state_dict(torch.load(io.BytesIO(data), weights_only=True))
        record["floor"] = measure_floor(shipped, record["sha256"], x_train, x_test)
        print("real-data floor: " + ", ".join(f"{k} {v:.4g}" for k, v in record["floor"].items() if k != "what"))
        weights = out / WEIGHTS_FILE
        there = sha256_of(weights.read_bytes()) if weights.is_file() else record["sha256"]
        if there != record["sha256"] and not opts["replace"]:
            raise UserError(
                f"{weights} already holds other weights (sha256 {there[:12]}…, these are {record['sha256'][:12]}…), so nothing "
                "was written: metrics from two extractors are not comparable. Give out=ANOTHER_FOLDER to keep both, or "
                "replace=true to replace them."
            )
        write_atomic(weights, data)
        write_atomic(out / RECORD_FILE, (json.dumps(record, indent=2) + "\n").encode())
        print(f"wrote {out / WEIGHTS_FILE} ({len(data) / 1024:.0f} KB), sha256 {record['sha256']}")
        print(f"wrote {out / RECORD_FILE}")


if __name__ == "__main__":
    main()
