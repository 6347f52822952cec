"""gan_cli.optim.Adam is torch's Adam, bit for bit (that a run never imports torch._dynamo: tests/test_train.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gan_cli import checkpoint
from gan_cli.optim import Adam
from tests.conftest import run_train


def _train(opt_class: type, fused: bool, steps: int = 5) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LeakyReLU(0.2), torch.nn.Linear(8, 1))
    opt = opt_class(net.parameters(), lr=1e-2, betas=(0.5, 0.999), fused=fused)
    for i in range(steps):
        opt.zero_grad()
        net(torch.randn(16, 4, generator=torch.Generator().manual_seed(i))).square().mean().backward()
        opt.step()
    return net, opt


@pytest.mark.parametrize("fused", [True, False])
def test_adam_updates_and_state_equal_torchs_bit_for_bit(fused: bool) -> None:
    ours, opt = _train(Adam, fused)
    theirs, ref = _train(torch.optim.Adam, fused)
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters()))
    mine, torchs = opt.state_dict(), ref.state_dict()
    assert mine["param_groups"] == torchs["param_groups"]
    for index, state in torchs["state"].items():
        assert all(torch.equal(state[key], mine["state"][index][key]) for key in state)
    # The state goes both ways: a checkpoint from either class continues in the other.
    loaded = torch.optim.Adam(ours.parameters(), lr=1.0, fused=fused)
    loaded.load_state_dict(mine)
    assert loaded.state_dict()["param_groups"] == torchs["param_groups"]


def test_adam_runs_torchs_step_hooks() -> None:
    _, opt = _train(Adam, fused=True, steps=1)
    seen: list[int] = []
    opt.register_step_post_hook(lambda *_: seen.append(1))
    opt.step()
    assert seen == [1]


def test_a_run_saved_with_torchs_adam_resumes_with_it(tmp_path: Path) -> None:
    torchs = ["optim.g._target_=torch.optim.Adam", "optim.d._target_=torch.optim.Adam", "steps=4", "eval.n=0", "eval.n_during=0", "device=cpu"]
    run_train(torchs, tmp_path)
    state = run_train(["resume=auto", "steps=8", "eval.n=0", "eval.n_during=0", "device=cpu"], tmp_path)
    assert state["step"] == 8
    saved = checkpoint.load(tmp_path / "checkpoints" / "last.pt")["config"]
    assert saved["optim"]["g"]["_target_"] == "torch.optim.Adam"  # resume keeps the run's own optimiser
