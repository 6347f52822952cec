"""Matplotlib figures, drawn off-screen (no display is ever needed).

Matplotlib is imported at the first figure, not with this module: half a second that a run which draws
nothing (an image data set, `gan eval`, a dry run) should not pay. Figures are made and rendered without pyplot
(its import is another 0.2 s of every 1-D run's start-up, and it would keep each figure alive until closed).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from torch.utils.tensorboard import SummaryWriter


def new_figure(figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """A figure of one plot, rendered by Agg."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)  # attaches itself: draws and saves off-screen
    return fig, fig.subplots()


def save_figure(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=100)


def log_figure(writer: SummaryWriter, tag: str, fig: Figure, step: int) -> None:
    """The figure as a TensorBoard image, as writer.add_figure would write it (which imports pyplot)."""
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())  # (H, W, 4) uint8
    writer.add_image(tag, np.ascontiguousarray(rgba[..., :3].transpose(2, 0, 1)), step)


def density_figure(xs: np.ndarray, p_data: np.ndarray, fake: np.ndarray, d: np.ndarray | None, title: str) -> Figure:
    """Goodfellow et al.'s Figure 1: p_data (dotted), p_g (histogram of G) and D(x) (dashed)."""
    fig, ax = new_figure((6, 3.5))
    ax.plot(xs, p_data, "k:", lw=2, label="p_data")
    finite = fake[np.isfinite(fake)]
    if len(finite):
        # One filled outline, not 80 bars (ax.hist): the same pixels, drawn in half the time (0.1 s a picture).
        counts, edges = np.histogram(finite, bins=80, range=(xs[0], xs[-1]), density=True)
        ax.stairs(counts, edges, fill=True, color="tab:green", alpha=0.5, label="p_g (G's samples)")
    ax.set_xlim(xs[0], xs[-1])
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    if d is not None:
        ax2 = ax.twinx()
        ax2.plot(xs, d, "b--", lw=1.5, label="D(x)")
        if np.nanmin(d, initial=0.0) >= 0 and np.nanmax(d, initial=1.0) <= 1:  # a probability: a critic's score has no fixed scale
            ax2.axhline(0.5, color="b", lw=0.5, alpha=0.4)  # where D* settles when p_g = p_data
            ax2.set_ylim(0, 1)
        ax2.set_ylabel("D(x)")
        ax2.legend(loc="upper right", fontsize=8)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def scatter_figure(
    real: np.ndarray, fake: np.ndarray, centers: np.ndarray, lims: tuple[float, float], title: str, shade: np.ndarray | None = None
) -> Figure:
    """Real (grey) and generated (green) points in the plane, with the mixture's centres (x); `shade` (n,) in [0, 1):
    each generated point's colour on a hue circle instead (a conditional G's class)."""
    fig, ax = new_figure((4.5, 4.5))
    ax.scatter(real[:, 0], real[:, 1], s=2, c="0.6", alpha=0.5, label="real")
    finite = np.isfinite(fake).all(1)
    if shade is None:
        ax.scatter(fake[finite, 0], fake[finite, 1], s=2, c="tab:green", alpha=0.5, label="G")
    else:
        ax.scatter(fake[finite, 0], fake[finite, 1], s=2, c=shade[finite], cmap="hsv", vmin=0, vmax=1, alpha=0.5, label="G (colour: class)")
    ax.scatter(centers[:, 0], centers[:, 1], marker="x", c="k", s=30, label="modes")
    ax.set_xlim(*lims)
    ax.set_ylim(*lims)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=8, markerscale=4)
    ax.set_title(title)
    fig.tight_layout()
    return fig
