"""The commands as a user types them, in subprocesses: success paths and every error a user can cause."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.commands import assert_clean_error, gan

QUICK = ["batch_size=8", "log_every=2", "sample_every=4", "ckpt_every=4", "preview_n=16", "eval.n=500", "eval.n_during=200", "device=cpu"]


def test_gan_help_lists_the_commands() -> None:
    out = gan("--help").stdout
    assert "train" in out and "sample" in out
    assert_clean_error(gan("fly", status=2), "unknown command 'fly'", "train, sample")


def test_train_help_shows_the_config_groups() -> None:
    out = gan("train", "--help").stdout
    for line in (
        "data: gaussian, gaussian_mixture_1d, grid2d, mnist, ring2d",
        "model: dcgan, mlp",
        "loss: hinge, lsgan, minimax, nonsat, relativistic, wgan_gp",
        "device: auto, cpu, cuda, mps",
        "reg: ema, feature_matching, historical_averaging",
    ):
        assert line in out, out
    assert "d_steps" in out


def test_cfg_job_prints_the_composed_config() -> None:
    out = gan("train", "model=dcgan", "--cfg", "job").stdout
    assert "gan_cli.models.dcgan.build" in out and "gan_cli.data.mnist.MNIST" in out


def test_train_then_sample_from_a_copied_checkpoint_in_an_empty_folder(tmp_path: Path) -> None:
    run = tmp_path / "run+reg=[ema]"  # a sweep's folder names can hold brackets; rich must not read them as markup
    out = gan("train", "steps=40", *QUICK, f"hydra.run.dir='{run}'").stdout
    assert "G mean" in out and "target 4.000" in out and f"-> {run}" in out
    assert json.loads((run / "metrics.json").read_text())["status"] == "completed"
    assert (run / ".hydra" / "config.yaml").is_file()

    empty = tmp_path / "elsewhere"
    empty.mkdir()
    shutil.copy(run / "checkpoints" / "last.pt", empty / "model.pt")
    out = gan("sample", "ckpt=model.pt", "n=300", "device=cpu", cwd=empty).stdout
    assert "mean" in out and "std" in out
    [folder] = (empty / "outputs" / "samples").glob("*/*")
    assert len((folder / "samples.txt").read_text().split("\n")) >= 300
    assert (folder / "histogram.png").is_file()


def test_multirun_gives_each_job_its_own_named_folder(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    gan("train", "-m", "loss=minimax,nonsat", "seed=0,1", "steps=6", *QUICK, f"hydra.sweep.dir={sweep}")
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == ["loss=minimax,seed=0", "loss=minimax,seed=1", "loss=nonsat,seed=0", "loss=nonsat,seed=1"]
    for job in jobs:
        assert (sweep / job / "checkpoints" / "last.pt").is_file()
        assert list((sweep / job / "tb").glob("events.out.tfevents.*"))
        metrics = json.loads((sweep / job / "metrics.json").read_text())
        assert metrics["status"] == "completed" and metrics["choices"]["loss"] == job.split(",")[0].split("=")[1]
    assert "report.csv" in gan("report", str(sweep)).stdout
    with open(sweep / "report.csv") as f:
        rows = {row["setting"]: row for row in csv.DictReader(f)}
    assert len(rows) == 2 and [sum(f"loss={l}" in k for k in rows) for l in ("minimax", "nonsat")] == [1, 1]  # seeds pooled
    assert all(row["runs"] == "2" for row in rows.values())
    assert "| setting | runs | succeeded |" in (sweep / "report.md").read_text()


def test_eval_writes_the_metrics_of_a_checkpoint(tmp_path: Path) -> None:
    gan("train", "steps=30", *QUICK, f"hydra.run.dir={tmp_path / 'run'}")
    out = gan("eval", f"ckpt={tmp_path / 'run'}", "n=2000", f"out={tmp_path / 'eval'}", "device=cpu").stdout
    assert "w1" in out and "ks" in out
    result = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert result["step"] == 30 and result["eval"]["n"] == 2000 and 0 <= result["eval"]["ks"] <= 1
    assert_clean_error(gan("eval", f"out={tmp_path}", status=2), "gan eval needs a checkpoint")
    assert_clean_error(gan("report", str(tmp_path / "nowhere"), status=2), "does not exist")


def test_a_diverging_job_is_recorded_and_the_sweep_goes_on(tmp_path: Path, mnist_root: Path) -> None:
    sweep = tmp_path / "sweep"
    mnist = ["data=mnist", "model=mlp", f"data.root={mnist_root}", "data.download=false"]
    gan("train", "-m", "optim.d.lr=1e30,1e-4", "steps=6", *mnist, *QUICK, f"hydra.sweep.dir={sweep}")
    statuses = {p.name: json.loads((p / "metrics.json").read_text())["status"] for p in sweep.iterdir() if p.is_dir()}
    assert statuses == {"optim.d.lr=1e+30": "diverged", "optim.d.lr=0.0001": "completed"}  # Hydra's spelling
    # alone, the same run says so in its exit status and its message
    done = gan("train", "optim.d.lr=1e30", "steps=6", *mnist, *QUICK, f"hydra.run.dir={tmp_path / 'one'}", status=3)
    assert "diverged" in done.stdout and "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("args", "phrases"),
    [
        (["data=gaussian", "model=dcgan"], ["model=dcgan needs 1x28x28 images", "Combinations that work", "data=gaussian model=mlp"]),
        (["loss=bogus"], ["'bogus' is not an option of loss", "(the files in conf/loss/) are: hinge, lsgan, minimax, nonsat, relativistic, wgan_gp"]),
        (["stepz=10"], ["stepz is not an option of gan train", "The closest option is steps: steps=10"]),
        (["model=dcgan", "model.fc=8192", "model.ngf=1024"], ["model.fc gives a network of", "the limit is 200,000,000. Choose smaller widths."]),
        (["+stepz=10"], ["stepz is not an option here", "batch_size", "steps"]),  # Hydra alone would ignore it
        (["steps=0"], ["steps=0 is not allowed", "steps must be a whole number >= 1"]),
        (["steps=ten"], ["steps='ten' is not allowed"]),
        (["optim.g.lr=-1"], ["optim.g.lr=-1 is not allowed", "> 0"]),
        (["optim.d.betas=[0.5,1.5]"], ["optim.d.betas=[0.5, 1.5] is not allowed"]),
        (["latent.dist=cauchy"], ["latent.dist='cauchy' is not known", "normal, uniform"]),
        (["latent.categories=-1"], ["latent.categories=-1 must be a whole number from 0"]),
        (["+reg=[infogan]", "latent.categories=1"], ["+reg=[infogan] needs a categorical code of at least 2 values", "leave infogan out of +reg"]),
        (["+reg=[infogan]", "latent.categories=0"], ["+reg=[infogan] needs a categorical code of at least 2 values", "latent.categories=10"]),
        (["data.std=-1"], ["data.std=-1 must be a finite number above 0"]),
        (["lr_decay=cosine"], ["lr_decay='cosine' is not allowed", "none or linear"]),
    ],
    ids=lambda v: v[0] if isinstance(v, list) and v and "=" in v[0] else None,
)
def test_bad_train_settings_end_in_one_clear_message(args: list[str], phrases: list[str], tmp_path: Path) -> None:
    done = gan("train", *args, "device=cpu", f"hydra.run.dir={tmp_path}", status=None)
    assert_clean_error(done, *phrases)
    # the list of working data x model pairs belongs to a mismatch only, not to every model error
    assert ("Combinations that work" in done.stderr + done.stdout) == ("Combinations that work" in phrases)
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_absent_device(tmp_path: Path) -> None:
    assert_clean_error(gan("train", "device=cuda", f"hydra.run.dir={tmp_path}", status=2), "device=cuda", "device=cpu")
    assert_clean_error(gan("train", "amp=true", "device=cpu", f"hydra.run.dir={tmp_path}", status=2), "what amp=true means) needs a CUDA device", "Use amp=bf16")


def test_mnist_missing_offline_names_the_root_and_the_files(tmp_path: Path) -> None:
    empty = tmp_path / "nothing_here"
    empty.mkdir()
    done = gan("train", "model=dcgan", f"data.root={empty}", "data.download=false", "device=cpu", f"hydra.run.dir={tmp_path / 'run'}", status=2)
    assert_clean_error(done, f"data.root='{empty}'", "train-images-idx3-ubyte", "data.download=true")


def test_sample_errors(tmp_path: Path) -> None:
    assert_clean_error(gan("sample", f"out={tmp_path}", status=2), "gan sample needs a checkpoint")
    assert_clean_error(gan("sample", "ckpt=nope.pt", f"out={tmp_path}", status=2), "ckpt='nope.pt' does not exist")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage" * 100)
    assert_clean_error(gan("sample", f"ckpt={junk}", f"out={tmp_path}", status=2), "not a readable checkpoint")
    assert_clean_error(gan("sample", "ckpt=x.pt", "n=0", f"out={tmp_path}", status=2), "n=0 is not allowed")
    assert_clean_error(gan("sample", "ckpt=x.pt", "+threads=1", f"out={tmp_path}", status=2), "threads is not an option here", "ckpt, columns, device, label, n, out, rows, seed, traverse")


def test_unwritable_output_and_data_root_that_is_a_file(tmp_path: Path) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    assert_clean_error(gan("train", f"hydra.run.dir={a_file / 'run'}", status=2), "hydra.run.dir=", "is a file, not a folder")
    assert_clean_error(gan("train", "-m", "seed=0,1", f"hydra.sweep.dir={a_file / 's'}", status=2), "hydra.sweep.dir=", "is a file")
    assert_clean_error(gan("sample", "ckpt=x.pt", f"out={a_file / 'out'}", status=2), "out=", "is a file, not a folder")
    done = gan("train", "model=dcgan", f"data.root={a_file}", "device=cpu", f"hydra.run.dir={tmp_path / 'run'}", status=2)
    assert_clean_error(done, f"data.root='{a_file}' is a file, not a folder")
