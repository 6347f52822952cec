"""The config ships inside the package: Hydra finds it from a built wheel, not only from this checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_carries_every_config_and_composes_from_it(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy, so the build leaves nothing in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for name in ("conf", "gan_cli"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("gan_cli-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for yaml in REPO.glob("conf/**/*.yaml"):
        assert f"gan_cli/conf/{yaml.relative_to(REPO / 'conf')}" in names, yaml
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    probe = (
        "import gan_cli, sys; assert gan_cli.__file__.startswith(sys.argv[1]), gan_cli.__file__\n"
        "from hydra import compose, initialize_config_module\n"
        "with initialize_config_module('gan_cli.conf', version_base='1.3'):\n"
        "    cfg = compose('train', overrides=['model=dcgan'])\n"
        "print(cfg.data._target_)\n"
    )
    # The unpacked wheel comes first on the path, ahead of this checkout's editable install.
    done = subprocess.run([sys.executable, "-c", probe, str(unpacked)], cwd=tmp_path, env={"PYTHONPATH": str(unpacked)}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "gan_cli.data.mnist.MNIST"
