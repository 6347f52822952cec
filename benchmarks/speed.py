"""`make bench`: gan-cli's training rate beside a bare PyTorch loop of the same networks, in one table.

    python benchmarks/speed.py [--repeats 3] [--quick]

For each row, `gan train` runs as a user runs it (scalars logged every 50 rounds, progress, hooks and the finiteness
check of every round) and its rate is the run's own perf/steps_per_sec over the rounds after the first 50;
benchmarks/bare_loop.py trains the same networks, batch and algorithm in a plain loop, timed over the same rounds after
the same 50. Both run as fresh processes, one after the other, in alternating order; each figure is the median of
--repeats. Pictures, checkpoints and evaluations fall outside the timed rounds (sample_every, ckpt_every and
eval.every past the run); the cost of an evaluation is its own row. The DCGAN rows also give the FLOPs of a round (a
D step and a G step, counted by torch.utils.flop_counter) and the share of this machine's float32 matmul rate
(a 2048x2048 matmul, the best of a few) that gan-cli's rate reaches.
MNIST is synthetic (random digits in MNIST's file layout), so nothing is downloaded.
--quick: tiny networks, three rounds, one repeat: checks that the benchmark runs (tests/test_bench.py), times nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks import bare_loop  # noqa: E402
from benchmarks.evaluation import evaluation_row  # noqa: E402
from tests.mnist_files import write_mnist  # noqa: E402

COLUMNS = ["what", "command", "gan-cli", "bare PyTorch", "ratio", "FLOPs a round / batch", "share"]
WARMUP = 50  # rounds left out of every rate: the first log window of gan train, the warm-up of the bare loop


@dataclass
class Row:
    command: str  # what a user types
    steps: int  # rounds of each run: WARMUP, then the timed ones
    mnist: bool = True  # trains on MNIST: data.root=<synthetic files> data.download=false
    quick: list[str] = field(default_factory=list)  # --quick: smaller networks
    dcgan: bool = False  # report FLOPs and the share of the matmul rate
    evaluated: bool = False  # also price an evaluation during training

    @property
    def overrides(self) -> list[str]:
        return self.command.split()[2:]


SMALL = ["model.ngf=4", "model.ndf=4"]  # --quick's DCGAN
ROWS = [
    Row("gan train", 1050, mnist=False, evaluated=True),
    Row("gan train model=mlp data=mnist", 300, quick=["model.hidden=[16]", "model.d_hidden=[16]"]),
    Row("gan train model=dcgan loss=nonsat", 200, quick=[*SMALL, "model.fc=16"], dcgan=True, evaluated=True),
    Row("gan train model=dcgan loss=nonsat model.fc=0", 200, quick=SMALL, dcgan=True),
    Row("gan train experiment=mnist_infogan", 200, quick=[*SMALL, "model.fc=16"], dcgan=True),
]


class Bench:
    """Where the runs go and how big they are."""

    def __init__(self, work: Path, quick: bool, extra: list[str]) -> None:
        self.work, self.quick, self.extra = work, quick, extra
        self.mnist = write_mnist(work / "mnist", n_train=256 if quick else 60000, n_test=64 if quick else 10000)
        self.runs = 0

    def overrides(self, row: Row, evaluation: bool = False) -> list[str]:
        data = [f"data.root={self.mnist}", "data.download=false"] if row.mnist else []
        quick = [*row.quick, "batch_size=8", *(["eval.n_during=64"] if evaluation else [])] if self.quick else []
        return [*row.overrides, *data, *quick, *self.extra]

    def steps(self, row: Row) -> tuple[int, int]:
        """(rounds of each run, rounds per log window)."""
        return (3, 1) if self.quick else (row.steps, WARMUP)

    def gan_rate(self, row: Row) -> float:
        """Rounds per second of a real `gan train`, from its own log past the first window."""
        steps, every = self.steps(row)
        self.runs += 1
        run = self.work / f"run{self.runs}"
        off = steps + 1  # pictures, checkpoints and evaluations: only after the last timed round
        command = [sys.executable, "-m", "gan_cli", "train", *self.overrides(row), f"steps={steps}", f"log_every={every}"]
        command += [f"sample_every={off}", f"ckpt_every={off}", f"eval.every={off}", "eval.n=0", "eval.n_during=0", f"hydra.run.dir={run}"]
        subprocess.run(command, check=True, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL)
        windows = [float(line.rsplit("perf/steps_per_sec=", 1)[1]) for line in (run / "train.log").read_text().splitlines() if "perf/steps_per_sec=" in line]
        timed = windows[1:]  # every window holds `every` rounds
        return len(timed) / sum(1 / r for r in timed)

    def bare_rate(self, row: Row) -> float:
        steps, every = self.steps(row)
        command = [sys.executable, str(ROOT / "benchmarks" / "bare_loop.py"), f"--rounds={steps - every}", f"--warmup={every}", *self.overrides(row)]
        return float(subprocess.run(command, check=True, cwd=ROOT, env=_env(), capture_output=True, text=True).stdout)


def _env() -> dict[str, str]:
    # This checkout's gan_cli, whatever an installed one says; the terminal's width does not matter to a pipe.
    return os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def rates(bench: Bench, rows: list[Row], repeats: int) -> dict[str, tuple[float, float]]:
    """(gan-cli, bare loop) medians of each row; the rows take turns, and so do the two sides."""
    got: dict[str, tuple[list[float], list[float]]] = {row.command: ([], []) for row in rows}
    for r in range(repeats):
        for row in rows:
            gan, bare = got[row.command]
            if r % 2:
                bare.append(bench.bare_rate(row))
                gan.append(bench.gan_rate(row))
            else:
                gan.append(bench.gan_rate(row))
                bare.append(bench.bare_rate(row))
    return {k: (statistics.median(g), statistics.median(b)) for k, (g, b) in got.items()}


def matmul_rate(device: torch.device, repeats: int = 5) -> float:
    """FLOP/s of a 2048x2048 float32 matmul on `device` (torch's default threads): the best of `repeats` timings of 5."""
    a, b = torch.randn(2048, 2048, device=device), torch.randn(2048, 2048, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        for _ in range(5):
            a @ b
        sync()
        best = min(best, (time.perf_counter() - start) / 5)
    return 2 * 2048**3 / best


def round_flops(overrides: list[str]) -> tuple[float, int, torch.device]:
    """FLOPs of one training round of the bare loop (matrix products and convolutions, forward and backward: what
    torch.utils.flop_counter counts), its batch size, and the device the row trains on."""
    threads, cfg = torch.get_num_threads(), bare_loop.config(overrides)
    one_round, device = bare_loop.setup(cfg)
    one_round()
    with FlopCounterMode(display=False) as counter:
        one_round()
    torch.set_num_threads(threads)  # setup follows the config's threads
    return float(counter.get_total_flops()), cfg.batch_size, device


def seconds(command: list[str]) -> float:
    """Wall time of a whole process."""
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


STARTUP_RUNS = 7  # at least: a run takes seconds, and one slow start on a shared machine must not move the median


def startup(bench: Bench, repeats: int) -> tuple[float, float]:
    """(`gan train steps=1`, `python -c "import torch"`): whole processes taking turns (so a machine that slows down
    slows both), median wall seconds of each."""
    gan_command = [sys.executable, "-m", "gan_cli", "train", "steps=1", f"hydra.run.dir={bench.work / 'startup'}"]
    runs = 1 if bench.quick else max(repeats, STARTUP_RUNS)
    pairs = [(seconds(gan_command), seconds([sys.executable, "-c", "import torch"])) for _ in range(runs)]
    return statistics.median(g for g, _ in pairs), statistics.median(t for _, t in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side per row; the table gives medians")
    parser.add_argument("--quick", action="store_true", help="tiny networks, 3 rounds, 1 repeat: a check that it runs")
    parser.add_argument("--rows", nargs="*", type=int, default=[], metavar="N", help="only these training rows, counted from 1 (default: all)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides for every row, both sides (e.g. threads=1)")
    parser.add_argument("--json", type=Path, help="also write the table here: its title, columns and rows as text")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    rows = [row for i, row in enumerate(ROWS, 1) if not args.rows or i in args.rows]
    with tempfile.TemporaryDirectory(prefix="gan-bench-") as work:
        bench = Bench(Path(work), args.quick, args.set)
        measured = rates(bench, rows, repeats)
        flops = {row.command: round_flops(bench.overrides(row)) for row in rows if row.dcgan}
        device = next(iter(flops.values()))[2] if flops else torch.device("cpu")
        peak = matmul_rate(device)
        cells = [training_row(row.command, *measured[row.command], flops.get(row.command), peak) for row in rows]
        gan_s, torch_s = startup(bench, repeats)
        cells.append(["start-up, whole process", "gan train steps=1", f"{gan_s:.1f} s", f'{torch_s:.1f} s: python -c "import torch"', f"{gan_s / torch_s:.1f}x", "", ""])
        cells += [evaluation_row(row.command, bench.overrides(row, evaluation=True), measured[row.command][0]) for row in rows if row.evaluated]
    heading = title(device, peak, repeats)
    t = Table(title=heading, title_justify="left")
    for column in COLUMNS:
        t.add_column(column, justify="left" if column in ("what", "command", "share") else "right")
    for cell in cells:
        t.add_row(*cell)
    Console(width=200).print(t)
    if args.json:
        args.json.write_text(json.dumps({"title": heading, "columns": COLUMNS, "rows": cells}, indent=1))


def training_row(command: str, gan: float, bare: float, flops: tuple[float, int, torch.device] | None, peak: float) -> list[str]:
    extra = [f"{flops[0] / flops[1] / 1e6:.0f} M", f"{gan * flops[0] / peak:.1%} of the matmul rate"] if flops else ["", ""]
    return ["training, rounds/s", command, f"{gan:.2f}", f"{bare:.2f}", f"{gan / bare:.2f}x", *extra]


def title(device: torch.device, peak: float, repeats: int) -> str:
    where = f"{os.cpu_count()} CPUs ({cpu_name()})" if device.type == "cpu" else torch.cuda.get_device_name(device)
    return f"gan-cli against a bare PyTorch loop: torch {torch.__version__}, {where}, float32 matmul {peak / 1e9:.0f} GFLOP/s; medians of {repeats}"


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
