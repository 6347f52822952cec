"""`gan sample` rebuilds G from a checkpoint alone and writes files a person can open."""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import shutil
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_cli.errors import UserError
from gan_cli.evaluate import evaluate, pool
from gan_cli import checkpoint
from gan_cli.generate import generate
from gan_cli.sample import load_generator, sample
from tests.conftest import QUICK, compose_config, run_train


@pytest.fixture(scope="module")
def gaussian_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("gaussian_run")
    run_train(["steps=20", *QUICK[1:]], run)
    return run


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory: pytest.TempPathFactory, mnist_root: Path) -> Path:
    run = tmp_path_factory.mktemp("mnist_run")
    run_train(["model=dcgan", "+reg=[infogan]", f"data.root={mnist_root}", "data.download=false", *QUICK], run)
    return run


def run_sample(out: Path, **options: object) -> dict:
    cfg, _ = compose_config("sample", [f"{k}={v}" for k, v in options.items()] + ["device=cpu"])
    with contextlib.redirect_stdout(io.StringIO()):
        return sample(cfg, out)


def test_a_single_one_d_sample_has_no_spread_and_no_warning(gaussian_run: Path, tmp_path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns on the std of one value; the command must not
        result = run_sample(tmp_path, ckpt=gaussian_run, n=1)
    assert np.isnan(result["std"]) and np.isfinite(result["mean"])


def test_one_d_samples_histogram_and_moments(gaussian_run: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / "copy.pt"  # a copy far from its run folder: nothing else is needed
    shutil.copy(gaussian_run / "checkpoints" / "last.pt", ckpt)
    shutil.rmtree(gaussian_run / "tb")
    result = run_sample(tmp_path / "out", ckpt=ckpt, n=500)
    values = np.loadtxt(tmp_path / "out" / "samples.txt")
    assert values.shape == (500,)
    assert result["mean"] == pytest.approx(values.mean(), abs=1e-5)
    assert result["std"] == pytest.approx(values.std(ddof=1), abs=1e-5)
    with Image.open(tmp_path / "out" / "histogram.png") as png:
        assert png.format == "PNG" and png.width > 100


def run_eval(out: Path, **options: object) -> tuple[dict, str]:
    """`gan eval` in this process: its result and what it printed."""
    cfg, _ = compose_config("eval", [f"{k}={v}" for k, v in options.items()] + ["device=cpu"])
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        result = evaluate(cfg, out)
    return result, printed.getvalue()


def test_eval_over_several_noise_draws_gives_their_mean_and_spread(mnist_run: Path, tmp_path: Path) -> None:
    singles = [run_eval(tmp_path / f"seed{s}", ckpt=mnist_run, n=200, seed=s)[0]["eval"] for s in (3, 4, 5)]
    pooled, printed = run_eval(tmp_path / "pooled", ckpt=mnist_run, n=200, seed=3, draws=3)
    assert pooled["seeds"] == [3, 4, 5] and pooled["draws"] == singles  # draw i is the single evaluation at seed 3+i
    assert json.loads((tmp_path / "pooled" / "eval.json").read_text())["eval_std"] == pooled["eval_std"]
    for key in ("fd", "kid", "classifier_score", "precision", "recall"):
        values = [e[key] for e in singles]
        assert pooled["eval"][key] == pytest.approx(statistics.fmean(values))
        assert pooled["eval_std"][key] == pytest.approx(statistics.stdev(values))
        assert f"{pooled['eval'][key]:.4g} ± {pooled['eval_std'][key]:.2g}" in printed
    assert min(pooled["eval_std"][k] for k in ("fd", "classifier_score")) > 0  # the draws differ
    assert f"modes_covered {pooled['eval']['modes_covered']:.4g} ± {pooled['eval_std']['modes_covered']:.2g}" in " ".join(printed.replace("│", " ").split())
    assert pooled["eval"]["class_histogram"] == [sum(c) for c in zip(*(e["class_histogram"] for e in singles))]
    assert sum(pooled["eval"]["class_histogram"]) == 600 and pooled["eval"]["n_fake"] == 200
    assert pooled["eval"]["success"] == all(e["success"] for e in singles)
    assert pooled["eval"]["extractor_sha256"] == singles[0]["extractor_sha256"]
    # one draw (the default) keeps eval.json as it always was
    assert set(run_eval(tmp_path / "one", ckpt=mnist_run, n=200)[0]) == {"checkpoint", "step", "seed", "choices", "eval"}


def test_eval_draws_of_a_one_d_run_show_the_spread_of_the_moments(gaussian_run: Path, tmp_path: Path) -> None:
    pooled, printed = run_eval(tmp_path, ckpt=gaussian_run, n=300, draws=2)
    assert pooled["eval_std"]["mean"] > 0 and pooled["eval_std"]["w1"] > 0
    # the table may wrap a long cell onto its next line: read it without the borders
    assert f"± {pooled['eval_std']['mean']:.2g} over the draws" in " ".join(printed.replace("│", " ").split())
    with pytest.raises(UserError, match="draws=0 is not allowed: draws must be a whole number from 1 to 100"):
        run_eval(tmp_path, ckpt=gaussian_run, draws=0)


def test_pooled_draws_succeed_only_if_all_do_and_collapse_if_any_does() -> None:
    draws = [{"success": True, "collapsed": False, "fd": 1.0, "n": 5}, {"success": False, "collapsed": True, "fd": 3.0, "n": 5}]
    pooled, spread = pool(draws)
    assert pooled == {"success": False, "collapsed": True, "fd": 2.0, "n": 5}
    assert spread == {"fd": pytest.approx(2**0.5)}


def test_image_grid_and_raw_samples(mnist_run: Path, tmp_path: Path) -> None:
    run_sample(tmp_path, ckpt=mnist_run, n=16)  # a run folder works as well as a file
    raw = np.load(tmp_path / "samples.npy")
    assert raw.shape == (16, 1, 28, 28) and raw.min() >= -1 and raw.max() <= 1
    with Image.open(tmp_path / "samples.png") as png:
        assert png.size == (4 * 28 + 5 * 2, 4 * 28 + 5 * 2)  # a 4x4 grid with 2-pixel padding
    # InfoGAN's code: samples come ordered by it, and codes.txt says each one's
    codes = [int(c) for c in (tmp_path / "codes.txt").read_text().split()]
    assert len(codes) == 16 and codes == sorted(codes) and set(codes) <= set(range(10)) and len(set(codes)) > 1
    state = checkpoint.load(mnist_run / "checkpoints" / "last.pt")
    G, _, latent = load_generator(state, torch.device("cpu"))
    unordered = generate(G, latent, 16, 0, torch.device("cpu"))  # the same noise, in drawing order
    drawn = latent.code(latent.sample(16, generator=torch.Generator().manual_seed(0)))
    order = drawn.argsort(stable=True)
    assert np.array_equal(raw, unordered[order].numpy()) and codes == drawn[order].tolist()  # each sample beside its code


def test_samples_are_drawn_on_the_runs_device(gaussian_run: Path) -> None:
    """They stay where G made them, for the evaluation there (the meta device stands in for a GPU)."""
    state = checkpoint.load(gaussian_run / "checkpoints" / "last.pt")
    G, _, latent = load_generator(state, torch.device("meta"))
    fake = generate(G, latent, 8, 0, torch.device("meta"))
    assert fake.device == torch.device("meta") and fake.shape == (8, 1) and fake.dtype == torch.float32


def test_same_seed_same_samples(gaussian_run: Path, tmp_path: Path) -> None:
    ckpt = gaussian_run / "checkpoints" / "last.pt"
    a = run_sample(tmp_path / "a", ckpt=ckpt, n=50, seed=1)
    b = run_sample(tmp_path / "b", ckpt=ckpt, n=50, seed=1)
    c = run_sample(tmp_path / "c", ckpt=ckpt, n=50, seed=2)
    assert (tmp_path / "a" / "samples.txt").read_text() == (tmp_path / "b" / "samples.txt").read_text()
    assert a["mean"] == b["mean"] != c["mean"]


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # unpickling this would create the marker file
        return (Path.touch, (self.marker,))


def bad_checkpoints(tmp_path: Path, good: Path) -> dict[str, Path]:
    files = {
        "empty": b"",
        "random": np.random.default_rng(0).bytes(4096),
        "truncated": good.read_bytes()[: len(good.read_bytes()) // 2],
    }
    paths = {name: tmp_path / f"{name}.pt" for name in files}
    for name, data in files.items():
        paths[name].write_bytes(data)
    paths["foreign"] = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, paths["foreign"])
    paths["malicious"] = tmp_path / "malicious.pt"
    with open(paths["malicious"], "wb") as f:
        pickle.dump(_Exploit(tmp_path / "pwned"), f)
    torch.save({"x": _Exploit(tmp_path / "pwned")}, tmp_path / "malicious_zip.pt")
    paths["malicious_zip"] = tmp_path / "malicious_zip.pt"
    return paths


def refuse(command: str, path: Path, tmp_path: Path) -> str:
    """Hand `path` to a command that reads checkpoints; return its UserError's message."""
    with pytest.raises(UserError) as e:
        if command == "sample":
            run_sample(tmp_path / "out", ckpt=path)
        elif command == "eval":
            cfg, _ = compose_config("eval", [f"ckpt={path}", "n=100", "device=cpu"])
            evaluate(cfg, tmp_path / "eval")
        else:
            run_train([f"resume={path}", "device=cpu"], tmp_path / "resumed")
    return str(e.value)


@pytest.mark.parametrize("command", ["sample", "eval", "resume"])
def test_bad_checkpoints_are_refused_with_a_message(command: str, gaussian_run: Path, tmp_path: Path) -> None:
    for name, path in bad_checkpoints(tmp_path, gaussian_run / "checkpoints" / "last.pt").items():
        message = refuse(command, path, tmp_path)
        assert str(path) in message, (name, message)
        if name.startswith("malicious"):
            assert "would run code" in message or "not a readable checkpoint" in message
        if name == "malicious_zip":
            assert "would run code" in message
    assert not (tmp_path / "pwned").exists(), "a checkpoint ran code while being read"
    assert "does not exist" in refuse(command, tmp_path / "missing.pt", tmp_path)


def test_checkpoints_of_other_versions_and_edited_ones(gaussian_run: Path, tmp_path: Path) -> None:
    good = torch.load(gaussian_run / "checkpoints" / "last.pt", weights_only=True)
    newer, older, edited = tmp_path / "newer.pt", tmp_path / "older.pt", tmp_path / "edited.pt"
    torch.save({**good, "format_version": 99}, newer)
    torch.save({**good, "format_version": 1}, older)
    torch.save({k: v for k, v in good.items() if k != "config"}, edited)
    for command in ("sample", "eval", "resume"):
        assert "uses checkpoint format 99" in refuse(command, newer, tmp_path)
        assert "without a valid `config` entry" in refuse(command, edited, tmp_path)
    # format 1 lacked the data order: it still samples, but cannot be resumed exactly
    run_sample(tmp_path / "old", ckpt=older, n=10)
    assert "cannot be continued exactly" in refuse("resume", older, tmp_path)


def test_a_dcgan_checkpoint_from_before_model_fc_samples_as_it_did(mnist_root: Path, tmp_path: Path) -> None:
    # Checkpoints written before model.fc existed hold the all-convolutional DCGAN and no fc key.
    run_train(["model=dcgan", "model.fc=0", f"data.root={mnist_root}", "data.download=false", *QUICK], tmp_path / "run")
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert state["config"]["model"].pop("fc") == 0
    torch.save(state, tmp_path / "before_fc.pt")
    run_sample(tmp_path / "now", ckpt=tmp_path / "run", n=8)
    run_sample(tmp_path / "then", ckpt=tmp_path / "before_fc.pt", n=8)
    assert np.array_equal(np.load(tmp_path / "now" / "samples.npy"), np.load(tmp_path / "then" / "samples.npy"))
