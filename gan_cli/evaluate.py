"""`gan eval`: a checkpoint -> G -> the data set's metrics on n samples -> a table and eval.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from gan_cli import checkpoint, resolvers
from gan_cli.build import make
from gan_cli.errors import UserError, user_errors
from gan_cli.generate import generate
from gan_cli.log import console, evaluation_rows, summary_table, write_json
from gan_cli.sample import load_generator
from gan_cli.validate import EVAL_RULES, check

resolvers.register()


def evaluate(cfg: DictConfig, out: Path) -> dict[str, Any]:
    if OmegaConf.is_missing(cfg, "ckpt"):
        raise UserError("gan eval needs a checkpoint: gan eval ckpt=outputs/<run>/checkpoints/last.pt (or the run folder).")
    check(cfg, EVAL_RULES)
    state = checkpoint.load(cfg.ckpt)
    if cfg.data_root is not None:  # the run's data.root was relative to wherever it was trained
        state["config"]["data"]["root"] = str(cfg.data_root)
    device = make(cfg.device, "device")
    G, data, latent = load_generator(state, device)
    metrics = data.evaluate(generate(G, latent, cfg.n, cfg.seed, device))
    result = {"checkpoint": str(checkpoint.resolve(cfg.ckpt)), "step": state.get("step"), "seed": cfg.seed, "choices": state.get("choices", {}), "eval": metrics}
    out.mkdir(parents=True, exist_ok=True)
    write_json(result, out / "eval.json")
    rows = {"checkpoint": f"{result['checkpoint']} (step {result['step']})"} | evaluation_rows(metrics) | {"wrote": str(out / "eval.json")}
    console.print(summary_table("gan eval", rows))
    return result


@hydra.main(version_base="1.3", config_path="pkg://gan_cli.conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    with user_errors():
        evaluate(cfg, Path(HydraConfig.get().runtime.output_dir))
