"""`gan sample`: a checkpoint alone -> G rebuilt from the config stored in it -> sample files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from gan_cli import checkpoint, resolvers
from gan_cli.build import build_cond, build_models, build_regs, make
from gan_cli.cond.base import Unconditional, balanced
from gan_cli.errors import UserError, user_errors
from gan_cli.generate import generate, noise
from gan_cli.hooks import Hooks, hook_metrics, reports_metrics
from gan_cli.latent import Latent
from gan_cli.log import console, summary_table
from gan_cli.traverse import SWEEP, code_index, row_codes, traversal_noise
from gan_cli.validate import SAMPLE_RULES, check

resolvers.register()


def load_generator(state: dict[str, Any], device: torch.device) -> tuple[torch.nn.Module, Any, Any]:
    """G (in eval mode, on `device`), the data object and the latent prior described by a checkpoint."""
    run_cfg = OmegaConf.create(state["config"])
    data = make(run_cfg.data, "data")  # lazy: no data files are read
    latent = make(run_cfg.latent, "latent")
    cond = build_cond(run_cfg.get("cond"), data, latent)  # a conditional run's z ends in the classes' one-hot
    G, _ = build_models(run_cfg.model, state["arch"], cond)
    try:
        G.load_state_dict(state.get("G_sample", state["G"]))  # G's average, when the run kept one (reg ema)
    except (RuntimeError, KeyError) as e:
        raise UserError(f"the checkpoint's weights do not fit the model its config describes ({str(e).splitlines()[0]}); the file is damaged or was edited.") from None
    return G.to(device).eval(), data, latent


def load_hooks(state: dict[str, Any], device: torch.device) -> tuple[list[Hooks], torch.nn.Module]:
    """The run's hooks (its loss, tricks and conditioning) and its D (in eval mode, on `device`), rebuilt as
    training built them, for the hooks that add numbers to an evaluation (InfoGAN's Q reads codes back);
    ([], D unbuilt) when none does: D is then never needed."""
    run_cfg = OmegaConf.create(state["config"])
    hooks = [make(run_cfg.loss, "loss"), *build_regs(run_cfg.get("reg")), *conditioning_of(state).hooks()]
    if not reports_metrics(hooks):
        return [], torch.nn.Identity()
    data = make(run_cfg.data, "data")
    _, D = build_models(run_cfg.model, state["arch"])
    for hook in hooks:  # the same wraps in the same order, so the saved state's names and shapes fit
        D = hook.wrap_d(D, data.sample_shape)
    try:
        D.load_state_dict(state["D"])
    except (RuntimeError, KeyError) as e:
        raise UserError(f"the checkpoint's D does not fit the model its config describes ({str(e).splitlines()[0]}); the file is damaged or was edited.") from None
    return hooks, D.to(device).eval()


def conditioning_of(state: dict[str, Any]) -> Unconditional:
    """The checkpoint's conditioning (cond=none for a run from before conditioning existed)."""
    run_cfg = OmegaConf.create(state["config"])
    return build_cond(run_cfg.get("cond"), make(run_cfg.data, "data"), make(run_cfg.latent, "latent"))


def labels_for(cond: Unconditional, label: Any, n: int, ckpt: str) -> Any:
    """(n,) the classes to draw: label=7 or label=[1,2] (each in turn, as equal shares as n allows), or every class."""
    if not cond.conditional:
        if label is None:
            return None
        raise UserError(
            f"label={label} asks for a class, but {ckpt} holds an unconditional GAN (trained with cond=none), whose G "
            "takes no label. Drop label=, or train a conditional run on labelled data, e.g. gan train data=ring2d cond=projection."
        )
    wanted = list(range(cond.classes)) if label is None else [label] if isinstance(label, int) else list(label)
    if bad := [c for c in wanted if not 0 <= c < cond.classes]:
        raise UserError(f"label={label}: {bad[0]} is not a class of this checkpoint, whose classes are 0 to {cond.classes - 1}. Give label= from that range.")
    return torch.tensor(wanted)[balanced(n, len(wanted))]


def sample(cfg: DictConfig, out: Path) -> dict[str, Any]:
    if OmegaConf.is_missing(cfg, "ckpt"):
        raise UserError("gan sample needs a checkpoint: gan sample ckpt=outputs/<run>/checkpoints/last.pt (or the run folder).")
    check(cfg, SAMPLE_RULES)
    state = checkpoint.load(cfg.ckpt)
    device = make(cfg.device, "device")
    labels = labels_for(conditioning_of(state), cfg.label, cfg.n, cfg.ckpt)
    G, data, latent = load_generator(state, device)
    if cfg.traverse is not None:
        return traversal(cfg, state, G, data, latent, device, out)
    fake = generate(G, latent, cfg.n, cfg.seed, device, by_code=labels is None, labels=labels)  # by code: a grid shows each code together
    files = data.save_samples(fake, out, labels)
    if labels is not None:
        (out / "labels.txt").write_text("".join(f"{c}\n" for c in labels.tolist()))
        files.append(out / "labels.txt")
    elif latent.categories:
        codes = out / "codes.txt"
        codes.write_text("".join(f"{c}\n" for c in latent.code(noise(latent, cfg.n, cfg.seed, by_code=True)).tolist()))
        files.append(codes)
    stats = data.describe(fake)
    rows: dict[str, Any] = {"checkpoint": f"{cfg.ckpt} (step {state.get('step')})", "samples": cfg.n}
    if labels is not None:
        rows["classes"] = ", ".join(str(c) for c in sorted(set(labels.tolist()))) + " (labels.txt gives each sample's)"
    elif latent.categories:
        rows["order"] = f"by the categorical code (0 to {latent.categories - 1}), as codes.txt lists"
    if "target_mean" in stats:
        rows["mean"] = f"{stats['mean']:.4f}  (target {stats['target_mean']:.4f})"
        rows["std"] = f"{stats['std']:.4f}  (target {stats['target_std']:.4f})"
    else:
        rows |= stats
    rows |= {f"wrote {p.name}": str(p) for p in files}
    console.print(summary_table("gan sample", rows))
    return {"files": files, **stats}


def traversal(cfg: DictConfig, state: dict[str, Any], G: torch.nn.Module, data: Any, latent: Latent, device: torch.device, out: Path) -> dict[str, Any]:
    """`traverse=cK`: one row per code value (or class), continuous code K swept over the columns (InfoGAN's Figure 2)."""
    k = code_index(cfg.traverse, latent, cfg.ckpt)
    codes = row_codes(latent, cfg.label, cfg.rows)
    z = traversal_noise(latent, k, codes, cfg.rows, cfg.columns, cfg.seed)
    with torch.no_grad():
        fake = torch.cat([G(part.to(device)).float() for part in z.split(4096)])
    files = data.save_traversal(fake, cfg.columns, out)
    what = "class" if conditioning_of(state).conditional else "categorical code"
    rows_are = f"{what} " + ", ".join(str(c) for c in codes.tolist()) if codes is not None else f"{cfg.rows} noise draws (seed {cfg.seed})"
    lo, hi = SWEEP
    table = {
        "checkpoint": f"{cfg.ckpt} (step {state.get('step')})",
        "rows": rows_are,
        "columns": f"{cfg.traverse} from {lo:g} to {hi:g} in {cfg.columns} steps; the rest of z fixed (seed {cfg.seed})",
    }
    console.print(summary_table("gan sample: traversal", table | {f"wrote {p.name}": str(p) for p in files}))
    return {"files": files}


@hydra.main(version_base="1.3", config_path="pkg://gan_cli.conf", config_name="sample")
def main(cfg: DictConfig) -> None:
    with user_errors():
        sample(cfg, Path(HydraConfig.get().runtime.output_dir))
