"""One run on several processes (torchrun): the ranks are a mode of the one loop, as a population's members are.

How the ranks stay one run, and why this way rather than DistributedDataParallel (the choice StyleGAN2-ADA and
StyleGAN3 made too):
- Weights are broadcast from rank 0 once, when the networks are built; after that every rank applies the same
  averaged gradient with the same optimiser, so the weights stay equal without DDP's broadcast of batch-norm buffers
  before every forward (which a GAN's several forwards per step, through D on real, fake and penalty batches, break).
- Before every optimiser step the gradients travel as one flat tensor, all-reduced and divided by the world size:
  the losses are batch means over equal shares, so the mean of the ranks' gradients is the global batch's gradient.
  A gradient penalty's double backward is ordinary local autograd; DDP's hooks do not support it.
- Every rank draws the whole global batch's data indices and noise from the run's streams (the streams of a
  1-process run of the same seed) and keeps its own rows, so the union of the ranks' batches is the 1-process batch.
  A rank's other random draws (dropout, instance noise) come from its own stream: the global RNG seeded per rank.
- Batch norm normalises each rank's share unless sync_bn=true (SyncedBatchNorm: the global batch's statistics).
- Only rank 0 writes (logs, checkpoints, metrics, pictures); the losses it logs are the ranks' mean.
The process group is joined before Hydra composes the config, so that every rank names the run folder with rank 0's
start time. Its backend follows each tensor's device: NCCL for CUDA tensors, gloo for CPU ones.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from omegaconf import DictConfig
from torch import nn

from gan_cli.errors import UserError


def launched() -> bool:
    """Whether this process is one of several that torchrun started for one run."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@contextlib.contextmanager
def joined() -> Iterator[Ranks]:
    """Inside: this process is in torchrun's process group (nothing to join in a 1-process run); left at the end."""
    if not launched() or dist.is_initialized():
        yield current()
        return
    if local_rank() < torch.cuda.device_count():  # "cuda" means this rank's own GPU from here on
        torch.cuda.set_device(local_rank())
    # A backend per device: collectives on CUDA tensors go through NCCL, those on CPU tensors (device=cpu, objects) through gloo.
    dist.init_process_group("cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")
    try:
        yield current()
    finally:
        dist.destroy_process_group()


