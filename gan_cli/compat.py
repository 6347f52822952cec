"""Which data x model combinations can work, found by trying every pair in conf/, and the message that lists them."""

from __future__ import annotations

from importlib.resources import files

from omegaconf import DictConfig, OmegaConf

from gan_cli.build import Experiment, arch_of, build, build_models, make
from gan_cli.errors import DataModelMismatch, UserError
from gan_cli.latent import Latent


def _options(group: str) -> dict[str, object]:
    folder = files("gan_cli.conf") / group
    return {p.name.removesuffix(".yaml"): OmegaConf.load(str(p)) for p in sorted(folder.iterdir(), key=lambda p: p.name) if p.name.endswith(".yaml")}


def working_combinations() -> list[str]:
    """E.g. ["data=gaussian model=mlp", "data=mnist model=dcgan", ...]: the pairs whose models build."""
    models = {name: node.model for name, node in _options("model").items()}  # model files, like data files, nest their node
    found = []
    for data_name, node in _options("data").items():
        data = make(node.data, "data")  # data objects are lazy: nothing is loaded here
        for model_name, model_cfg in models.items():
            try:
                build_models(model_cfg, arch_of(data, Latent(dim=8)))
            except UserError:
                continue
            found.append(f"data={data_name} model={model_name}")
    return found


def build_or_explain(cfg: DictConfig) -> Experiment:
    """`build`, with the combinations that work added to the message when the model cannot take the data."""
    try:
        return build(cfg)
    except DataModelMismatch as e:  # not for bad widths: those messages name their own fix
        raise UserError(f"{e} Combinations that work: {'; '.join(working_combinations())}.") from None
