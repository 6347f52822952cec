"""The training loop. It knows the Experiment's interfaces (data, latent, G, D, loss) and never a variant's name."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from gan_cli.build import Experiment
from gan_cli.generate import generate
from gan_cli.hooks import DStep, GStep
from gan_cli.log import RunLog
from gan_cli.rng import rng_state, set_rng_state

TAGS = ("loss/D", "loss/G", "D/real", "D/fake")  # stable TensorBoard tags; D/* mean what the loss's d_meaning says


@dataclass
class LoopOptions:
    steps: int  # rounds to train
    batch_size: int
    d_steps: int = 1  # D updates per round
    g_steps: int = 1  # G updates per round
    amp: bool = False  # float16 autocast + gradient scaling (CUDA)
    log_every: int = 50
    sample_every: int = 500
    ckpt_every: int = 1000
    preview_n: int = 64
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


class Trainer:
    def __init__(self, exp: Experiment, opts: LoopOptions, seed: int) -> None:
        self.exp, self.opts, self.seed = exp, opts, seed
        self.step = 0
        self.stop_signal: int | None = None  # set by a signal handler; the loop stops after the current round
        # The data order has its own generator, so changing the model never reshuffles the data.
        self.batches = exp.data.batches(opts.batch_size, torch.Generator().manual_seed(seed), exp.device)
        self.hooks = [exp.loss, *exp.regs]  # called in this order at every plug point
        for hook in self.hooks:
            hook.attach(exp.G, exp.D)
        # What samples are drawn from: G, or an average of it when a trick keeps one (EMA).
        self.sampler = next((g for h in self.hooks if (g := h.sampler()) is not None), exp.G)
        self.last_real: torch.Tensor | None = None  # the round's last real batch, for G-step tricks
        self._last_eval: tuple[int, int, dict[str, Any]] = (-1, 0, {})  # step, n and metrics of the latest evaluation
        # One fixed noise batch for every picture, so pictures over time show G changing, not z.
        self.fixed_z = exp.latent.sample(opts.preview_n, generator=torch.Generator().manual_seed(seed + 1)).to(exp.device)
        device_type = exp.device.type
        self._autocast = lambda: torch.autocast(device_type, dtype=torch.float16, enabled=opts.amp)
        self.scaler_d = torch.amp.GradScaler(device_type, enabled=opts.amp)
        self.scaler_g = torch.amp.GradScaler(device_type, enabled=opts.amp)
        # Decay damps the oscillation that GAN training ends in, so the last G is a settled one.
        self.schedulers = (
            [torch.optim.lr_scheduler.LinearLR(opt, 1.0, 0.0, total_iters=opts.steps) for opt in (exp.opt_d, exp.opt_g)]
            if opts.lr_decay == "linear"
            else []
        )

    def d_input(self, x: torch.Tensor) -> torch.Tensor:
        for hook in self.hooks:
            x = hook.d_input(x)
        return x

    @staticmethod
    def _update(
        loss: torch.Tensor, extras: list[torch.Tensor | None], opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler
    ) -> torch.Tensor:
        """One optimiser step on the loss plus the terms the hooks added (None: a hook adds nothing); returns the total."""
        terms = [t for t in extras if t is not None]
        if terms:
            loss = loss + sum(terms)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()  # with amp off the scaler passes the loss and the step straight through
        scaler.step(opt)
        scaler.update()
        return loss

    def d_step(self) -> torch.Tensor:
        """One update of D on a real and a fake batch; returns (loss, D/real, D/fake): the means of the loss's d_value."""
        e = self.exp
        real = self.last_real = next(self.batches)
        z = e.latent.sample(len(real), e.device)
        with torch.no_grad(), self._autocast():
            fake = e.G(z)  # no graph into G: this is the detached fake batch
        real, fake = self.d_input(real), self.d_input(fake)
        with self._autocast():
            real_logits, fake_logits = e.D(real), e.D(fake)
        loss = e.loss.d_loss(real_logits.float(), fake_logits.float())
        step = DStep(e.D, real, fake, real_logits, fake_logits, z)
        loss = self._update(loss, [h.d_extra(step) for h in self.hooks], e.opt_d, self.scaler_d)
        for hook in self.hooks:
            hook.after_d_step(e.D)
        real_logits, fake_logits = real_logits.detach().float(), fake_logits.detach().float()
        shown = (e.loss.d_value(real_logits, fake_logits).mean(), e.loss.d_value(fake_logits, real_logits).mean())
        return torch.stack([loss.detach(), *shown])

    def g_step(self) -> torch.Tensor:
        e = self.exp
        assert self.last_real is not None, "a round starts with a D step"
        z = e.latent.sample(self.opts.batch_size, e.device)
        # Gradients flow through D to G, but D's own are not needed; afterwards each parameter gets back its own
        # flag, so one that a trick or the user froze stays frozen.
        flags = [(p, p.requires_grad) for p in e.D.parameters()]
        e.D.requires_grad_(False)
        try:
            real = self.d_input(self.last_real)
            with self._autocast():
                fake = self.d_input(e.G(z))
                fake_logits = e.D(fake)
                real_logits = e.D(real).float() if e.loss.needs_real_logits_in_g else None
            loss = e.loss.g_loss(fake_logits.float(), real_logits)
            step = GStep(e.D, e.G, real, fake, fake_logits, z)
            loss = self._update(loss, [h.g_extra(step) for h in self.hooks], e.opt_g, self.scaler_g)
        finally:
            for p, flag in flags:
                p.requires_grad_(flag)
        for hook in self.hooks:
            hook.after_g_step(e.G)
        return loss.detach()

    def state_dict(self) -> dict[str, Any]:
        """Everything of the run that changes as it trains; with it, training goes on exactly as if never stopped."""
        e = self.exp
        return {
            "step": self.step,
            "G": e.G.state_dict(),  # batch-norm running statistics included
            "D": e.D.state_dict(),
            "opt_g": e.opt_g.state_dict(),  # Adam's moments and the current (decayed) learning rates
            "opt_d": e.opt_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "schedulers": [s.state_dict() for s in self.schedulers],
            "data_stream": self.batches.state_dict(),  # the data order and the position in it
            "rng": rng_state(),  # the noise z and anything else drawn from the global RNGs
            "hooks": [h.state_dict() for h in self.hooks],  # e.g. EMA weights, historical averages
        } | ({"G_sample": self.sampler.state_dict()} if self.sampler is not e.G else {})  # what gan sample draws from

    def load_state_dict(self, state: dict[str, Any]) -> None:
        e = self.exp
        self.step = int(state["step"])
        self._last_eval = (-1, 0, {})  # G changes under the same step number (a roll-back)
        e.G.load_state_dict(state["G"])
        e.D.load_state_dict(state["D"])
        e.opt_g.load_state_dict(state["opt_g"])
        e.opt_d.load_state_dict(state["opt_d"])
        self.scaler_g.load_state_dict(state["scaler_g"])
        self.scaler_d.load_state_dict(state["scaler_d"])
        for scheduler, saved in zip(self.schedulers, state["schedulers"], strict=True):
            scheduler.load_state_dict(saved)
            if scheduler.total_iters != self.opts.steps:  # resumed with a new `steps`: decay as if planned so
                scheduler.total_iters = self.opts.steps
                for group, base in zip(scheduler.optimizer.param_groups, scheduler.base_lrs):
                    group["lr"] = base * max(0.0, 1.0 - self.step / self.opts.steps)
        self.batches.load_state_dict(state["data_stream"])
        set_rng_state(state["rng"])
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

    def weights_finite(self) -> bool:
        tensors = (t for m in (self.exp.G, self.exp.D) for t in m.state_dict().values() if t.is_floating_point())
        return all(torch.isfinite(t).all() for t in tensors)

    @torch.no_grad()
    def evaluate(self, n: int) -> dict[str, Any]:
        """The data set's metrics on `n` samples of G, from the same noise every time (0: none)."""
        if n == 0:
            return {}
        if self._last_eval[:2] == (self.step, n):  # the final evaluation at eval.n == eval.n_during: done already
            return self._last_eval[2]
        e = self.exp
        metrics = e.data.evaluate(generate(self.sampler, e.latent, n, self.seed + 2, e.device))
        self._last_eval = (self.step, n, metrics)
        return metrics

    @torch.no_grad()
    def log_samples(self, log: RunLog) -> None:
        G, D, loss = self.sampler, self.exp.D, self.exp.loss
        G.eval(), D.eval()  # pictures must not move batch-norm statistics
        try:
            fake = G(self.fixed_z).float()
            fake_logits = D(fake).float()

            def d_curve(x: torch.Tensor) -> torch.Tensor:
                """What D/real would be for x (the loss's d_value), with the picture's fakes as the other batch."""
                return loss.d_value(D(x.to(self.exp.device)).float(), fake_logits)

            self.exp.data.log_samples(log.writer, self.step, fake, d_curve)
        finally:
            G.train(), D.train()

    def run(self, log: RunLog, checkpoint: Callable[[int], None]) -> LoopResult:
        """Train until `opts.steps`; stops at the first round whose losses are not finite, or after the
        round in which `stop_signal` was set."""
        o = self.opts
        sums, count = torch.zeros(len(TAGS)), 0
        last: dict[str, float] = {}
        start = t_log = time.perf_counter()
        step_log = self.step
        with log.progress(total=o.steps, start=self.step) as bar:
            while self.step < o.steps:
                for hook in self.hooks:
                    hook.on_round(self.step, o.steps)
                d = torch.stack([self.d_step() for _ in range(o.d_steps)]).mean(0)
                g = torch.stack([self.g_step() for _ in range(o.g_steps)]).mean(0, keepdim=True)
                values = torch.cat([d[:1], g, d[1:]]).float().cpu()  # in TAGS order; one device sync per round
                if not torch.isfinite(values).all():
                    return LoopResult("diverged", self.step, time.perf_counter() - start, last, diverged_at=self.step + 1)
                self.step += 1
                for scheduler in self.schedulers:
                    scheduler.step()
                sums += values
                count += 1
                if self.step % o.log_every == 0 or self.step == o.steps:
                    now = time.perf_counter()
                    last = dict(zip(TAGS, (sums / count).tolist()))
                    last["perf/steps_per_sec"] = (self.step - step_log) / max(now - t_log, 1e-9)
                    log.scalars(self.step, last)
                    sums.zero_()
                    count, t_log, step_log = 0, now, self.step
                    bar.update(self.step, f"D {last['loss/D']:.3f}  G {last['loss/G']:.3f}  {last['perf/steps_per_sec']:.0f} it/s")
                if self.step % o.sample_every == 0 or self.step == o.steps:
                    self.log_samples(log)
                if self.step % o.eval_every == 0 or self.step == o.steps:  # all at eval_n: one sample size per curve
                    log.evaluation(self.step, self.evaluate(o.eval_n), o.eval_n)
                if self.step % o.ckpt_every == 0 and self.step < o.steps:
                    checkpoint(self.step)
                if self.stop_signal is not None and self.step < o.steps:
                    return LoopResult("interrupted", self.step, time.perf_counter() - start, last)
        return LoopResult("completed", self.step, time.perf_counter() - start, last)
