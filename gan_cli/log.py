"""Where a run reports: TensorBoard event files, a rich progress bar, and the final summary table."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

# The writer, the bar and the tables are imported where they are made: `gan report` and `gan --help` need none of them.
if TYPE_CHECKING:
    from rich.progress import Progress
    from rich.table import Table
    from torch.utils.tensorboard import SummaryWriter

console = Console(highlight=False, soft_wrap=True)
logger = logging.getLogger("gan_cli")  # goes to the run folder's train.log (see hydra.job_logging in conf/)


class RunLog:
    """One run's TensorBoard writer (events under `run_dir/tb`) and its terminal output."""

    def __init__(self, run_dir: Path, purge_step: int | None = None) -> None:
        """`purge_step`: a continued run's first new step; readers drop the earlier events from it on,
        which a killed or diverged run had logged past its checkpoint, so no step appears twice."""
        self.tb_dir = run_dir / "tb"
        self.writer = open_writer_read_last(self.tb_dir, purge_step)

    def restart(self, purge_step: int) -> None:
        """Go on logging from an earlier step (after a roll-back)."""
        self.close()
        self.writer = open_writer_read_last(self.tb_dir, purge_step)

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)
        logger.info("step %d: %s", step, "  ".join(f"{k}={v:.5g}" for k, v in values.items()))

    def evaluation(self, step: int, metrics: Mapping[str, Any], n: int) -> None:
        """The numbers of an evaluation of `n` samples of G as eval/* scalars (flags as 0/1; lists and provenance
        left out), with eval/n: FD and precision/recall move with n, so a curve must hold one n throughout."""
        if metrics:
            self.scalars(step, {"eval/n": float(n)} | {f"eval/{k}": v for k, v in metric_numbers(metrics).items()})

    def hparams(self, hparams: Mapping[str, Any], metrics: Mapping[str, float], step: int) -> None:
        """The run's settings with its final numbers, for TensorBoard's HParams view of a sweep."""
        from torch.utils.tensorboard.summary import hparams as hparams_summaries

        finite = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
        # A continued run ends again: TensorBoard would show the first record it finds, so the earlier end's goes.
        for old in self.tb_dir.glob("events.out.tfevents.*"):
            if _holds_hparams(old):
                old.unlink()
        # What SummaryWriter.add_hparams does, in a file of the run's own folder (add_hparams would make a sub-run)
        # that is read after the run's scalars; at the final step, so a record past the checkpoint a run continues
        # from (a diverged end) is purged like any other point.
        with open_writer_read_last(self.tb_dir, purge_step=None) as record:
            for summary in hparams_summaries(dict(hparams), finite):
                record.file_writer.add_summary(summary, step)
            for tag, value in finite.items():
                record.add_scalar(tag, value, step)

    @contextlib.contextmanager
    def progress(self, total: int, start: int) -> Iterator[ProgressBar]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        columns = (
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
        )
        # Off a terminal (CI, pipes) a live bar would print nothing useful; the summary says it all.
        with Progress(*columns, console=console, disable=not console.is_terminal, transient=False) as progress:
            task = progress.add_task("train", total=total, completed=start, stats="")
            yield ProgressBar(progress, task, total)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


class SilentLog(RunLog):
    """The log of a process that writes nothing (a torchrun rank other than 0): no files; its console is quiet."""

    def __init__(self) -> None:  # no writer, no folder
        pass

    def restart(self, purge_step: int) -> None:
        pass

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        pass

    def hparams(self, hparams: Mapping[str, Any], metrics: Mapping[str, float], step: int) -> None:
        pass

    def close(self) -> None:
        pass


def open_writer_read_last(tb_dir: Path, purge_step: int | None) -> SummaryWriter:
    """A TensorBoard writer whose new event file TensorBoard reads after every file already in `tb_dir`.

    TensorBoard reads a folder's files in the order of their names: the second, host, pid, then a counter, so two
    made in one second can come in the wrong order ("...vm.7.100" before "...vm.7.99"), and a continued run's purge
    would then wipe the points written after it. In that rare second, open again in the next."""
    from torch.utils.tensorboard import SummaryWriter

    while True:
        before = set(tb_dir.glob("events.out.tfevents.*"))
        writer = SummaryWriter(str(tb_dir), purge_step=purge_step)
        (new,) = set(tb_dir.glob("events.out.tfevents.*")) - before
        if all(new.name > old.name for old in before):
            return writer
        writer.close()
        new.unlink()
        time.sleep(1.01 - time.time() % 1)


def _holds_hparams(path: Path) -> bool:
    # RunLog.hparams writes its record (and the final/* points) through a writer of its own, into a file of its own,
    # whose first events (after the file's version) are the record: reading a run's whole log for it took longer
    # than a toy run's training.
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.plugins.hparams.metadata import SESSION_START_INFO_TAG as HPARAMS_TAG

    head = itertools.islice(EventFileLoader(str(path)).Load(), 4)
    return any(v.tag == HPARAMS_TAG for event in head for v in event.summary.value)


class ProgressBar:
    """A live bar on a terminal; elsewhere (CI, a file) a plain line at every tenth of the run."""

    def __init__(self, progress: Progress, task: Any, total: int) -> None:
        self._progress, self._task, self._total = progress, task, total
        self._next_line = 0

    def update(self, step: int, stats: str) -> None:
        self._progress.update(self._task, completed=step, stats=stats)
        if self._progress.disable and step >= self._next_line:
            console.print(f"step {step}/{self._total}  {stats}")
            self._next_line = step + max(1, self._total // 10)


def summary_table(title: str, rows: Mapping[str, Any]) -> Table:
    from rich.table import Table

    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    return table


def metric_numbers(ev: Mapping[str, Any], flags: bool = True) -> dict[str, float]:
    """An evaluation's metrics as numbers: no provenance (n, n_*) or target constants; flags as 0/1 unless flags=False."""
    return {
        k: float(v)
        for k, v in ev.items()
        if isinstance(v, (int, float)) and (flags or not isinstance(v, bool)) and k != "n" and not k.startswith(("n_", "target_"))
    }


def evaluation_rows(ev: dict[str, Any]) -> dict[str, Any]:
    """An evaluation as table rows: G's moments against the target's, then every other number."""
    rows: dict[str, Any] = {}
    for key in ("mean", "std"):
        if f"target_{key}" in ev:
            off = abs(ev[key] - ev[f"target_{key}"])
            rows[f"G {key}"] = f"{ev[key]:.3f}  (target {ev[f'target_{key}']:.3f}, off by {off:.3f})"
    skip = {"mean", "std", "n", "collapsed"} | {k for k in ev if k.startswith("target_") or k.startswith("n_")}
    rows |= {k: v for k, v in ev.items() if k not in skip and not isinstance(v, (list, dict))}
    if ev.get("floor"):
        rows["real-data floor"] = ", ".join(f"{k} {v:.4g}" for k, v in ev["floor"].items())
    return rows


def write_json(data: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys with scalar values, as TensorBoard's hparams want them (lists become text)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if key in ("_target_", "_partial_"):
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out |= flatten(value, f"{name}.")
        elif isinstance(value, (list, tuple)):
            out[name] = str(list(value))
        elif value is None:
            out[name] = "null"
        else:
            out[name] = value
    return out
