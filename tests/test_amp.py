"""Mixed precision without a GPU: every loss and every trick trains a few steps under amp=bf16 (CPU bfloat16
autocast), so the paths where autocast's outputs meet float32 run on every commit; what a run logs and saves is
float32; amp may change on resume; amp=fp16 needs CUDA."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from gan_cli import checkpoint, loop
from gan_cli.build import build
from gan_cli.data.images import ImageData
from gan_cli.data.mixture import Mixture
from gan_cli.data.mnist import MNIST
from gan_cli.data.one_d import OneDimensional
from gan_cli.errors import UserError
from gan_cli.generate import generate
from gan_cli.loop import Trainer
from gan_cli.population import Members
from gan_cli.sample import load_generator
from gan_cli.train import loop_options, prepare
from tests.conftest import compose_config, run_train
from tests.tb import events

CONF = Path(str(files("gan_cli.conf")))
LOSSES = sorted(p.stem for p in (CONF / "loss").glob("*.yaml"))
REGS = sorted(p.stem for p in (CONF / "reg").glob("*.yaml"))
# Two rounds, a checkpoint, a picture and a small final evaluation; nothing else.
TINY = ["steps=2", "batch_size=8", "log_every=1", "sample_every=2", "ckpt_every=2", "eval.every=2", "eval.n=100", "eval.n_during=0", "preview_n=16", "device=cpu", "threads=1"]
BF16 = ["amp=bf16", *TINY]
FP16_SCALE = {"scale": 1024.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000, "_growth_tracker": 3}  # as an fp16 run saves it


def tricks_for(loss: str) -> list[str]:
    """Every trick the loss takes: label smoothing needs a target for real samples, which a critic or a margin lacks."""
    has_target = instantiate(OmegaConf.load(CONF / "loss" / f"{loss}.yaml")).has_real_target
    return [r for r in REGS if r != "label_smoothing" or has_target]


def tensors(state: Any) -> Iterator[torch.Tensor]:
    if isinstance(state, torch.Tensor):
        yield state
    elif isinstance(state, dict):
        for value in state.values():
            yield from tensors(value)
    elif isinstance(state, (list, tuple)):
        for value in state:
            yield from tensors(value)


def assert_float32_run(run: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """The run completed with finite losses, and every floating tensor of its checkpoint is float32; returns the checkpoint."""
    assert metrics["status"] == "completed" and metrics["step"] == metrics["steps"], metrics
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics["final"].values()), metrics["final"]
    assert all(torch.isfinite(torch.tensor(p.value)) for tag in ("loss/D", "loss/G") for p in events(run / "tb").Scalars(tag))
    state = checkpoint.load(run / "checkpoints" / "last.pt")
    dtypes = {t.dtype for part in ("G", "D", "G_sample", "opt_g", "opt_d", "hooks") for t in tensors(state.get(part, {})) if t.is_floating_point()}
    assert dtypes == {torch.float32}, dtypes
    return state


@pytest.fixture
def dtypes(monkeypatch: pytest.MonkeyPatch) -> set[torch.dtype]:
    """The dtypes of the tensors the loop hands on: the steps' batches and logits (DStep, GStep), every batch reduced
    per member (the losses, the tricks' terms), and the samples behind the data sets' metrics and pictures."""
    seen: set[torch.dtype] = set()

    def spy(owner: Any, name: str) -> None:
        original = getattr(owner, name)

        def recording(*args: Any, **kwargs: Any) -> Any:
            seen.update(a.dtype for a in args if isinstance(a, torch.Tensor))
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, recording)

    spy(loop, "DStep"), spy(loop, "GStep"), spy(Members, "map"), spy(Members, "mean")
    for cls in (Mixture, OneDimensional, ImageData, MNIST):
        for name in ("evaluate", "log_samples"):
            if name in vars(cls):
                spy(cls, name)
    return seen


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_with_every_trick_trains_under_bf16(loss: str, dtypes: set[torch.dtype], tmp_path: Path) -> None:
    # All tricks at once, in conf/'s order: InfoGAN's Q reuses the features D computed under autocast, and where the
    # loss's gradient penalty (wgan_gp) calls D first, Q recomputes them from the float32 fake batch.
    metrics = run_train(["data=ring2d", f"loss={loss}", f"+reg=[{','.join(tricks_for(loss))}]", *BF16], tmp_path)
    assert_float32_run(tmp_path, metrics)
    assert metrics["eval"] and dtypes == {torch.float32}


@pytest.mark.parametrize("reg", REGS)
def test_every_trick_alone_trains_under_bf16(reg: str, dtypes: set[torch.dtype], tmp_path: Path) -> None:
    assert_float32_run(tmp_path, run_train(["data=gaussian", f"+reg=[{reg}]", *BF16], tmp_path))
    assert dtypes == {torch.float32}


@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_image_models_train_under_bf16(model: str, mnist_root: Path, dtypes: set[torch.dtype], tmp_path: Path) -> None:
    small = ["model.hidden=[32,64]", "model.d_hidden=[64,32]"] if model == "mlp" else ["model.ngf=8", "model.ndf=8", "model.fc=32"]
    mnist = ["data=mnist", f"model={model}", *small, f"data.root={mnist_root}", "data.download=false", "eval.n=0"]
    state = assert_float32_run(tmp_path, run_train([*mnist, "loss=nonsat", f"+reg=[{','.join(tricks_for('nonsat'))}]", *BF16], tmp_path))
    assert dtypes == {torch.float32}
    G, _, latent = load_generator(state, torch.device("cpu"))  # what gan sample writes
    assert generate(G, latent, 4, 0, torch.device("cpu")).dtype == torch.float32


def test_a_population_trains_under_bf16(dtypes: set[torch.dtype], tmp_path: Path) -> None:
    # Plain layers run as batched matrix products; InfoGAN's head sends D through vmap.
    metrics = run_train(["data=gaussian", "population=2", *BF16], tmp_path / "plain")
    assert metrics["status"] == "completed"
    metrics = run_train(["data=gaussian", "population=2", "+reg=[infogan,feature_matching]", *BF16], tmp_path / "vmap")
    assert [m["status"] for m in metrics["members"]] == ["completed"] * 2
    assert_float32_run(tmp_path / "vmap" / "seed=0", metrics["members"][0])
    assert dtypes == {torch.float32}


def test_resume_switches_amp_on_and_off(tmp_path: Path) -> None:
    run, last = tmp_path / "run", tmp_path / "run" / "checkpoints" / "last.pt"
    run_train(["data=gaussian", "amp=false", *TINY], run)  # amp's old spelling still means none
    assert checkpoint.load(last)["config"]["amp"] == "none"
    # Make it look as an older gan-cli's fp16 run would have: amp a switch in the config, a gradient scale saved.
    state = checkpoint.load(last)
    state["config"]["amp"] = True
    state["scaler_g"] = state["scaler_d"] = FP16_SCALE
    checkpoint.save(state, last)
    for steps, amp in ((4, "bf16"), (6, "none"), (8, "bf16")):  # the saved scale fits neither, and each starts from it
        metrics = run_train(["resume=auto", f"steps={steps}", f"amp={amp}"], run)
        assert metrics["step"] == steps and checkpoint.load(last)["config"]["amp"] == amp
    assert_float32_run(run, metrics)


def test_an_fp16_scaler_goes_on_from_a_saved_scale_or_starts_afresh(tmp_path: Path) -> None:
    # Only the scaler's state is exercised: an enabled GradScaler works on CPU, fp16 training itself needs CUDA.
    run_train(["data=gaussian", *TINY], tmp_path)  # amp=none saves no scale
    state = checkpoint.load(tmp_path / "checkpoints" / "last.pt")
    cfg, _ = compose_config("train", ["data=gaussian", "device=cpu"])
    trainer = Trainer(build(cfg), replace(loop_options(cfg), amp="fp16"))
    trainer.load_state_dict(state)
    assert trainer.scaler_g.get_scale() == trainer.scaler_d.get_scale() == 2.0**16  # a new fp16 run's
    trainer.load_state_dict(state | {"scaler_g": FP16_SCALE, "scaler_d": FP16_SCALE})
    assert trainer.scaler_g.get_scale() == trainer.scaler_d.get_scale() == 1024.0


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("asked", ["fp16", "true"])
def test_fp16_on_cpu_is_refused_with_what_to_use(asked: str, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="amp=bf16") as refused:
        run_train(["data=gaussian", f"amp={asked}", "dry_run=true", "device=cpu"], tmp_path)
    assert "needs a CUDA device" in str(refused.value) and "amp=none" in str(refused.value)


def test_amp_names_its_choices() -> None:
    cfg, _ = compose_config("train", [])
    assert cfg.amp == "none"
    with pytest.raises(UserError, match="amp='fp8' is not allowed: amp must be none, bf16"):
        prepare(compose_config("train", ["amp=fp8", "device=cpu"])[0])
