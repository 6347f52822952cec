"""The training loop. It knows the Experiment's interfaces (data, latent, G, D, loss) and never a variant's name."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from gan_cli.build import Experiment
from gan_cli.generate import generate, noise
from gan_cli.hooks import DStep, GStep, hook_metrics, reports_metrics
from gan_cli.log import RunLog
from gan_cli.population import take
from gan_cli.precision import Amp, autocast, scaler
from gan_cli.rng import set_rng_state

TAGS = ("loss/D", "loss/G", "D/real", "D/fake")  # stable TensorBoard tags; D/* mean what the loss's d_meaning says


@dataclass
class LoopOptions:
    steps: int  # rounds to train
    batch_size: int
    d_steps: int = 1  # D updates per round
    g_steps: int = 1  # G updates per round
    amp: Amp = "none"  # "bf16": bfloat16 autocast (CPU, CUDA); "fp16": float16 autocast + gradient scaling (CUDA)
    log_every: int = 50
    sample_every: int = 500
    ckpt_every: int = 1000
    preview_n: int = 64
    member_pictures: int = 1  # in a population, the members (the first) that draw pictures; an ordinary run always does
    lr_decay: str = "none"  # "linear": both learning rates fall linearly to 0 at the last step
    eval_every: int = 500  # steps between evaluations during training
    eval_n: int = 10000  # samples of G behind each of them


@dataclass
class LoopResult:
    status: str  # "completed", "diverged" or "interrupted"
    step: int  # rounds completed (with finite losses)
    elapsed_s: float
    last: dict[str, float] = field(default_factory=dict)  # the last logged means of TAGS
    diverged_at: int | None = None


def _given(y: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """D's arguments after x: the labels under a conditional GAN, nothing for an unconditional D."""
    return () if y is None else (y,)


