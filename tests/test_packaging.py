"""What a user installs: the wheel holds exactly this checkout's modules and configs, and trains from outside it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from filelock import FileLock

from tests.mnist_files import write_mnist

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("gan_cli/**/*.py", "gan_cli/eval/*.pt", "gan_cli/eval/*.json", "conf/**/*.py", "conf/**/*.yaml")
REGS = sorted(p.stem for p in (REPO / "conf" / "reg").glob("*.yaml"))
FEW = ["batch_size=8", "log_every=1", "sample_every=2", "ckpt_every=2", "preview_n=16", "eval.every=2", "eval.n=200", "eval.n_during=100", "device=cpu"]
# No PYTHONPATH: it would put a checkout's gan_cli ahead of the installed one.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1", "COLUMNS": "120"}


@dataclass
class Installed:
    wheel: Path
    build_output: str
    python: Path  # a virtual environment that holds the wheel and sees this one's dependencies, not its gan_cli
    site: Path  # where the wheel went
    mnist: Path
    tmp: Path


def source_files() -> dict[str, bytes]:
    """What the wheel must hold, by its name there: gan_cli/ as it is, conf/ as gan_cli/conf/."""
    found = {}
    for pattern in SHIPPED:
        for path in REPO.glob(pattern):
            rel = path.relative_to(REPO).as_posix()
            if "__pycache__" in path.parts or rel.startswith("gan_cli/conf/"):  # gan_cli/conf: a local symlink to conf/
                continue
            found[rel if rel.startswith("gan_cli/") else f"gan_cli/{rel}"] = path.read_bytes()
    return found


def _copy_source(to: Path) -> None:
    """The files a fresh clone has: no caches, no egg-info, no git-ignored symlink gan_cli/conf."""
    to.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, to / name)

    def left_out(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n == "__pycache__" or n.endswith(".egg-info") or os.path.islink(os.path.join(folder, n))}

    for name in ("conf", "gan_cli"):
        shutil.copytree(REPO / name, to / name, ignore=left_out)


def _install(tmp: Path) -> Installed:
    _copy_source(tmp / "source")  # a copy, so the build leaves nothing in the checkout
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    build = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp), str(tmp / "source")], env=ENV, capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    [wheel] = tmp.glob("gan_cli-*.whl")
    # A fresh environment rather than PYTHONPATH: in one with gan-cli installed editable, setuptools' import
    # hook would quietly fill in any module missing from the wheel from that checkout.
    venv.EnvBuilder(with_pip=False).create(tmp / "venv")
    python = tmp / "venv" / "bin" / "python"
    install = subprocess.run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)], env=ENV, capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True).stdout.strip())
    # torch, hydra, ... from this environment; a plain .pth path runs none of that folder's own .pth hooks.
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    mnist = write_mnist(tmp / "mnist")
    (tmp / "build_output.txt").write_text(build.stdout + build.stderr)  # last: marks a complete install
    return Installed(wheel, build.stdout + build.stderr, python, site, mnist, tmp)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Installed:
    if worker_id == "master":  # no xdist
        return _install(tmp_path_factory.mktemp("installed"))
    # Under xdist, the first worker to get here builds and installs; the others use its install (pytest-xdist's recipe).
    tmp = tmp_path_factory.getbasetemp().parent / "installed_wheel"
    with FileLock(f"{tmp}.lock"):
        if not (tmp / "build_output.txt").is_file():  # none yet, or one that failed half-way
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            return _install(tmp)
    [wheel] = tmp.glob("gan_cli-*.whl")
    site = Path(subprocess.run([tmp / "venv" / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True).stdout.strip())
    return Installed(wheel, (tmp / "build_output.txt").read_text(), tmp / "venv" / "bin" / "python", site, tmp / "mnist", tmp)


def test_the_wheel_holds_exactly_the_checkouts_modules_and_configs(installed: Installed) -> None:
    expected = source_files()
    assert "gan_cli/regs/infogan.py" in expected and "gan_cli/conf/reg/infogan.yaml" in expected  # the glob sees subpackages
    with zipfile.ZipFile(installed.wheel) as wheel:
        shipped = {name: wheel.read(name) for name in wheel.namelist() if ".dist-info/" not in name}
    assert sorted(set(expected) - set(shipped)) == [], "missing from the wheel"
    assert sorted(set(shipped) - set(expected)) == [], "in the wheel but not in the checkout"
    assert [name for name in expected if shipped[name] != expected[name]] == [], "different bytes"


def test_building_the_wheel_prints_no_warnings(installed: Installed) -> None:
    # setuptools' deprecations and "Package ... is absent from the `packages` configuration" pages
    assert "warning" not in installed.build_output.lower(), installed.build_output


INSIDE = """
import contextlib, io, json, sys
from pathlib import Path

