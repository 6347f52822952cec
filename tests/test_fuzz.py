"""Random command lines thrown at `gan train` (composition and checks only: dry_run=true), `gan sample`,
`gan eval` and `gan report`, with output folders that cannot be made and checkpoints in a sweep's job folder.

Each call must either work or end in one short message with a non-zero status: never a Python traceback,
nor Hydra's own page. Exit status 1 is an override Hydra cannot parse or place (an unknown key or option),
2 a setting the user can fix.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.commands import run_cli
from tests.conftest import run_train

TRAIN_KEYS = [
    "seed", "population", "member_pictures", "steps", "batch_size", "d_steps", "g_steps", "amp", "optim.g.lr", "optim.d.lr", "optim.g.betas",
    "optim.d.betas", "optim.g._target_", "lr_decay", "threads", "log_every", "sample_every", "ckpt_every",
    "keep_ckpts", "preview_n", "eval.every", "eval.n", "eval.n_during", "latent.dim", "latent.dist",
    "latent.categories", "latent.continuous",
    "data.mean", "data.std", "data.mean_tol", "data.std_tol", "data.root", "data.download", "data._target_",
    "model.hidden", "model.d_hidden", "model.dropout", "model.g_norm", "model.ngf", "model.ndf", "model.d_norm", "model.act", "model.fc", "model._target_", "loss._target_", "device.name",
    "resume", "divergence.retries", "divergence.lr_factor", "stepz", "optim",
]  # fmt: skip
SAMPLE_KEYS = ["ckpt", "n", "seed", "device.name", "nn", "out", "traverse", "columns", "rows"]
EVAL_KEYS = ["ckpt", "n", "seed", "draws", "data_root", "data.root", "device.name", "out", "label"]
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


def check_cli(args: list[str]) -> None:
    """`gan ARGS` either succeeds or ends in its one message: no traceback, no Hydra page, a documented status."""
    status, text = run_cli(args)
    assert "Traceback" not in text and "HYDRA_FULL_ERROR" not in text, f"gan {' '.join(args)}\n{text}"
    assert status in (0, 1, 2), f"gan {' '.join(args)} exited {status!r}\n{text}"
    if status != 0:
        assert "error: " in text or "usage: gan report" in text, f"gan {' '.join(args)} failed without its message\n{text}"


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def ckpt(folder: Path) -> Path:
    run_train(["steps=4", "eval.n=100", "eval.n_during=100", "device=cpu"], folder / "run")
    return folder / "run" / "checkpoints" / "last.pt"


@pytest.fixture(scope="module")
def ckpts(ckpt: Path, folder: Path) -> list[Path]:
    """The checkpoint, its run folder, and the same in a folder named as a sweep's job (`=`, `,`, brackets)."""
    job = folder / "sweep" / "loss=nonsat,seed=1,+reg=[ema]"
    shutil.copytree(ckpt.parent.parent, job)
    return [ckpt, ckpt.parent.parent, job, job / "checkpoints" / "last.pt"]


@pytest.fixture(scope="module")
def outs(folder: Path) -> list[str]:
    """Output folders: a fine one (drawn most often), and ones that cannot be made."""
    (folder / "a_file").write_text("")
    unwritable = [str(folder / "a_file" / "out"), "/dev/null/out"] + (["/proc/gan-fuzz", "/proc/gan/fuzz"] if Path("/proc/self").is_dir() else [])
    return [str(folder / "out,x=1")] * 4 + unwritable


@pytest.fixture(autouse=True)
def _no_full_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)  # Hydra's own messages, as users see them


@FUZZ
@given(args=overrides(TRAIN_KEYS, GROUPS), out=st.integers(0, 7))
def test_train_overrides_work_or_fail_with_a_message(args: list[str], out: int, folder: Path, outs: list[str]) -> None:
    check_cli(["train", *args, "dry_run=true", f"hydra.run.dir={outs[out % len(outs)]}"])


@FUZZ
@given(args=overrides(SAMPLE_KEYS, {"device": GROUPS["device"]}), which=st.integers(0, 3), out=st.integers(0, 7))
def test_sample_overrides_work_or_fail_with_a_message(args: list[str], which: int, out: int, ckpts: list[Path], outs: list[str]) -> None:
    check_cli(["sample", f"ckpt={ckpts[which]}", "n=16", *args, f"out={outs[out % len(outs)]}"])


# Fewer examples for eval and report: each eval draws and scores samples, and the fast suite runs these.
SOME = settings(FUZZ, max_examples=40)


@SOME
@given(args=overrides(EVAL_KEYS, {"device": GROUPS["device"]}), which=st.integers(0, 3), out=st.integers(0, 7))
def test_eval_overrides_work_or_fail_with_a_message(args: list[str], which: int, out: int, ckpts: list[Path], outs: list[str]) -> None:
    check_cli(["eval", f"ckpt={ckpts[which]}", "n=16", *args, f"out={outs[out % len(outs)]}"])


def report_args(folder: Path) -> st.SearchStrategy[list[str]]:
    paths = [str(folder / "sweep"), str(folder / "run"), str(folder / "run" / "metrics.json"), str(folder / "nowhere"), str(folder / "a_file"), "/proc/gan-fuzz", ""]
    arg = st.one_of(
        st.sampled_from(paths),
        st.sampled_from(["--eval", "--eval=eval", "--eval=", "--bogus", "-x", "--", "eval"]),
        st.text(st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=10),
    )
    return st.lists(arg, max_size=4)


@SOME
@given(data=st.data())
def test_report_arguments_work_or_fail_with_a_message(data: st.DataObject, ckpts: list[Path], outs: list[str], folder: Path) -> None:
    check_cli(["report", *data.draw(report_args(folder))])
