"""`gan eval`: a checkpoint -> G -> the data set's metrics on n samples -> a table and eval.json.

One draw of n noise vectors is itself a sample: on MNIST the classifier score of 10,000 images moves by
up to 0.07 from one draw to the next. `draws=K` scores K draws (seeds seed .. seed+K-1) and reports each
number's mean and its std over the draws, so a close call can be told from draw-to-draw noise.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from gan_cli import checkpoint, resolvers
from gan_cli.build import make
from gan_cli.errors import UserError, user_errors
from gan_cli.generate import generate, noise
from gan_cli.hooks import hook_metrics
from gan_cli.log import console, evaluation_rows, metric_numbers, summary_table, write_json
from gan_cli.sample import conditioning_of, load_generator, load_hooks
from gan_cli.validate import EVAL_RULES, check

resolvers.register()


def pool(draws: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, float]]:
    """Several draws' metrics as one: every number's mean over the draws (and, apart, its std); counts per
    class added up, measures per class averaged; `success` only if every draw succeeded, `collapsed` if any draw collapsed."""
    pooled: dict[str, Any] = {}
    for key, first in draws[0].items():
        values = [d[key] for d in draws]
        if isinstance(first, bool):
            pooled[key] = any(values) if key == "collapsed" else all(values)
        elif isinstance(first, (int, float)):
            same = all(v == first for v in values)  # n, n_real and an int that never moved stay as they were
            pooled[key] = first if same else statistics.fmean(values)
        elif isinstance(first, list):  # counts per class add up; a measure per class (fd_per_class) is averaged
            pooled[key] = [sum(c) if all(isinstance(v, int) for v in c) else statistics.fmean(c) for c in zip(*values)]
        else:  # provenance (the extractor's sha256, the reference split, the floor): the same in every draw
            pooled[key] = first
    spread = {k: statistics.stdev(float(d[k]) for d in draws) for k in metric_numbers(draws[0], flags=False)}
    return pooled, spread


def table_rows(result: dict[str, Any], spread: dict[str, float], n: int) -> dict[str, Any]:
    """The table's rows; with several draws each number reads "mean ± std"."""
    rows: dict[str, Any] = {"checkpoint": f"{result['checkpoint']} (step {result['step']})"}
    if spread:
        seeds = result["seeds"]
        rows["draws"] = f"{len(seeds)} of n={n} (noise seeds {seeds[0]}..{seeds[-1]}): mean ± std over the draws"
    for key, value in evaluation_rows(result["eval"]).items():
        name = key.removeprefix("G ")  # the 1-D rows "G mean" and "G std" come with their target
        if name not in spread:
            rows[key] = value
        elif isinstance(value, (int, float)):
            rows[key] = f"{value:.4g} ± {spread[name]:.2g}"
        else:
            rows[key] = f"{value}; ± {spread[name]:.2g} over the draws"
    return rows


def evaluate(cfg: DictConfig, out: Path) -> dict[str, Any]:
    if OmegaConf.is_missing(cfg, "ckpt"):
        raise UserError("gan eval needs a checkpoint: gan eval ckpt=outputs/<run>/checkpoints/last.pt (or the run folder).")
    check(cfg, EVAL_RULES)
    state = checkpoint.load(cfg.ckpt)
    if cfg.data_root is not None:  # the run's data.root was relative to wherever it was trained
        state["config"]["data"]["root"] = str(cfg.data_root)
    device = make(cfg.device, "device")
    G, data, latent = load_generator(state, device)
    seeds = list(range(cfg.seed, cfg.seed + cfg.draws))
    cond = conditioning_of(state)
    y = cond.eval_labels(cfg.n)  # a conditional G is judged on a class-balanced sample, as in training
    hooks, D = load_hooks(state, device)  # D only where a hook measures with it (InfoGAN's Q)
    draws = []
    for seed in seeds:
        fake = generate(G, latent, cfg.n, seed, device, labels=y)
        codes = hook_metrics(hooks, data, latent, noise(latent, cfg.n, seed, labels=y), fake, D) if hooks else {}
        draws.append(data.evaluate(fake) | cond.evaluate(data, fake, y) | codes)
    metrics, spread = pool(draws) if len(draws) > 1 else (draws[0], {})
    result = {"checkpoint": str(checkpoint.resolve(cfg.ckpt)), "step": state.get("step"), "seed": cfg.seed, "choices": state.get("choices", {}), "eval": metrics}
    if spread:
        result |= {"seeds": seeds, "eval_std": spread, "draws": draws}
    out.mkdir(parents=True, exist_ok=True)
    write_json(result, out / "eval.json")
    console.print(summary_table("gan eval", table_rows(result, spread, cfg.n) | {"wrote": str(out / "eval.json")}))
    return result


@hydra.main(version_base="1.3", config_path="pkg://gan_cli.conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    with user_errors():
        evaluate(cfg, Path(HydraConfig.get().runtime.output_dir))
