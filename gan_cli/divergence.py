"""What a run does when its losses or weights stop being finite: stop, or roll back with lower rates and go on."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from gan_cli import checkpoint
from gan_cli.interrupt import stop_on_signals
from gan_cli.log import RunLog, console
from gan_cli.loop import LoopResult, Trainer
from gan_cli.saving import RunCheckpoints


def train_with_retries(
    trainer: Trainer, logs: list[RunLog], ckpts: list[RunCheckpoints], cfg: DictConfig
) -> tuple[list[LoopResult], list[dict[str, Any]]]:
    """Run the loop (`logs`, `ckpts`: each member's); after a divergence of an ordinary run roll back at most
    `divergence.retries` times. Returns each member's result and the retries."""
    # Where to go back to if the run diverges before it has written a checkpoint. Its config records
    # the rates it holds, as a checkpoint's does.
    start = copy.deepcopy(trainer.state_dict() | {"config": ckpts[0].resolved}) if cfg.divergence.retries else None
    retries: list[dict[str, Any]] = []
    while True:
        with stop_on_signals(trainer):
            results = trainer.run(logs, lambda step: [c.save(step) for c in ckpts])
        if results[0].status != "diverged" or len(retries) >= cfg.divergence.retries:  # retries: ordinary runs only
            return results, retries
        last = ckpts[0].last if ckpts[0].wrote_one else start
        retries.append(roll_back(trainer, last, results[0], cfg.divergence.lr_factor, ckpts[0].resolved))
        logs[0].restart(purge_step=trainer.step + 1)


def roll_back(trainer: Trainer, to: Path | dict[str, Any], result: LoopResult, factor: float, resolved: dict[str, Any]) -> dict[str, Any]:
    """Back to the last good state, with both learning rates multiplied by `factor`; returns the retry's record."""
    # A copy of the in-memory state: loading may alias its tensors, and training would then change them.
    state = checkpoint.load(to) if isinstance(to, Path) else copy.deepcopy(to)
    trainer.load_state_dict(state)
    for net in ("g", "d"):  # the checkpoint's config must say the rates the run goes on with
        resolved["optim"][net]["lr"] *= factor
        # The state may predate earlier retries (the start, or a checkpoint written before them), so its
        # optimiser goes from the rate it was saved with to the lowered one, however many factors apart.
        saved = state["config"]["optim"][net]["lr"]
        if saved > 0:
            trainer.scale_lr(resolved["optim"][net]["lr"] / saved, net)
    console.print(
        f"[bold yellow]diverged[/] at step {result.diverged_at}: back to step {trainer.step} with learning rates "
        f"x{factor} (optim.g.lr {resolved['optim']['g']['lr']:.3g}, optim.d.lr {resolved['optim']['d']['lr']:.3g})"
    )
    return {"diverged_at": result.diverged_at, "back_to": trainer.step, "lr_g": resolved["optim"]["g"]["lr"], "lr_d": resolved["optim"]["d"]["lr"]}
