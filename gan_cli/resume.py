"""`gan train resume=...`: which checkpoint a run continues from, and the config it continues with.

The continued run takes the checkpoint's own config and puts this command line's overrides on top,
so `gan train resume=RUN steps=20000` needs no repeating of the original settings. What makes the
checkpoint's tensors what they are (data, model, latent, seed, ...) may not change.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from gan_cli import checkpoint
from gan_cli.errors import UserError
from gan_cli.overrides import parse_overrides

if TYPE_CHECKING:
    from gan_cli.loop import Trainer

# Changing one of these would not continue the same run: the weights, the optimiser state or the
# RNG streams would no longer fit; nor may the list of tricks (reg) change. Everything else (steps,
# intervals, learning rates, the tricks' options, loss, device, amp) may change.
FROZEN = ("data", "model", "latent", "seed", "lr_decay", "optim.g._target_", "optim.d._target_", "cond.g")  # cond.g changes G's layers
FROZEN_GROUPS = ("data", "model", "cond")


def run_dir(resume: Any, default: str) -> str:
    """The folder a run writes to (hydra.run.dir): a resumed run's own folder, else `default`."""
    if resume in (None, "auto") or not isinstance(resume, str):
        return default
    p = Path(resume).expanduser()
    if p.is_dir():
        return str(p)
    if p.parent.name == "checkpoints":  # <run>/checkpoints/last.pt or step_*.pt
        return str(p.parent.parent)
    return default  # a loose checkpoint file: continue into a new folder


def find(resume: Any, folder: Path) -> Path | None:
    """The checkpoint to continue from, or None to start afresh (resume=null, or auto with none yet)."""
    if resume is None:
        return None
    if not isinstance(resume, str) or not resume:
        raise UserError(f"resume={resume!r} is not allowed: give a checkpoint, a run folder, or auto (this run folder's last checkpoint, if any).")
    if resume == "auto":
        last = folder / "checkpoints" / checkpoint.LAST
        return last if last.is_file() else None
    return checkpoint.resolve(resume, key="resume")


def load(path: Path) -> dict[str, Any]:
    state = checkpoint.load(path, key="resume")
    if state["format_version"] < checkpoint.RESUMABLE_SINCE:
        raise UserError(
            f"{str(path)!r} was written by gan-cli {state.get('gan_cli_version')}, which did not save the data order, "
            "so the run cannot be continued exactly. It can still be sampled (gan sample) and evaluated (gan eval)."
        )
    return state


def continued_config(state: dict[str, Any], cfg: DictConfig, overrides: list[str]) -> tuple[DictConfig, dict[str, str], list[str]]:
    """The checkpoint's config with the command line's overrides applied; also the group choices and
    the run's overrides (the original ones, updated by the new), as metrics.json records them."""
    saved = OmegaConf.create(state["config"])
    merged = OmegaConf.create(state["config"])
    choices = dict(state.get("choices", {}))
    for o in parse_overrides(overrides):
        key = o.key_or_group
        if key == "resume" or key.startswith("hydra"):
            continue
        if key in choices:  # a config group: data=, model=, loss=, device=
            if o.value() == choices[key]:
                continue
            if key in FROZEN_GROUPS:
                raise UserError(
                    f"cannot resume with {key}={o.value()}: the checkpoint was trained with {key}={choices[key]}. "
                    f"Drop the {key}= override, or start a new run without resume=."
                )
            choices[key] = str(o.value())
            merged[key] = cfg[key]
        elif o.is_delete():
            parent, _, leaf = key.rpartition(".")
            node = OmegaConf.select(merged, parent) if parent else merged
            if isinstance(node, DictConfig) and leaf in node:
                del node[leaf]
        else:
            value = OmegaConf.select(cfg, key)
            OmegaConf.update(merged, key, OmegaConf.to_container(value) if OmegaConf.is_config(value) else value, merge=False, force_add=True)
    merged.resume = cfg.resume
    for key in cfg:  # options a newer gan-cli added since the checkpoint was written take their defaults
        if key not in merged:
            merged[key] = cfg[key]
    changed = [k for k in FROZEN if OmegaConf.select(saved, k) != OmegaConf.select(merged, k)]
    if list(saved.get("reg") or {}) != list(merged.get("reg") or {}):  # the tricks' options may change, not which
        changed.append("reg")
    if changed:
        diffs = "; ".join(f"{k}: {OmegaConf.select(saved, k)} in the checkpoint, {OmegaConf.select(merged, k)} now" for k in changed)
        raise UserError(f"cannot resume with a different {', '.join(changed)} ({diffs}). Drop those overrides, or start a new run without resume=.")
    return merged, choices, merged_overrides(list(state.get("overrides", [])), overrides)


def merged_overrides(old: list[str], new: list[str]) -> list[str]:
    """The original run's overrides, each replaced by a new one for the same key (resume= itself left out)."""
    by_key = {o.key_or_group: o.input_line for o in parse_overrides(old)}
    by_key |= {o.key_or_group: o.input_line for o in parse_overrides(new) if o.key_or_group != "resume"}
    return list(by_key.values())


def lr_factors(saved: dict[str, Any], merged: DictConfig) -> dict[str, float]:
    """How the continued config scales the learning rate of G ("g") and D ("d"), where it changed it.

    A factor, not a value: the optimiser's current rate may already be decayed or lowered after a divergence.
    """
    factors = {}
    for net in ("g", "d"):
        old, new = saved["optim"][net].get("lr"), OmegaConf.select(merged, f"optim.{net}.lr")
        if isinstance(old, (int, float)) and isinstance(new, (int, float)) and old > 0 and new != old:
            factors[net] = float(new) / float(old)
    return factors


def continue_from(trainer: Trainer, state: dict[str, Any], cfg: DictConfig) -> None:
    """Put a checkpoint's state into a freshly built trainer, then apply what the command line changed."""
    try:
        trainer.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError, TypeError) as e:
        raise UserError(f"the checkpoint does not fit the run it describes ({str(e).splitlines()[0] if str(e) else type(e).__name__}): it is damaged or was edited. Resume from another checkpoint of the run.") from None
    for net, factor in lr_factors(state["config"], cfg).items():
        trainer.scale_lr(factor, net)
    for net, opt in (("g", trainer.exp.opt_g), ("d", trainer.exp.opt_d)):
        for key, value in cfg.optim[net].items():  # betas, eps, ...: the config says what they are now
            if key not in ("_target_", "_partial_", "lr"):
                for group in opt.param_groups:
                    if key in group:
                        group[key] = tuple(value) if OmegaConf.is_list(value) else value


def record_config(run_dir: Path, cfg: DictConfig, overrides: list[str]) -> None:
    """Hydra has just written the resuming command's own config into .hydra/; the run's is the continued one."""
    hydra_dir = run_dir / ".hydra"
    if (hydra_dir / "config.yaml").is_file():
        OmegaConf.save(cfg, hydra_dir / "config.yaml")
        OmegaConf.save(OmegaConf.create(overrides), hydra_dir / "overrides.yaml")
