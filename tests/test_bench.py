"""`make bench` (benchmarks/speed.py) keeps running: its quick mode end to end, and every row's bare loop. No timings
are checked: a test machine's are meaningless."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import bare_loop
from benchmarks.speed import ROWS, Row
from tests.mnist_files import write_mnist

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # about 8 whole processes: 1-2 minutes on 2 cores
def test_the_quick_benchmark_prints_its_table(tmp_path: Path) -> None:
    rows = [1, 3]  # the 1-D default and the default DCGAN: rates, FLOPs, start-up and both evaluation rows
    table = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--quick", "--rows", *map(str, rows), "--json", str(table)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "gan-cli against a bare PyTorch loop" in done.stdout
    got = json.loads(table.read_text())
    assert "GFLOP/s" in got["title"] and got["columns"][2:5] == ["gan-cli", "bare PyTorch", "ratio"]
    by_what = [(r[0], r[1]) for r in got["rows"]]
    trained = [ROWS[i - 1].command for i in rows]
    assert by_what[:2] == [("training, rounds/s", c) for c in trained]
    for r in got["rows"][:2]:  # a ratio is gan-cli's rate over the bare loop's, both measured
        assert float(r[4].rstrip("x")) == pytest.approx(float(r[2]) / float(r[3]), rel=0.01, abs=0.006)
    assert "% of the matmul rate" in got["rows"][1][6]  # the DCGAN row's share of the machine's peak
    assert by_what[2] == ("start-up, whole process", "gan train steps=1") and "import torch" in got["rows"][2][3]
    assert [w for w, _ in by_what[3:]] == ["evaluation during training (64 samples)"] * 2
    assert [c for _, c in by_what[3:]] == trained


@pytest.mark.parametrize("row", ROWS, ids=[r.command for r in ROWS])
def test_each_rows_bare_loop_trains(row: Row, tmp_path: Path) -> None:
    data = [f"data.root={write_mnist(tmp_path)}", "data.download=false"] if row.mnist else []
    one_round, device = bare_loop.setup(bare_loop.config([*row.overrides, *data, *row.quick, "batch_size=8", "threads=1", "device=cpu"]))
    one_round(), one_round()  # a D step and a G step each, with every part the row has (Q, EMA, decay)
    assert device.type == "cpu"