class Trainer:
    def __init__(self, exp: Experiment, opts: LoopOptions) -> None:
        self.exp, self.opts = exp, opts  # the seeds are the members': exp.members.seeds
        self.members = m = exp.members
        self.ranks = m.ranks  # the processes this run is trained on (torchrun): each takes `rows` of every batch
        self.rows = opts.batch_size // self.ranks.world
        self.step = 0
        self.stop_signal: int | None = None  # set by a signal handler; the loop stops after the current round
        # The data order has its own generator, so changing the model never reshuffles the data; each member's is its seed's.
        self.batches = [exp.cond.batches(exp.data, opts.batch_size, torch.Generator().manual_seed(s), exp.device) for s in m.seeds]
        self.alive = torch.ones(m.count, dtype=torch.bool)  # members whose losses have stayed finite
        self.frozen = False  # whether any member is not alive (a Python flag: the step need not ask the tensor)
        self.diverged_at: list[int | None] = [None] * m.count  # the round each member's losses stopped being finite in
        self.hooks = [exp.loss, *exp.regs]  # called in this order at every plug point
        for hook in self.hooks:
            hook.attach(exp.G, exp.D)
        self.d_params = list(exp.D.parameters())  # once: walking D's module tree each G step cost a toy round 2%
        # What samples are drawn from: G, or an average of it when a trick keeps one (EMA).
        self.sampler = next((g for h in self.hooks if (g := h.sampler()) is not None), exp.G)
        self.last_real: Any = None  # the round's last real batch (with its labels, if any), for G-step tricks
        self._last_eval: tuple[int, int, list[dict[str, Any]]] = (-1, 0, [])  # step, n and each member's metrics of the latest evaluation
        # One fixed noise batch for every picture, so pictures over time show G changing, not z.
        # A conditional G's picture asks for the classes in turn (one row each in an image grid).
        preview_y = exp.cond.eval_labels(opts.preview_n)
        self.fixed_z = torch.cat([noise(exp.latent, opts.preview_n, s + 1, labels=preview_y) for s in m.seeds]).to(exp.device)
        # Without amp no autocast context at all: entering a disabled one costs more than a toy D's layer.
        self._autocast = (lambda: autocast(opts.amp, exp.device)) if opts.amp != "none" else contextlib.nullcontext
        self.scaler_d, self.scaler_g = scaler(opts.amp, exp.device), scaler(opts.amp, exp.device)
        # Decay damps the oscillation that GAN training ends in, so the last G is a settled one.
        self.schedulers = (
            [torch.optim.lr_scheduler.LinearLR(opt, 1.0, 0.0, total_iters=opts.steps) for opt in (exp.opt_d, exp.opt_g)]
            if opts.lr_decay == "linear"
            else []
        )

    def real_batch(self) -> Any:
        """The next real batch of every member, one after another (with its labels under a conditional GAN); under
        torchrun this rank's share of the run's next batch, which every rank draws whole."""
        return torch.cat([next(stream) for stream in self.batches]) if len(self.batches) > 1 else self.ranks.share(next(self.batches[0]))

    def d_input(self, x: torch.Tensor) -> torch.Tensor:
        for hook in self.hooks:
            x = hook.d_input(x)
        return x

    def _update(
        self, loss: torch.Tensor, extras: list[torch.Tensor | None], opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler
    ) -> torch.Tensor:
        """One optimiser step on the loss plus the terms the hooks added (None: a hook adds nothing), each one value per
        member; returns each member's total. Summing the members' totals gives every member its own gradient."""
        terms = [t for t in extras if t is not None]
        if terms:
            loss = loss + sum(terms)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss.sum()).backward()  # with amp off the scaler passes the loss and the step straight through
        self.ranks.average_gradients(opt)  # under torchrun: the global batch's gradient, the same on every rank
        if self.frozen:  # a diverged member is frozen: no gradient, and (see freeze) no momentum to move it
            for group in opt.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.grad[~self.alive] = 0
        scaler.step(opt)
        scaler.update()
        return loss

    def freeze(self, k: int) -> None:
        """Stop member k of a population: its parameters no longer change (Adam moves nothing with zero moments and gradients)."""
        self.alive[k] = False
        self.frozen = True
        for opt in (self.exp.opt_d, self.exp.opt_g):
            for state in opt.state.values():
                for value in state.values():
                    if isinstance(value, torch.Tensor) and value.dim() > 0:
                        value[k] = 0

    def _shown(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """(..., 2): the batch means of the loss's d_value on the real and the fake batch (D/real, D/fake)."""
        loss = self.exp.loss
        return torch.stack([loss.d_value(real_logits, fake_logits).mean(0), loss.d_value(fake_logits, real_logits).mean(0)], -1)

    def d_step(self) -> torch.Tensor:
        """One update of D on a real and a fake batch; returns (loss, D/real, D/fake) of each member, (3, K): the means of the loss's d_value."""
        e, m = self.exp, self.members
        self.last_real = self.real_batch()
        real, y_real = e.cond.split(self.last_real)
        z = m.latent(e.latent, len(real) // m.count, e.device)
        y_fake = e.cond.labels(z)  # the classes z's one-hot tail asks G for (None: unconditional)
        with torch.no_grad(), self._autocast():
            # No graph into G: this is the detached fake batch. Float32 like the real one, so that under amp D and the
            # tricks (instance noise, penalties, heads that recompute D's features) see both batches in one precision.
            fake = e.G(z).float()
        real, fake = self.d_input(real), self.d_input(fake)
        with self._autocast():
            real_logits, fake_logits = e.D(real, *_given(y_real)), e.D(fake, *_given(y_fake))
        real_logits, fake_logits = real_logits.float(), fake_logits.float()  # the loss and the tricks work in float32
        loss = m.map(e.loss.d_loss, real_logits, fake_logits)  # (K,)
        with torch.no_grad():  # the logged values stay out of the loss's graph: a toy D's backward is mostly nodes
            shown = m.map(self._shown, real_logits, fake_logits).T  # (2, K)
        step = DStep(e.D, real, fake, real_logits, fake_logits, z, m, y_real, y_fake)
        loss = self._update(loss, [h.d_extra(step) for h in self.hooks], e.opt_d, self.scaler_d)
        for hook in self.hooks:
            hook.after_d_step(e.D)
        return torch.cat([loss.detach()[None], shown])  # (3, K)

    def g_step(self) -> torch.Tensor:
        e, m = self.exp, self.members
        assert self.last_real is not None, "a round starts with a D step"
        z = m.latent(e.latent, self.rows, e.device)
        y_fake = e.cond.labels(z)
        # Gradients flow through D to G, but D's own are not needed; afterwards each parameter gets back its own
        # flag, so one that a trick or the user froze stays frozen.
        flags = [p.requires_grad for p in self.d_params]
        for p in self.d_params:
            p.requires_grad_(False)
        try:
            real, y_real = e.cond.split(self.last_real)
            real = self.d_input(real)
            with self._autocast():
                fake = e.G(z).float()  # as in d_step; the cast passes G's gradient back unchanged
            fake = self.d_input(fake)
            with self._autocast():
                fake_logits = e.D(fake, *_given(y_fake)).float()
                real_logits = e.D(real, *_given(y_real)).float() if e.loss.needs_real_logits_in_g else None
            if real_logits is None:
                loss = m.map(e.loss.g_loss, fake_logits)
            else:
                loss = m.map(e.loss.g_loss, fake_logits, real_logits)
            step = GStep(e.D, e.G, real, fake, fake_logits, z, m, y_real, y_fake)
            loss = self._update(loss, [h.g_extra(step) for h in self.hooks], e.opt_g, self.scaler_g)
        finally:
            for p, flag in zip(self.d_params, flags, strict=True):
                p.requires_grad_(flag)
        for hook in self.hooks:
            hook.after_g_step(e.G)
        return loss.detach()  # (K,)

    def state_dict(self, k: int = 0) -> dict[str, Any]:
        """Everything of member k's run that changes as it trains; with it, training goes on exactly as if never
        stopped. A population member's is what an ordinary run of its seed would hold, so it resumes as one."""
        e = self.exp
        state = {
            "step": self.step,
            "G": e.G.state_dict(),  # batch-norm running statistics included
            "D": e.D.state_dict(),
            "opt_g": e.opt_g.state_dict(),  # Adam's moments and the current (decayed) learning rates
            "opt_d": e.opt_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "schedulers": [s.state_dict() for s in self.schedulers],
            "hooks": [h.state_dict() for h in self.hooks],  # e.g. EMA weights, historical averages
        } | ({"G_sample": self.sampler.state_dict()} if self.sampler is not e.G else {})  # what gan sample draws from
        if self.members.count > 1:
            state = take(state, k)
        return state | {
            "data_stream": self.batches[k].state_dict(),  # the data order and the position in it
            "rng": self.members.rng_state(k),  # the noise z and anything else drawn from the global RNGs
        } | ({"rank_rng": self.ranks.gather(torch.get_rng_state())} if self.ranks.world > 1 else {})  # each rank's own draws (dropout)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue an ordinary run from `state` (a population is never continued as a whole: each member is a run)."""
        assert self.members.count == 1, "a population member resumes as an ordinary run"
        e = self.exp
        self.step = int(state["step"])
        self.alive[:], self.frozen, self.diverged_at = True, False, [None]  # a roll-back goes on from before the divergence
        self._last_eval = (-1, 0, [])  # G changes under the same step number (a roll-back)
        e.G.load_state_dict(state["G"])
        e.D.load_state_dict(state["D"])
        e.opt_g.load_state_dict(state["opt_g"])
        e.opt_d.load_state_dict(state["opt_d"])
        for kept, saved in ((self.scaler_g, state["scaler_g"]), (self.scaler_d, state["scaler_d"])):
            # Only an amp=fp16 run saves a scale, and only one trains with it: amp may change on resume, and a
            # scaler that meets no saved scale starts from its initial one, as a new fp16 run does.
            if kept.is_enabled() and saved:
                kept.load_state_dict(saved)
        for scheduler, saved in zip(self.schedulers, state["schedulers"], strict=True):
            scheduler.load_state_dict(saved)
            if scheduler.total_iters != self.opts.steps:  # resumed with a new `steps`: decay as if planned so
                scheduler.total_iters = self.opts.steps
                for group, base in zip(scheduler.optimizer.param_groups, scheduler.base_lrs):
                    group["lr"] = base * max(0.0, 1.0 - self.step / self.opts.steps)
        self.batches[0].load_state_dict(state["data_stream"])
        set_rng_state(state["rng"])
        if self.ranks.world > 1:  # the noise stream every rank shares, then this rank's own stream
            self.members.noise[0].set_state(torch.get_rng_state())
            own = state.get("rank_rng", [])
            if len(own) == self.ranks.world:
                torch.set_rng_state(own[self.ranks.rank])
            else:  # a checkpoint of another number of processes: the noise goes on exactly, dropout's draws afresh
                self.ranks.seed_own_stream(self.members.seeds[0] + self.step)
        for hook, saved in zip(self.hooks, state.get("hooks", [{}] * len(self.hooks)), strict=True):
            if saved:
                hook.load_state_dict(saved)

    def scale_lr(self, factor: float, nets: str = "gd") -> None:
        """Multiply the learning rates of G and/or D (and what their decay goes on from) by `factor`."""
        chosen = [opt for net, opt in (("g", self.exp.opt_g), ("d", self.exp.opt_d)) if net in nets]
        for opt in chosen:
            for group in opt.param_groups:
                group["lr"] *= factor
        for scheduler in self.schedulers:
            if scheduler.optimizer in chosen:
                scheduler.base_lrs = [lr * factor for lr in scheduler.base_lrs]

    def weights_finite(self, k: int = 0) -> bool:
        """Whether member k's weights are all finite."""
        tensors = (t for m in (self.exp.G, self.exp.D) for t in m.state_dict().values() if t.is_floating_point())
        if self.members.count > 1:
            tensors = (t[k] for t in tensors)
        return all(torch.isfinite(t).all() for t in tensors)

    @torch.no_grad()
    def evaluate(self, n: int) -> list[dict[str, Any]]:
        """Each member's metrics of the data set on `n` samples of its G, from the same noise every time (0: none)."""
        if n == 0:
            return [{} for _ in self.members.seeds]
        if self._last_eval[:2] == (self.step, n):  # the final evaluation at eval.n == eval.n_during: done already
            return self._last_eval[2]
        e = self.exp
        y = e.cond.eval_labels(n)  # a conditional G is judged on a class-balanced sample
        seeds = [s + 2 for s in self.members.seeds]
        fake = generate(self.sampler, e.latent, n, seeds, e.device, labels=y)
        metrics = [e.data.evaluate(part) | e.cond.evaluate(e.data, part, y) for part in fake.split(n)]
        if reports_metrics(self.hooks):  # e.g. InfoGAN's codes read back: each member's Q reads its own samples
            for k, (part, seed) in enumerate(zip(fake.split(n), seeds, strict=True)):
                metrics[k] |= hook_metrics(self.hooks, e.data, e.latent, noise(e.latent, n, seed, labels=y), part, self.members.own(e.D, k))
        self._last_eval = (self.step, n, metrics)
        return metrics

    @torch.no_grad()
    def log_samples(self, logs: list[RunLog]) -> None:
        """Each member's pictures of its G (and D, where the data set draws one) into its own log; in a population
        only the first member_pictures members draw, each with its own networks (the others' rows would be waste)."""
        m, n, loss = self.members, self.opts.preview_n, self.exp.loss
        for k, log in enumerate(logs):
            if not self.alive[k] or (m.count > 1 and k >= self.opts.member_pictures):
                continue
            G, D = m.own(self.sampler, k), m.own(self.exp.D, k)
            G.eval(), D.eval()  # pictures must not move batch-norm statistics
            try:
                z = self.fixed_z[k * n : (k + 1) * n]
                fake, y = G(z).float(), self.exp.cond.labels(z)
                own = D(fake, *_given(y)).float()

                def d_curve(x: torch.Tensor, D: torch.nn.Module = D, own: torch.Tensor = own) -> torch.Tensor:
                    """What D/real would be for x (the loss's d_value), with the picture's fakes as the other batch."""
                    return loss.d_value(D(x.to(self.exp.device)).float(), own)

                self.exp.data.log_samples(log.writer, self.step, fake, d_curve, y)
            finally:
                G.train(), D.train()

    def run(self, logs: list[RunLog], checkpoint: Callable[[int], None]) -> list[LoopResult]:
        """Train until `opts.steps`; returns each member's result. A member whose losses stop being finite is frozen
        and the others go on; the loop stops when none is left (an ordinary run: at its first such round), or after
        the round in which `stop_signal` was set. `logs`: each member's log."""
        o, K = self.opts, self.members.count
        sums, count = torch.zeros(len(TAGS), K), 0
        last: list[dict[str, float]] = [{} for _ in range(K)]
        start = t_log = time.perf_counter()
        step_log, aside = self.step, 0.0  # aside: seconds of the interval spent on pictures, evaluations, checkpoints
        with logs[0].progress(total=o.steps, start=self.step) as bar:
            while self.step < o.steps:
                for hook in self.hooks:
                    hook.on_round(self.step, o.steps)
                d = _mean([self.d_step() for _ in range(o.d_steps)])  # (3, K)
                g = _mean([self.g_step() for _ in range(o.g_steps)])[None]  # (1, K)
                values = torch.cat([d[:1], g, d[1:]]).float().cpu()  # (4, K) in TAGS order; one device sync per round
                values, stop = self.ranks.agree(values, self.stop_signal)  # under torchrun: every rank's mean, any rank's signal
                finite = torch.isfinite(values).all(0)
                if not finite.all():  # one check per round while every member is well
                    for k in (self.alive & ~finite).nonzero().flatten().tolist():
                        self.diverged_at[k] = self.step + 1
                        self.freeze(k)
                    if not self.alive.any():
                        return self.results("diverged", start, last)
                self.step += 1
                for scheduler in self.schedulers:
                    scheduler.step()
                sums += values.where(self.alive, 0.0) if self.frozen else values
                count += 1
                if self.step % o.log_every == 0 or self.step == o.steps:
                    now = time.perf_counter()
                    # The training rate: an interval that holds an evaluation would otherwise show a fraction of it.
                    rate = (self.step - step_log) / max(now - t_log - aside, 1e-9)
                    for k in self.alive.nonzero().flatten().tolist():
                        last[k] = dict(zip(TAGS, (sums[:, k] / count).tolist())) | {"perf/steps_per_sec": rate}
                        logs[k].scalars(self.step, last[k])
                    sums.zero_()
                    count, t_log, step_log, aside = 0, now, self.step, 0.0
                    shown = last[int(self.alive.nonzero()[0])]
                    alive = f"  {int(self.alive.sum())}/{K} members" if K > 1 else ""
                    bar.update(self.step, f"D {shown['loss/D']:.3f}  G {shown['loss/G']:.3f}  {rate:.0f} it/s{alive}")
                t_aside = time.perf_counter()
                self.periodic(logs, checkpoint)
                aside += time.perf_counter() - t_aside
                if stop is not None and self.step < o.steps:
                    self.stop_signal = stop
                    return self.results("interrupted", start, last)
        return self.results("completed", start, last)

    def periodic(self, logs: list[RunLog], checkpoint: Callable[[int], None]) -> None:
        """The work a round may end with besides training: pictures, an evaluation, a periodic checkpoint."""
        o = self.opts
        if (self.step % o.sample_every == 0 or self.step == o.steps) and self.ranks.writes:  # rank 0 alone draws and evaluates
            self.log_samples(logs)
        if (self.step % o.eval_every == 0 or self.step == o.steps) and self.ranks.writes:  # all at eval_n: one sample size per curve
            for k, metrics in enumerate(self.evaluate(o.eval_n)):
                if self.alive[k]:
                    logs[k].evaluation(self.step, metrics, o.eval_n)
        if self.step % o.ckpt_every == 0 and self.step < o.steps:
            checkpoint(self.step)

    def results(self, status: str, start: float, last: list[dict[str, float]]) -> list[LoopResult]:
        """Each member's result: `status`, or diverged (at the round its losses stopped being finite)."""
        elapsed = time.perf_counter() - start
        return [
            LoopResult(status, self.step, elapsed, last[k])
            if (at := self.diverged_at[k]) is None
            else LoopResult("diverged", at - 1, elapsed, last[k], diverged_at=at)
            for k in range(self.members.count)
        ]


def _mean(values: list[torch.Tensor]) -> torch.Tensor:
    """The mean of a round's steps' values; one step's as it is (the same number, two operations fewer)."""
    return values[0] if len(values) == 1 else torch.stack(values).mean(0)
