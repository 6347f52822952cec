"""Mistakes on the command line that Hydra itself catches, output folders that cannot be made, and paths
as a shell completes them (a sweep's job folders hold `=` and `,`): one paragraph each, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from hydra.core.override_parser.overrides_parser import OverridesParser

from gan_cli import callbacks, cli
from tests.commands import gan, run_cli
from tests.conftest import QUICK, run_train

PROC = Path("/proc/self").is_dir()  # Linux: /proc exists, yet nothing can be made in it (even by root)


def assert_one_paragraph(status: object, text: str, expected: int, phrases: list[str]) -> None:
    assert status == expected, f"exit {status!r}\n{text}"
    assert "Traceback" not in text and "HYDRA_FULL_ERROR" not in text, text
    flat = " ".join(text.split())
    assert flat.startswith("error: ") and len(text.strip().splitlines()) == 1, text  # one paragraph, nothing before it
    for phrase in phrases:
        assert phrase in flat, f"{phrase!r} not in:\n{text}"


@pytest.fixture(autouse=True)
def _as_users_see_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("errors") / "run"
    run_train(["steps=4", "eval.n=100", "eval.n_during=100", "device=cpu"], folder)
    return folder


# The command lines of issue 19 that ended in a traceback or in Hydra's own page; RUN is a trained run folder.
# Exit status 1: Hydra cannot place the override (README); 2: a setting the user can fix.
CASES = [
    (["eval", "ckpt=RUN", "out=/proc/x"], 2, ["out='/proc/x' cannot be created", "making a folder in /proc fails", "Choose another out"]),
    (["sample", "ckpt=RUN", "out=/proc/x"], 2, ["out='/proc/x' cannot be created", "Choose another out"]),
    (["train", "hydra.run.dir=/proc/x"], 2, ["hydra.run.dir='/proc/x' cannot be created", "Choose another hydra.run.dir"]),
    (["train", "data=nonexistent"], 1, ["'nonexistent' is not an option of data", "(the files in conf/data/) are: gaussian, gaussian_mixture_1d, grid2d, mnist, ring2d"]),
    (["train", "device=tpu"], 1, ["'tpu' is not an option of device", "are: auto, cpu, cuda, mps"]),
    (["eval", "ckpt=RUN", "device=tpu"], 1, ["'tpu' is not an option of device", "are: auto, cpu, cuda, mps", "gan eval device="]),
    (["train", "+reg=[nonexistent]"], 1, ["'nonexistent' is not an option of reg", "(the files in conf/reg/) are: ema, feature_matching", "e.g. gan train +reg=[ema]"]),
    (["train", "reg=ema"], 1, ["reg is not set by default, so it is added with a +: gan train +reg=[ema]", "are: ema, feature_matching"]),
    (["eval", "ckpt=RUN", "data.root=Y"], 1, ["data.root is not an option of gan eval", "The closest option is data_root: data_root='Y'"]),
    (["sample", "ckpt=RUN", "colour=3"], 1, ["colour is not an option of gan sample", "The options are: ckpt, columns, device, label, n, out, rows, seed, traverse"]),
    (["train", "foo=1"], 1, ["foo is not an option of gan train", "The options are: amp, batch_size,", "steps, sync_bn, threads"]),
    (["train", "optim.g.lrr=1"], 1, ["optim.g.lrr is not an option of gan train", "The closest option is optim.g.lr: optim.g.lr=1"]),
    (["train", "data=ring2d", "cond.g=cbn"], 1, ["cond.g is not an option of the default cond, but of cond=acgan, concat, projection", "cond=acgan cond.g=cbn"]),
    (["train", "data.nope=3"], 1, ["The options under data are: mean, mean_tol, std, std_tol"]),
    (["train", "+data=mnist"], 1, ["+data=mnist cannot add another", "without the +: gan train data=mnist"]),
    (["train", "+steps=3"], 1, ["steps is already an option of gan train; set it without the +: steps=3"]),
    (["train", "seed=1,2"], 1, ["seed=1,2 gives several values", "gan train -m seed=1,2"]),
    (["train", "steps=["], 1, ["Hydra cannot read the override 'steps=['", "must be quoted"]),
]  # fmt: skip


@pytest.mark.parametrize(("args", "status", "phrases"), CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_a_mistake_hydra_catches_ends_in_one_paragraph(args: list[str], status: int, phrases: list[str], run: Path, tmp_path: Path) -> None:
    if "/proc/x" in " ".join(args) and not PROC:
        pytest.skip("needs Linux's /proc")
    args = [a.replace("RUN", str(run)) for a in args]
    if args[0] == "train":  # should a mistake slip through, nothing trains
        args += ["dry_run=true"] + ([] if any(a.startswith("hydra.run.dir") for a in args) else [f"hydra.run.dir={tmp_path / 'run'}"])
    else:
        args += [] if any(a.startswith("out=") for a in args) else [f"out={tmp_path / 'out'}"]
    assert_one_paragraph(*run_cli(args), status, phrases)
    assert not (tmp_path / "run").exists() and not (tmp_path / "out").exists()


def test_a_mistake_as_the_shell_runs_it() -> None:
    done = gan("train", "reg=ema", "dry_run=true", status=1)
    assert_one_paragraph(done.returncode, done.stdout + done.stderr, 1, ["gan train +reg=[ema]"])


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch, run: Path, tmp_path: Path) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug, not a mistake")

    monkeypatch.setattr("gan_cli.sample.sample", broken)
    with pytest.raises(RuntimeError, match="a bug, not a mistake"):  # uncaught: Python prints the whole traceback
        cli.main(["sample", f"ckpt={run}", f"out={tmp_path}"])
    assert "HYDRA_FULL_ERROR" not in os.environ  # set for Hydra's call only


def test_hydra_full_error_set_by_the_user_shows_hydras_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ConfigCompositionException, match="Could not override 'foo'"):
        cli.main(["train", "foo=1"])
    assert os.environ["HYDRA_FULL_ERROR"] == "1"


def test_ctrl_c_before_the_command_starts_exits_130(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def interrupted(folder: str, key: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(callbacks, "check_writable", interrupted)
    status, text = run_cli(["train", "dry_run=true", f"hydra.run.dir={tmp_path / 'run'}"])
    assert status == 130 and "interrupted" in text and "Traceback" not in text, text


# Output folders: try what Hydra will do, not the permission bits (root passes them; /proc refuses anyway).


def test_an_output_folder_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("")
    with pytest.raises(SystemExit):
        callbacks.check_writable(str(tmp_path / "a_file" / "out"), "out")


@pytest.mark.skipif(not PROC, reason="needs Linux's /proc")
def test_an_output_folder_in_proc(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        callbacks.check_writable("/proc/gan/out", "out")
    assert stop.value.code == 2 and "out='/proc/gan/out' cannot be created: making a folder in /proc fails" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_output_folder_in_a_read_only_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(SystemExit):
            callbacks.check_writable(str(locked / "out"), "out")
    finally:
        locked.chmod(0o700)


def test_the_check_leaves_nothing_behind(tmp_path: Path) -> None:
    callbacks.check_writable(str(tmp_path / "new" / "out"), "out")
    assert list(tmp_path.iterdir()) == []  # the probe is gone, and the folder itself is Hydra's to make


# Paths as the shell completes them.

PATHS = ["/runs/loss=nonsat,seed=1", "/runs/lr=1e-4,+reg=[ema]/checkpoints/last.pt", "it's here", 'say "hi"', "both ' and \"", "C:\\runs\\", "a b", "~/x,y", "${now:%H}/x"]


@pytest.mark.parametrize("value", PATHS)
@pytest.mark.parametrize("key", ["ckpt", "+resume", "++out", "data_root", "data.root", "hydra.run.dir", "hydra.sweep.dir"])
def test_a_path_reaches_hydra_as_typed(key: str, value: str) -> None:
    [quoted] = cli.quote_paths([f"{key}={value}"])
    override = OverridesParser.create().parse_override(quoted)
    assert override.value() == value and not override.is_sweep_override(), quoted


@pytest.mark.parametrize("arg", ["resume=auto", "resume=null", "data_root=NULL", "ckpt='a=b'", 'out="a,b"', "ckpt=", "~resume", "seed=0,1", "-m", "--cfg", "loss=x,y", "out_x=a=b"])
def test_other_arguments_pass_unchanged(arg: str) -> None:
    assert cli.quote_paths([arg]) == [arg]


def test_a_real_sweeps_folders_work_unquoted(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    # choice(nonsat) is a sweep of one value: two jobs whose folders are named like a real sweep's, loss=nonsat,seed=1
    assert run_cli(["train", "-m", "seed=0,1", "loss=choice(nonsat)", *QUICK, f"hydra.sweep.dir={sweep}"])[0] == 0
    job = sweep / "loss=nonsat,seed=1"
    assert (job / "checkpoints" / "last.pt").is_file(), sorted(p.name for p in sweep.iterdir())
    # The shell hands these over unquoted, as it completes them; once through the installed command, then in this process.
    gan("sample", f"ckpt={job}", "n=16", f"out={tmp_path / 'samples'}", "device=cpu")
    assert len([line for line in (tmp_path / "samples" / "samples.txt").read_text().splitlines() if not line.startswith("#")]) == 16
    status, text = run_cli(["eval", f"ckpt={job / 'checkpoints' / 'last.pt'}", "n=200", f"out={job / 'eval,again'}", "device=cpu"])
    assert status == 0 and json.loads((job / "eval,again" / "eval.json").read_text())["step"] == 4, text
    status, text = run_cli(["train", f"resume={job}", "steps=6", "device=cpu"])  # continues in the job's own folder
    assert status == 0 and json.loads((job / "metrics.json").read_text())["step"] == 6, text
    shutil.rmtree(job / "eval,again")
    status, text = run_cli(["report", str(job)])
    assert status == 0 and (job / "report.csv").is_file(), text
