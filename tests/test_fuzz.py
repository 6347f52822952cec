"""Random override lists thrown at `gan train` (composition and checks only: dry_run=true) and `gan sample`.

Each call must either work or end in a short message with a non-zero status: never a Python traceback.
Exit status 1 is Hydra's own (an unparsable override, an unknown key or option), 2 is gan-cli's.
"""

from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gan_cli import cli
from tests.conftest import run_train

TRAIN_KEYS = [
    "seed", "steps", "batch_size", "d_steps", "g_steps", "amp", "optim.g.lr", "optim.d.lr", "optim.g.betas",
    "optim.d.betas", "optim.g._target_", "lr_decay", "threads", "log_every", "sample_every", "ckpt_every",
    "keep_ckpts", "preview_n", "eval.every", "eval.n", "eval.n_during", "latent.dim", "latent.dist",
    "latent.categories",
    "data.mean", "data.std", "data.mean_tol", "data.std_tol", "data.root", "data.download", "data._target_",
    "model.hidden", "model.d_hidden", "model.dropout", "model.g_norm", "model.ngf", "model.ndf", "model.d_norm", "model.fc", "model._target_", "loss._target_", "device.name",
    "resume", "divergence.retries", "divergence.lr_factor", "stepz", "optim",
]  # fmt: skip
SAMPLE_KEYS = ["ckpt", "n", "seed", "device.name", "nn", "out"]
GROUPS = {
    "data": ["gaussian", "mnist", "cifar"],
    "model": ["mlp", "dcgan", "resnet"],
    "loss": ["minimax", "nonsat", "wgan"],
    "device": ["auto", "cpu", "cuda", "mps", "tpu"],
}
ODD = ["${oops}", "${now:}", "${seed}", "null", "[", "]", "[1,", "{a: 1}", "''", "auto", "/dev/null", "1e400", "nan", "-inf", "0x10", "a b", "=", "~"]


def render(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value == math.inf else "-inf" if value == -math.inf else repr(value))
    if isinstance(value, list):
        return "[" + ",".join(render(v) for v in value) + "]"
    return str(value)


values = st.one_of(
    st.integers(-(2**40), 2**40),
    st.integers(-3, 300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.lists(st.one_of(st.integers(-5, 3000), st.floats(-2, 2)), max_size=4),
    st.text(st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=10),
    st.sampled_from(ODD),
).map(render)


def overrides(keys: list[str], groups: dict[str, list[str]]) -> st.SearchStrategy[list[str]]:
    key = st.sampled_from(keys)
    one = st.one_of(
        st.tuples(key, values).map(lambda kv: f"{kv[0]}={kv[1]}"),
        st.tuples(st.sampled_from(["+", "++", "~"]), key, values).map(lambda t: f"{t[0]}{t[1]}" if t[0] == "~" else f"{t[0]}{t[1]}={t[2]}"),
        st.sampled_from([f"{g}={o}" for g, options in groups.items() for o in options]),
    )
    return st.lists(one, max_size=5)


def run_cli(args: list[str]) -> None:
    out, err = io.StringIO(), io.StringIO()
    status: object = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main(args)
        except SystemExit as e:
            status = e.code
    text = out.getvalue() + err.getvalue()
    assert "Traceback" not in text, f"gan {' '.join(args)}\n{text}"
    assert status in (0, 1, 2), f"gan {' '.join(args)} exited {status!r}\n{text}"
    if status != 0:
        assert text.strip(), f"gan {' '.join(args)} failed without a word"


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def ckpt(folder: Path) -> Path:
    run_train(["steps=4", "eval.n=100", "eval.n_during=100", "device=cpu"], folder / "run")
    return folder / "run" / "checkpoints" / "last.pt"


@pytest.fixture(autouse=True)
def _no_full_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)  # Hydra's own messages, as users see them


@FUZZ
@given(args=overrides(TRAIN_KEYS, GROUPS))
def test_train_overrides_work_or_fail_with_a_message(args: list[str], folder: Path) -> None:
    run_cli(["train", *args, "dry_run=true", f"hydra.run.dir={folder / 'train'}"])


@FUZZ
@given(args=overrides(SAMPLE_KEYS, {"device": GROUPS["device"]}))
def test_sample_overrides_work_or_fail_with_a_message(args: list[str], ckpt: Path, folder: Path) -> None:
    run_cli(["sample", f"ckpt={ckpt}", "n=16", *args, f"out={folder / 'sample'}"])
