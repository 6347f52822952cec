"""Every option of every config group composes and instantiates; found by globbing conf/."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest
from omegaconf import OmegaConf
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
    if group == "cond":  # on labelled data: D takes (x, y), z ends in the classes' one-hot
        cfg, _ = compose_config("train", [f"cond={option}", "data=ring2d", "device=cpu"])
        exp = build(cfg)
        z = exp.latent.sample(4)
        y = exp.cond.labels(z)
        assert exp.G(z).shape == (4, 2)
        assert exp.D(exp.G(z), *(() if y is None else (y,))).shape == (4,)
        assert exp.cond.conditional == (option != "none") and exp.latent.categories == (8 if exp.cond.conditional else 0)
        return
    if group == "hparams_search":  # an Optuna study: its objective must be a number its data set's evaluation reports
        data = make(cfg.data, "data")
        real = next(data.batches(64, torch.Generator().manual_seed(0), torch.device("cpu")))
        name = cfg.objective.removeprefix("eval.")
        assert isinstance(data.evaluate(real)[name], float), cfg.objective
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


def test_mnist_sets_its_own_run_length_for_every_model() -> None:
    for model in ("mlp", "dcgan"):
        cfg, _ = compose_config("train", [f"model={model}", "data=mnist"])
        assert (cfg.steps, cfg.batch_size, cfg.optim.g.lr, cfg.lr_decay) == (9375, 32, 2e-4, "none")  # five epochs, Adam's defaults


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


def test_the_infogan_codes_preset_is_the_command_its_results_were_measured_with() -> None:
    measured = ["experiment=mnist_infogan", "latent.continuous=2", "latent.dim=62", "batch_size=128", "steps=5000", "optim.g.lr=1e-3"]
    measured += ["reg.infogan.continuous_std=1", "reg.infogan.continuous_weight=1", "eval.every=250", "ckpt_every=250"]  # docs/results.md
    preset, _ = compose_config("train", ["experiment=mnist_infogan_codes"])
    command, _ = compose_config("train", measured)
    assert OmegaConf.to_container(preset, resolve=True) == OmegaConf.to_container(command, resolve=True)


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


def _mlp(data: str, mnist_root: Path, *options: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    cfg, _ = compose_config("train", [f"data={data}", "model=mlp", *data_overrides(data, mnist_root), *options])
    return build_models(cfg.model, arch_of(make(cfg.data, "data"), make(cfg.latent, "latent")))


def _layers(net: torch.nn.Module) -> list[str]:
    """The layer sequence, e.g. ["Linear(100,128)", "LeakyReLU", "Linear(128,256)", "BatchNorm1d(256)", ...]."""
    names = []
    for m in net.modules():
        if isinstance(m, torch.nn.Linear):
            names.append(f"Linear({m.in_features},{m.out_features})")
        elif isinstance(m, torch.nn.BatchNorm1d):
            names.append(f"BatchNorm1d({m.num_features})")
        elif isinstance(m, torch.nn.Dropout):
            names.append(f"Dropout({m.p})")
        elif not list(m.children()):
            names.append(type(m).__name__)
    return names


OLD_G = ["Linear(100,256)", "LeakyReLU", "Linear(256,512)", "LeakyReLU", "Linear(512,1024)", "LeakyReLU", "Linear(1024,784)", "Tanh"]
TUTORIAL_D = [
    "Flatten",
    "Linear(784,1024)", "LeakyReLU", "Dropout(0.3)",
    "Linear(1024,512)", "LeakyReLU", "Dropout(0.3)",
    "Linear(512,256)", "LeakyReLU", "Dropout(0.3)",
    "Linear(256,1)",
]  # fmt: skip


def test_the_image_mlp_has_pytorch_gans_batch_norm_g_and_the_tutorial_d(mnist_root: Path) -> None:
    G, D = _mlp("mnist", mnist_root)
    assert _layers(G) == [
        "Linear(100,128)", "LeakyReLU",  # no batch norm next to z
        "Linear(128,256)", "BatchNorm1d(256)", "LeakyReLU",
        "Linear(256,512)", "BatchNorm1d(512)", "LeakyReLU",
        "Linear(512,1024)", "BatchNorm1d(1024)", "LeakyReLU",
        "Linear(1024,784)", "Tanh",
    ]  # fmt: skip
    assert _layers(D) == TUTORIAL_D


def test_the_older_image_mlps_are_reachable_by_options(mnist_root: Path) -> None:
    G, D = _mlp("mnist", mnist_root, "model.g_norm=none", "model.hidden=[256,512,1024]")  # the MLP before batch norm
    assert (_layers(G), _layers(D)) == (OLD_G, TUTORIAL_D)
    _, D = _mlp("mnist", mnist_root, "model.d_hidden=[512,256]", "model.dropout=0")  # PyTorch-GAN's D
    assert _layers(D) == ["Flatten", "Linear(784,512)", "LeakyReLU", "Linear(512,256)", "LeakyReLU", "Linear(256,1)"]


def test_the_toy_mlps_keep_their_layers(mnist_root: Path) -> None:
    G, D = _mlp("gaussian", mnist_root)  # 1-D: the 50-line GAN's sizes, with LeakyReLU
    assert _layers(G) == ["Linear(1,32)", "LeakyReLU", "Linear(32,32)", "LeakyReLU", "Linear(32,1)"]
    assert _layers(D) == ["Flatten", "Linear(1,32)", "LeakyReLU", "Linear(32,32)", "LeakyReLU", "Linear(32,1)"]
    G, D = _mlp("ring2d", mnist_root)  # points in the plane: two LeakyReLU layers of 128, D mirrored
    assert _layers(G) == ["Linear(16,128)", "LeakyReLU", "Linear(128,128)", "LeakyReLU", "Linear(128,2)"]
    assert _layers(D) == ["Flatten", "Linear(2,128)", "LeakyReLU", "Linear(128,128)", "LeakyReLU", "Linear(128,1)"]
    G, D = _mlp("ring2d", mnist_root, "model.hidden=[64,32]")  # D mirrors G's widths when only G's are given
    assert _layers(D) == ["Flatten", "Linear(2,32)", "LeakyReLU", "Linear(32,64)", "LeakyReLU", "Linear(64,1)"]
    G, D = _mlp("gaussian", mnist_root, "model.act=tanh")  # the activation is an option of both nets
    assert _layers(G) == ["Linear(1,32)", "Tanh", "Linear(32,32)", "Tanh", "Linear(32,1)"]
    assert _layers(D) == ["Flatten", "Linear(1,32)", "Tanh", "Linear(32,32)", "Tanh", "Linear(32,1)"]


def test_mlp_batch_norm_is_an_option_of_either_net(mnist_root: Path) -> None:
    G, D = _mlp("ring2d", mnist_root, "model.g_norm=batch", "model.d_norm=batch")  # never next to z or the input
    assert _layers(G) == ["Linear(16,128)", "LeakyReLU", "Linear(128,128)", "BatchNorm1d(128)", "LeakyReLU", "Linear(128,2)"]
    assert _layers(D) == ["Flatten", "Linear(2,128)", "LeakyReLU", "Linear(128,128)", "BatchNorm1d(128)", "LeakyReLU", "Linear(128,1)"]
    _, D = _mlp("ring2d", mnist_root, "model.d_norm=layer")  # each sample normalised alone
    assert _layers(D) == ["Flatten", "Linear(2,128)", "LeakyReLU", "Linear(128,128)", "LayerNorm", "LeakyReLU", "Linear(128,1)"]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("model.g_norm=instance", "model.g_norm='instance' is not one of batch, layer, none"),
        ("model.d_norm=group", "model.d_norm='group' is not one of batch, layer, none"),
        ("model.d_hidden=[]", "model.d_hidden=[] is not allowed"),
        ("model.hidden=5", "model.hidden=5 is not allowed: give 1 to 16 layer widths"),
        ("model.act=relu", "model.act='relu' is not one of tanh, leaky_relu"),
    ],
)
def test_mlp_options_refuse_bad_values_with_a_message(option: str, message: str) -> None:
    cfg, _ = compose_config("train", ["model=mlp", option, "device=cpu"])
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build(cfg)
