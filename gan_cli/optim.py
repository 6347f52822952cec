"""torch's Adam without torch._dynamo: the same class, state and arithmetic, 2 s less start-up for every run.

torch wraps Optimizer's add_param_group, zero_grad, state_dict and load_state_dict in `torch._disable_dynamo`, and
Adam.step in `_use_grad_for_differentiable`; both import torch._dynamo on first use (2.0 s on 2 cores, nearly as
long as `import torch`) only to keep torch.compile out of the optimiser. gan-cli compiles nothing, so this Adam
calls the functions inside those wrappers (functools.wraps keeps them as `__wrapped__`; `inspect.unwrap` also
passes the step hook torch adds to Adam.step once an Adam exists). Where a torch version lacks a wrapper, the
method is torch's own: slower to start, never wrong. Checkpoints are unchanged:
state_dict() is torch's, and a run saved with torch.optim.Adam resumes with it (resume keeps the saved _target_).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

_ADD_PARAM_GROUP = inspect.unwrap(torch.optim.Optimizer.add_param_group)
_ZERO_GRAD = inspect.unwrap(torch.optim.Optimizer.zero_grad)
_STATE_DICT = inspect.unwrap(torch.optim.Optimizer.state_dict)
_LOAD_STATE_DICT = inspect.unwrap(torch.optim.Optimizer.load_state_dict)
_STEP = inspect.unwrap(torch.optim.Adam.step)


class Adam(torch.optim.Adam):
    """torch.optim.Adam (every option the same) that never imports torch._dynamo."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        _ADD_PARAM_GROUP(self, param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        _ZERO_GRAD(self, set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return _STATE_DICT(self)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _LOAD_STATE_DICT(self, state_dict)

    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        # What torch's wrapper does outside torch.compile: the update itself records no graph.
        with torch.set_grad_enabled(self.defaults["differentiable"]):
            return _STEP(self, closure)
