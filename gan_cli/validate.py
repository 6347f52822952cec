"""Check the loop's options before any work starts; each message names the key, the value and what is allowed."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from gan_cli.errors import UserError
from gan_cli.precision import MODES

Rule = tuple[str, Callable[[Any], bool], str]


def _int(lo: int, hi: int | None = None) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= lo and (hi is None or v <= hi)


def _positive_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _betas(v: Any) -> bool:
    return (
        isinstance(v, (list, tuple))
        and len(v) == 2
        and all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in v)
    )


def _node(v: Any) -> bool:
    return isinstance(v, dict)


NODE = "a group of options (set them one by one: KEY.OPTION=VALUE), not a single value"

TRAIN_RULES: list[Rule] = [
    *((key, _node, NODE) for key in ("data", "model", "loss", "cond", "device", "latent", "optim", "optim.g", "optim.d", "eval", "divergence")),
    ("seed", _int(0), "a whole number >= 0"),
    ("population", _int(1, 100_000), "a whole number from 1 (an ordinary run) to 100000"),
    ("member_pictures", _int(0), "a whole number >= 0 (0: no member of a population draws pictures)"),
    ("steps", _int(1), "a whole number >= 1"),
    ("batch_size", _int(1, 2**20), "a whole number from 1 to 1048576"),
    ("d_steps", _int(1), "a whole number >= 1"),
    ("g_steps", _int(1), "a whole number >= 1"),
    ("amp", lambda v: v in MODES, "none, bf16 (bfloat16, CPU or CUDA) or fp16 (float16 with gradient scaling, CUDA)"),
    ("optim.g.lr", _positive_number, "a finite number > 0, e.g. 2e-4"),
    ("optim.d.lr", _positive_number, "a finite number > 0, e.g. 2e-4"),
    ("optim.g.betas", _betas, "two numbers in [0, 1), e.g. [0.5,0.999]"),
    ("optim.d.betas", _betas, "two numbers in [0, 1), e.g. [0.5,0.999]"),
    ("lr_decay", lambda v: v in ("none", "linear"), "none or linear"),
    ("sync_bn", lambda v: isinstance(v, bool), "true or false"),
    ("threads", lambda v: v is None or _int(1, 1024)(v), "null (torch's default) or a whole number from 1 to 1024"),
    ("objective", lambda v: v is None or (isinstance(v, str) and v.startswith("eval.") and len(v) > 5), "null or a final metric, eval.NAME (e.g. eval.w1)"),
    ("log_every", _int(1), "a whole number >= 1"),
    ("sample_every", _int(1), "a whole number >= 1"),
    ("ckpt_every", _int(1), "a whole number >= 1"),
    ("keep_ckpts", _int(0), "a whole number >= 0"),
    ("preview_n", _int(1, 10_000), "a whole number from 1 to 10000"),
    ("resume", lambda v: v is None or (isinstance(v, str) and v != ""), "null, auto, or the path of a checkpoint or run folder"),
    ("divergence.retries", _int(0), "a whole number >= 0"),
    ("divergence.lr_factor", lambda v: _positive_number(v) and v < 1, "a number between 0 and 1 (exclusive), e.g. 0.5"),
    ("eval.every", _int(1), "a whole number >= 1"),
    ("eval.n", _int(0, 1_000_000), "a whole number from 0 to 1000000 (0 skips the final evaluation)"),
    ("eval.n_during", _int(0, 1_000_000), "a whole number from 0 to 1000000 (0 skips evaluations during training)"),
    ("dry_run", lambda v: isinstance(v, bool), "true or false"),
]

def _path(v: Any) -> bool:
    return isinstance(v, str) and v != ""


SAMPLE_RULES: list[Rule] = [
    ("device", _node, NODE),
    ("ckpt", _path, "the path of a checkpoint file or of a run folder"),
    ("n", _int(1, 1_000_000), "a whole number from 1 to 1000000"),
    ("seed", _int(0), "a whole number >= 0"),
    ("out", _path, "the folder for the files"),
    ("label", lambda v: v is None or _int(0)(v) or (isinstance(v, list) and len(v) > 0 and all(_int(0)(c) for c in v)), "null (every class) or a class, e.g. label=7, or a list, e.g. label=[1,2]"),
    ("traverse", lambda v: v is None or (isinstance(v, str) and v != ""), "null (n samples) or a continuous code, e.g. traverse=c1"),
    ("columns", _int(2, 1000), "a whole number from 2 to 1000"),
    ("rows", _int(1, 1000), "a whole number from 1 to 1000"),
]
TRAVERSAL_KEYS = ("label", "traverse", "columns", "rows")  # gan sample's own: gan eval draws no traversal and no class


EVAL_RULES: list[Rule] = [
    *(rule for rule in SAMPLE_RULES if rule[0] not in TRAVERSAL_KEYS),
    ("draws", _int(1, 100), "a whole number from 1 to 100"),
    ("data_root", lambda v: v is None or _path(v), "null (the checkpoint's data.root) or a folder"),
]

_ABSENT = object()


def _check_known(cfg: DictConfig, rules: list[Rule], extra: tuple[str, ...]) -> None:
    # Hydra accepts any +KEY=VALUE, so a misspelt option (+stpes=100) would otherwise be ignored without a word.
    known = {key.split(".")[0] for key, _, _ in rules} | set(extra)
    unknown = sorted(set(cfg.keys()) - known)
    if unknown:
        raise UserError(
            f"{', '.join(unknown)} {'is not an option' if len(unknown) == 1 else 'are not options'} here; "
            f"check the spelling against --help. The options are: {', '.join(sorted(known))}."
        )


def check(cfg: DictConfig, rules: list[Rule], extra: tuple[str, ...] = ()) -> None:
    """Check every rule, and that the config has no top-level key outside the rules and `extra`."""
    _check_known(cfg, rules, extra)
    for key, ok, allowed in rules:
        try:
            value = OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=True)
        except MissingMandatoryValue:
            raise UserError(f"{key} has no value; give one on the command line: {key}=... ({allowed}).") from None
        if value is _ABSENT:
            if key.startswith("optim."):
                continue  # an optimiser without this option (SGD has no betas)
            raise UserError(f"{key} is missing from the config; add it with +{key}=... ({allowed}).")
        plain = OmegaConf.to_object(value) if OmegaConf.is_config(value) else value
        if not ok(plain):
            raise UserError(f"{key}={plain!r} is not allowed: {key} must be {allowed}.")