import gan_cli
from gan_cli.compat import working_combinations
from gan_cli.train import train
from hydra import compose, initialize_config_module
from omegaconf import open_dict

site, out, mnist, few, regs = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4]), json.loads(sys.argv[5])
runs = [c.split() for c in working_combinations()] + [["data=ring2d", f"+reg=[{reg}]"] for reg in regs]
results = {}
with initialize_config_module("gan_cli.conf", version_base="1.3"):
    for i, run in enumerate(runs):
        overrides = [*run, *few] + ([f"data.root={mnist}", "data.download=false"] if "data=mnist" in run else [])
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
        choices = {k: v for k, v in cfg.hydra.runtime.choices.items() if not k.startswith("hydra/")}
        with open_dict(cfg):
            del cfg["hydra"]
        with contextlib.redirect_stdout(io.StringIO()):
            metrics = train(cfg, out / str(i), choices=choices, overrides=overrides)
        results[" ".join(run)] = [metrics["status"], metrics["step"]]
modules = {name: getattr(m, "__file__", None) for name, m in sys.modules.items() if name == "gan_cli" or name.startswith("gan_cli.")}
print(json.dumps({"results": results, "modules": modules}))
"""


def test_every_combination_and_every_trick_trains_from_the_installed_wheel(installed: Installed) -> None:
    done = subprocess.run(
        [installed.python, "-c", INSIDE, str(installed.site), str(installed.tmp / "runs"), str(installed.mnist), json.dumps(["steps=2", *FEW]), json.dumps(REGS)],
        cwd=installed.tmp,  # nothing named gan_cli here
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    combos = [run for run in report["results"] if "+reg" not in run]
    assert "data=mnist model=dcgan" in combos and "data=gaussian model=mlp" in combos, combos
    assert sorted(run for run in report["results"] if "+reg" in run) == sorted(f"data=ring2d +reg=[{reg}]" for reg in REGS)
    assert {run: r for run, r in report["results"].items() if r != ["completed", 2]} == {}
    modules = report["modules"]
    assert {f"gan_cli.regs.{reg}" for reg in REGS} <= set(modules)  # each trick's module was imported ...
    assert {name: f for name, f in modules.items() if f is not None and not f.startswith(str(installed.site))} == {}  # ... from the wheel


def test_the_installed_console_script_trains_dcgan_with_tricks(installed: Installed) -> None:
    run = installed.tmp / "console"
    tricks = ["ema", "r1", "infogan"]  # the loop and three trick modules; whatever model=dcgan includes by default
    command = [installed.python.with_name("gan"), "train", "model=dcgan", f"+reg=[{','.join(tricks)}]", f"data.root={installed.mnist}", "data.download=false", "steps=5", *FEW, f"hydra.run.dir={run}"]
    done = subprocess.run(command, cwd=installed.tmp, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["status"], metrics["step"]) == ("completed", 5)
    state = torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    assert set(tricks) <= set(state["config"]["reg"]) and "G_sample" in state  # the tricks ran; EMA keeps its own G