def local_rank() -> int:
    """This process's number among torchrun's processes on this machine: the GPU it takes."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def current() -> Ranks:
    """The processes of this run: one (rank 0 of 1) outside torchrun."""
    return Ranks(dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else Ranks()


def check(cfg: DictConfig, ranks: Ranks) -> None:
    """Refuse, before any work, what several processes cannot do."""
    if ranks.world == 1:
        return
    if cfg.population != 1:
        raise UserError(
            f"population={cfg.population} under torchrun ({ranks.world} processes): a population is trained in one process. "
            "Run the population with plain gan train, or train one seed on several processes (population=1)."
        )
    if cfg.batch_size % ranks.world:
        raise UserError(
            f"batch_size={cfg.batch_size} does not split into {ranks.world} equal shares, one per process; each process takes "
            f"batch_size / {ranks.world} samples. Choose a multiple of {ranks.world}, e.g. batch_size={cfg.batch_size // ranks.world * ranks.world or ranks.world}."
        )
    if cfg.divergence.retries:
        raise UserError(
            f"divergence.retries={cfg.divergence.retries} under torchrun: rolling back is not supported on several processes. "
            "Drop divergence.retries (the run stops at a divergence), and resume from its last checkpoint with lower rates."
        )


class Ranks:
    """The processes that train one run; rank 0 of 1 (every method a no-op) outside torchrun."""

    def __init__(self, rank: int = 0, world: int = 1) -> None:
        self.rank, self.world = rank, world

    @property
    def writes(self) -> bool:
        """Whether this process writes the run's files and output: rank 0 alone."""
        return self.rank == 0

    def share(self, batch: Any) -> Any:
        """This rank's rows of a global batch (a tensor, or a tuple such as (x, y)): the rank-th of `world` equal parts."""
        if self.world == 1:
            return batch
        if isinstance(batch, tuple):
            return tuple(self.share(part) for part in batch)
        n = len(batch) // self.world
        return batch[self.rank * n : (self.rank + 1) * n]

    def prepare(self, G: nn.Module, D: nn.Module, sync_bn: bool) -> tuple[nn.Module, nn.Module]:
        """The networks every rank starts from: rank 0's weights and buffers (batch norm synchronised if asked)."""
        if self.world == 1:
            return G, D
        if next(G.parameters()).is_cuda and local_rank() >= torch.cuda.device_count():
            raise UserError(
                f"torchrun started process {local_rank()} on this machine, which has {torch.cuda.device_count()} GPU(s): each "
                "process takes a GPU of its own (NCCL cannot share one). Use --nproc_per_node at most the GPU count, or device=cpu."
            )
        if sync_bn:
            G, D = synced_batch_norm(G), synced_batch_norm(D)
        for net in (G, D):
            for tensor in (*net.parameters(), *net.buffers()):
                dist.broadcast(tensor.data, src=0)
        return G, D

    def seed_own_stream(self, seed: int) -> None:
        """Give this rank's global RNG a stream of its own (dropout, instance noise), from the run's seed and the rank."""
        if self.world > 1:
            torch.manual_seed(int(np.random.SeedSequence([seed, self.rank]).generate_state(1)[0]))

    def average_gradients(self, opt: torch.optim.Optimizer) -> None:
        """Replace each gradient of `opt`'s parameters by its mean over the ranks: one flat all-reduce."""
        if self.world == 1:
            return
        grads = [p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def agree(self, values: torch.Tensor, stop: int | None) -> tuple[torch.Tensor, int | None]:
        """The round's logged values averaged over the ranks, and the signal any rank was stopped by: every rank then
        makes the same decisions (divergence, stopping) in the same round. One all-gather of one small tensor."""
        if self.world == 1:
            return values, stop
        mine = torch.cat([values.flatten(), torch.tensor([float(stop or 0)])])
        every = [torch.empty_like(mine) for _ in range(self.world)]
        dist.all_gather(every, mine)
        stacked = torch.stack(every)  # (world, 4K + 1)
        signal = int(stacked[:, -1].max())
        return stacked[:, :-1].mean(0).view_as(values), signal or None

    def gather(self, obj: Any) -> list[Any]:
        """`obj` of every rank, in rank order (on every rank)."""
        if self.world == 1:
            return [obj]
        every: list[Any] = [None] * self.world
        dist.all_gather_object(every, obj)
        return every

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's `obj`, on every rank."""
        if self.world == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def start_time(ranks: Ranks) -> datetime:
    """The run's start: rank 0's clock, the same on every rank."""
    return ranks.broadcast(datetime.now())


class SyncedBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are the global batch's, over every rank's share (sync_bn=true). Torch's
    SyncBatchNorm runs on GPUs only; this one on any device. Same parameters and buffers as the layer it replaces,
    so a checkpoint loads into an ordinary run. Two passes (mean, then the mean squared deviation), as one process's
    batch norm computes them, each one differentiable all-reduce."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input (got {x.dim()}-D)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not dist.is_initialized() or dist.get_world_size() == 1:
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        dims = [0, *range(2, x.dim())]  # all but the channels
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = x.numel() // x.shape[1] * dist.get_world_size()  # equal shares on every rank
        mean = all_reduce(x.sum(dims)) / count  # (C,)
        centred = x - mean.view(shape)
        var = all_reduce(centred.pow(2).sum(dims)) / count  # biased, as batch norm normalises with
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(var.detach() * count / max(count - 1, 1), alpha=momentum)
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y


def synced_batch_norm(net: nn.Module) -> nn.Module:
    """`net` with every batch-norm layer replaced by a SyncedBatchNorm that holds the same tensors."""
    if isinstance(net, nn.modules.batchnorm._BatchNorm) and not isinstance(net, SyncedBatchNorm):
        synced = SyncedBatchNorm(net.num_features, net.eps, net.momentum, net.affine, net.track_running_stats)
        synced._parameters, synced._buffers = net._parameters, net._buffers  # the same tensors, the same state_dict keys
        return synced.train(net.training)
    for name, child in net.named_children():
        net._modules[name] = synced_batch_norm(child)
    return net
