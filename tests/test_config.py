"""Every option of every config group composes and instantiates; found by globbing conf/."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest
import torch

from gan_cli.build import arch_of, build, build_models, make
from gan_cli.compat import build_or_explain, working_combinations
from gan_cli.data.base import Data
from gan_cli.errors import UserError
from gan_cli.hooks import Hooks
from gan_cli.losses.base import GANLoss
from tests.conftest import compose_config

CONF = Path(str(files("gan_cli.conf")))
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and not p.name.startswith("_"))
OPTIONS = [(group, p.stem) for group in GROUPS for p in sorted((CONF / group).glob("*.yaml"))]


def test_conf_is_the_repo_conf_folder() -> None:
    assert {"data", "model", "loss", "device", "reg"} <= set(GROUPS)
    assert len(OPTIONS) >= 10


def data_overrides(option: str, mnist_root: Path) -> list[str]:
    return [f"data.root={mnist_root}", "data.download=false"] if option == "mnist" else []


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_instantiates(group: str, option: str, mnist_root: Path) -> None:
    if group == "experiment":  # a recipe: it must compose and build as it stands
        cfg, _ = compose_config("train", [f"experiment={option}", "device=cpu", *data_overrides("mnist", mnist_root)])
        exp = build(cfg)
        assert exp.G(exp.latent.sample(2)).shape[0] == 2
        return
    if group == "reg":  # a list group: any number of tricks, +reg=[a,b]
        cfg, _ = compose_config("train", [f"+reg=[{option}]", "device=cpu"])
        exp = build(cfg)
        [hook] = exp.regs
        assert isinstance(hook, Hooks) and list(cfg.reg) == [option]
        return
    cfg, choices = compose_config("train", [f"{group}={option}"])
    assert choices[group] == option
    if group == "device":
        try:
            device = make(cfg.device, "device")
        except UserError as e:  # cuda or mps on a machine without one: a message, not a crash
            assert f"device={option}" in str(e)
        else:
            assert isinstance(device, torch.device)
        return
    if group == "data":
        cfg, _ = compose_config("train", [f"data={option}", *data_overrides(option, mnist_root)])
        data = make(cfg.data, "data")
        assert isinstance(data, Data)
        batch = next(data.batches(8, torch.Generator().manual_seed(0), torch.device("cpu")))
        assert batch.shape == (8, *data.sample_shape)
        assert torch.isfinite(batch).all()
        if data.bounded:
            assert batch.min() >= -1 and batch.max() <= 1
        return
    if group == "loss":
        loss = make(cfg.loss, "loss")
        assert isinstance(loss, GANLoss)
        logits = torch.randn(16)
        assert torch.isfinite(loss.d_loss(logits, -logits)) and torch.isfinite(loss.g_loss(logits, -logits))
        return
    if group == "model":
        data = make(cfg.data, "data")  # the data this model selects by default
        G, D = build_models(cfg.model, arch_of(data, make(cfg.latent, "latent")))
        z = make(cfg.latent, "latent").sample(4)
        x = G(z)
        assert x.shape == (4, *data.sample_shape)
        assert D(x).shape == (4,)
        return
    pytest.fail(f"no test knows the config group {group!r}; add it here")


def test_image_model_selects_mnist_unless_data_is_given() -> None:
    cfg, choices = compose_config("train", ["model=dcgan"])
    assert choices["data"] == "mnist" and cfg.data._target_.endswith("MNIST")
    cfg, choices = compose_config("train", ["model=mlp"])
    assert choices["data"] == "gaussian"
    _, choices = compose_config("train", ["model=dcgan", "data=gaussian"])
    assert choices["data"] == "gaussian"  # an explicit choice wins, and build() then refuses it


MODEL_FILES = sorted((CONF / "model").glob("*.yaml"))


@pytest.mark.parametrize("path", MODEL_FILES, ids=[p.stem for p in MODEL_FILES])
def test_a_model_option_builds_networks_and_nothing_else(path: Path) -> None:
    cfg, choices = compose_config("train", [f"model={path.stem}"])
    other = next(p.stem for p in MODEL_FILES if p != path)
    same_data, _ = compose_config("train", [f"model={other}", f"data={choices['data']}"])
    # Everything but `model` is what train.yaml and the data set say: no rates, length or trick comes with a model.
    assert {k: v for k, v in cfg.items() if k != "model"} == {k: v for k, v in same_data.items() if k != "model"}
    assert "reg" not in cfg and cfg.latent.categories == 0


def test_experiment_presets_set_the_recipe_and_the_command_line_wins(mnist_root: Path) -> None:
    cfg, choices = compose_config("train", ["experiment=mnist_dcgan"])
    assert (choices["data"], choices["model"], choices["loss"]) == ("mnist", "dcgan", "nonsat")
    assert (cfg.optim.g.lr, cfg.optim.d.lr, cfg.lr_decay, cfg.steps) == (2e-3, 2e-4, "linear", 18750)  # over mnist's and train.yaml's
    assert list(cfg.reg) == ["ema"] and cfg.latent.categories == 0
    cfg, _ = compose_config("train", ["experiment=mnist_dcgan", "optim.g.lr=2e-4", "model.fc=0", "steps=7", "+reg=[r1]"])
    assert (cfg.optim.g.lr, cfg.model.fc, cfg.steps) == (2e-4, 0, 7) and list(cfg.reg) == ["ema", "r1"]
    mnist = [f"data.root={mnist_root}", "data.download=false", "device=cpu"]
    for extra, categories in (([], 10), (["+reg=[infogan]"], 10), (["latent.categories=5"], 5)):
        cfg, _ = compose_config("train", ["experiment=mnist_infogan", *mnist, *extra])
        exp = build(cfg)
        assert exp.latent.categories == categories and exp.arch["latent_dim"] == 100 + categories
        assert exp.G(exp.latent.sample(2)).shape == (2, 1, 28, 28)
        q = [p for name, p in exp.D.named_parameters() if name.startswith("q.")]
        assert q and all(any(p is t for t in exp.opt_d.param_groups[0]["params"]) for p in q)  # D's optimiser trains Q
    cfg, _ = compose_config("train", ["experiment=mnist_infogan", "latent.categories=0", *mnist])
    with pytest.raises(UserError, match=r"needs a categorical code of at least 2 values"):
        build(cfg)  # a trick on the list is never silently off


def test_impossible_combination_stops_before_training_and_lists_what_works() -> None:
    cfg, _ = compose_config("train", ["model=dcgan", "data=gaussian", "device=cpu"])
    with pytest.raises(UserError) as e:
        build_or_explain(cfg)
    message = str(e.value)
    assert "model=dcgan" in message and "data=mnist model=dcgan" in message and "data=gaussian model=mlp" in message


def test_working_combinations() -> None:
    found = set(working_combinations())
    assert {"data=gaussian model=mlp", "data=mnist model=mlp", "data=mnist model=dcgan", "data=ring2d model=mlp"} <= found
    assert not any(c.endswith("model=dcgan") and "mnist" not in c for c in found)


def test_mlp_sizes_follow_the_data(mnist_root: Path) -> None:
    cfg, _ = compose_config("train", ["data=mnist", "model=mlp", *data_overrides("mnist", mnist_root)])
    data = make(cfg.data, "data")
    G, D = build_models(cfg.model, arch_of(data, make(cfg.latent, "latent")))
    linear = [m for m in G.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(100, 256), (256, 512), (512, 1024), (1024, 784)]  # the classic MNIST MLP GAN
    assert isinstance(list(G.modules())[-1], torch.nn.Tanh)
    linear = [m for m in D.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(784, 1024), (1024, 512), (512, 256), (256, 1)]  # G mirrored
    assert sum(isinstance(m, torch.nn.Dropout) for m in D.modules()) == 3
