"""Training rounds per second for each data x model pair, on every device present.

    python benchmarks/steps_per_sec.py [--rounds 50] [--threads N]

Synthetic MNIST-format files stand in for MNIST, so nothing is downloaded.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_module
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gan_cli import resolvers  # noqa: E402
from gan_cli.build import build  # noqa: E402
from gan_cli.loop import LoopOptions, Trainer  # noqa: E402
from tests.mnist_files import write_mnist  # noqa: E402

PAIRS = [("gaussian", "mlp"), ("mnist", "mlp"), ("mnist", "dcgan")]


def rounds_per_sec(overrides: list[str], rounds: int) -> float:
    with initialize_config_module("gan_cli.conf", version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    exp = build(cfg)
    trainer = Trainer(exp, LoopOptions(steps=rounds, batch_size=cfg.batch_size, amp=cfg.amp), seed=0)
    for _ in range(5):  # warm-up: allocator, cuDNN autotuning
        trainer.d_step(), trainer.g_step()
    if exp.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(rounds):
        trainer.d_step(), trainer.g_step()
    if exp.device.type == "cuda":
        torch.cuda.synchronize()
    return rounds / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    resolvers.register()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    table = Table(title=f"training rounds per second (torch {torch.__version__}, {torch.get_num_threads()} CPU threads)")
    for column in ("data", "model", "device", "batch", "rounds/s"):
        table.add_column(column)
    with tempfile.TemporaryDirectory() as root:
        write_mnist(Path(root), n_train=2048)
        for data, model in PAIRS:
            for device in devices:
                extra = [f"data.root={root}", "data.download=false"] if data == "mnist" else []
                variants = [[]] + ([["amp=true"]] if device == "cuda" else [])
                for variant in variants:
                    overrides = [f"data={data}", f"model={model}", f"device={device}", *extra, *variant]
                    rate = rounds_per_sec(overrides, args.rounds)
                    label = device + (" amp" if variant else "")
                    batch = "128" if data == "gaussian" else "64"
                    table.add_row(data, model, label, batch, f"{rate:.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
