from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from gan_cli import resolvers
from tests.mnist_files import write_mnist

resolvers.register()
os.environ.setdefault("OMP_NUM_THREADS", "1")  # tests run tiny models; threads only fight each other

# Loop options that make any run take a few steps and exercise every interval.
QUICK = ["steps=4", "batch_size=8", "log_every=2", "sample_every=2", "ckpt_every=2", "preview_n=16", "eval.every=2", "eval.n=500", "eval.n_during=200", "device=cpu"]


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mnist(tmp_path_factory.mktemp("mnist"))


@contextlib.contextmanager
def _hydra() -> Iterator[None]:
    GlobalHydra.instance().clear()
    with initialize_config_module("gan_cli.conf", version_base="1.3"):
        yield


def compose_config(name: str, overrides: list[str]) -> tuple[DictConfig, dict[str, str]]:
    """The real config from conf/, composed as `gan train` would, and its group choices."""
    with _hydra():
        cfg = compose(name, overrides=overrides, return_hydra_config=True)
    choices = {k: v for k, v in cfg.hydra.runtime.choices.items() if not k.startswith("hydra/")}
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, choices


def run_train(overrides: list[str], run_dir: Path) -> dict[str, Any]:
    from gan_cli.train import train

    cfg, choices = compose_config("train", overrides)
    with contextlib.redirect_stdout(io.StringIO()):
        return train(cfg, run_dir, choices=choices, overrides=overrides)
