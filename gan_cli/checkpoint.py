"""Checkpoints that describe themselves: enough, alone, to resume a run or to sample from it.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads
with `torch.load(weights_only=True)`: no code in a checkpoint file is ever run.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from gan_cli import __version__
from gan_cli.errors import UserError

FORMAT = "gan-cli checkpoint"
FORMAT_VERSION = 2  # bump when the layout changes; load() refuses newer layouts by name
RESUMABLE_SINCE = 2  # format 1 lacked the data stream's position, so it can be sampled from but not resumed
LAST = "last.pt"


def make(**parts: Any) -> dict[str, Any]:
    """Wrap the run's parts with what identifies the file (format, versions)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "gan_cli_version": __version__,
        "torch_version": str(torch.__version__),  # a TorchVersion object would not load safely
        **parts,
    }


def save(state: dict[str, Any], path: Path) -> None:
    """Write atomically: a temporary file in the same folder, fsync, then rename over `path`.

    A kill at any moment leaves either the old file or the new one, never half of one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


class Folder:
    """A run's checkpoints/: last.pt after every save, plus the newest `keep` periodic step_*.pt files."""

    def __init__(self, folder: Path, keep: int) -> None:
        self.folder, self.keep = folder, keep
        self.last = folder / LAST
        for stale in folder.glob(".*.tmp"):  # half-written files of a process that was killed mid-save
            stale.unlink(missing_ok=True)

    def periodic(self) -> list[tuple[int, Path]]:
        """The step_*.pt files with their steps, oldest first: by the number, as step_10000000 follows step_9999999."""
        steps = ((p.stem.removeprefix("step_"), p) for p in self.folder.glob("step_*.pt"))
        return sorted((int(s), p) for s, p in steps if s.isdecimal())

    def set_aside_after(self, step: int) -> Path | None:
        """Move the periodic checkpoints of steps after `step` into superseded_at_step_<step>/ and return that folder.

        A run continued from an earlier checkpoint of its own folder starts a new history at `step`
        (TensorBoard drops its later events too); the old later files would otherwise pass for the new
        history's, and be pruned in its place. They are kept aside, not deleted: nothing is lost.
        """
        later = [p for s, p in self.periodic() if s > step]
        if not later:
            return None
        aside, n = self.folder / f"superseded_at_step_{step}", 2
        while aside.exists():  # going back to the same step twice: the first set stays as it was
            aside, n = self.folder / f"superseded_at_step_{step}_{n}", n + 1
        aside.mkdir()
        for path in later:
            os.replace(path, aside / path.name)
        return aside

    def save(self, state: dict[str, Any], step: int, periodic: bool = True) -> None:
        """Write last.pt (and step_*.pt); a failed write raises UserError and leaves the previous files as they were."""
        try:
            save(state, self.last)
            if periodic and self.keep > 0:
                save(state, self.folder / f"step_{step:07d}.pt")
                for _, old in self.periodic()[: -self.keep]:
                    old.unlink()
        except OSError as e:
            kept = (
                f"the previous {self.last} is intact; once that is fixed, continue with `gan train resume={self.folder.parent}`"
                if self.last.is_file()
                else "no earlier checkpoint of this run exists"
            )
            raise UserError(
                f"could not write the step-{step} checkpoint into {self.folder} ({e.strerror or e}); {kept}. "
                "Free disk space or make the folder writable."
            ) from None


def _fsync_dir(folder: Path) -> None:
    # The rename itself is only durable once the folder's entry is on disk.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def resolve(path: str | os.PathLike[str], key: str = "ckpt") -> Path:
    """A checkpoint file, or a run folder whose checkpoints/last.pt is meant; `key` names the option in messages."""
    p = Path(path).expanduser()
    if p.is_dir():
        for candidate in (p / "checkpoints" / LAST, p / LAST):
            if candidate.is_file():
                return candidate
        runs = sorted((m for m in p.glob("seed=*") if (m / "checkpoints" / LAST).is_file()), key=lambda m: (len(m.name), m.name))
        if runs:  # a population's (or a seed sweep's) folder: each member is a run of its own
            names = ", ".join(m.name for m in runs[:3]) + (", ..." if len(runs) > 3 else "")
            raise UserError(f"{key}={str(p)!r} holds {len(runs)} runs ({names}), each with checkpoints of its own. Give one of them, e.g. {key}={runs[0]}.")
        raise UserError(f"{key}={str(p)!r} is a folder with no checkpoints/{LAST} in it. Give a .pt file or a run folder.")
    if not p.exists():
        raise UserError(f"{key}={str(p)!r} does not exist. Give the path of a checkpoint, e.g. outputs/<run>/checkpoints/{LAST}.")
    return p


def load(path: str | os.PathLike[str], key: str = "ckpt") -> dict[str, Any]:
    """Read a checkpoint safely and check that it is one of ours, or explain why not."""
    p = resolve(path, key)
    try:
        with warnings.catch_warnings():  # torch's notes on odd pickles would only bury our message
            warnings.simplefilter("ignore")
            state = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "unsupported global" in str(e).lower():  # it names a callable: loading it would run code
            raise UserError(
                f"refused to load {str(p)!r}: it holds Python objects that would run code when unpickled, "
                "and gan-cli only reads plain tensors and numbers. Use a checkpoint written by gan train."
            ) from None
        raise UserError(f"{str(p)!r} is not a readable checkpoint (corrupt or not a PyTorch file). Use a checkpoint written by gan train.") from None
    except Exception:  # truncated zip, empty file, random bytes: torch raises many kinds
        raise UserError(
            f"{str(p)!r} is not a readable checkpoint: the file is empty, truncated or not a PyTorch file. "
            f"Use another checkpoint of the run (its checkpoints/ folder keeps {LAST} and the latest periodic ones)."
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"{str(p)!r} is a PyTorch file but not a gan-cli checkpoint. Use a checkpoint written by gan train.")
    version = state.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise UserError(
            f"{str(p)!r} uses checkpoint format {version!r}, written by gan-cli {state.get('gan_cli_version')}; "
            f"this gan-cli ({__version__}) reads format {FORMAT_VERSION} and older. Upgrade gan-cli to read it."
        )
    for key, kind in (("config", dict), ("arch", dict), ("G", dict), ("step", int)):
        if not isinstance(state.get(key), kind):
            raise UserError(f"{str(p)!r} is a gan-cli checkpoint without a valid `{key}` entry: it is damaged or was edited. Use another checkpoint of the run.")
    _upgrade(state["config"])
    return state


def _upgrade(config: dict[str, Any]) -> None:
    """Spell out options that older checkpoints hold only implicitly, as the defaults of their day."""
    model = config.get("model")
    if isinstance(model, dict) and model.get("_target_") == "gan_cli.models.dcgan.build":
        model.setdefault("fc", 0)  # written before model.fc existed: the all-convolutional DCGAN
