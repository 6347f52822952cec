"""The evaluation rows of benchmarks/speed.py: what one evaluation during training costs, and its share of a default run."""

from __future__ import annotations

import time

import torch

from benchmarks import bare_loop
from gan_cli.loop import Trainer
from gan_cli.train import loop_options, prepare


def timed_evaluation(trainer: Trainer, n: int) -> float:
    start = time.perf_counter()
    trainer.evaluate(n)
    trainer.step += 1  # the trainer keeps the last step's result: the next call must compute afresh
    return time.perf_counter() - start


def evaluation_row(command: str, overrides: list[str], rate: float) -> list[str]:
    """A table row for `command` (run with `overrides`): the first evaluation during training (it also makes what
    every later one reuses), a later one, and the share of the default run's time that its evaluations take at
    `rate` rounds per second."""
    cfg = bare_loop.config(overrides)
    threads = torch.get_num_threads()
    trainer = Trainer(prepare(cfg), loop_options(cfg))  # prepare sets the run's threads, as gan train does
    first, later = timed_evaluation(trainer, cfg.eval.n_during), timed_evaluation(trainer, cfg.eval.n_during)
    torch.set_num_threads(threads)
    count = cfg.steps // cfg.eval.every + (cfg.steps % cfg.eval.every != 0)  # and one at the last step
    spent = first + (count - 1) * later
    share = spent / (spent + cfg.steps / rate)
    what = f"evaluation during training ({cfg.eval.n_during:,} samples)"
    return [what, command, f"{later:.2f} s (the first {first:.2f} s)", "", "", "", f"{count} in a default run: {share:.1%} of its time"]
