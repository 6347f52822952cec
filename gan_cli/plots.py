"""The 1-D and 2-D pictures (density of G against p_data with D(x); G's points in the plane), drawn with Pillow.

Why not matplotlib: importing it and laying out one figure took 0.8 s, a fifth of a `gan train steps=1` and a
second or two of every 1-D run, which draws one figure per `sample_every`. These pictures are a few lines, a filled
outline, points and labels; Pillow (already loaded to write TensorBoard's images) draws one in milliseconds.
Everything is drawn at twice the size and reduced at the end: Pillow's lines are not anti-aliased, the reduction
smooths them.
"""

from __future__ import annotations

import colorsys
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

SCALE = 2  # drawn at 2x, reduced to 1x
Color = tuple[int, int, int]
BLACK, GREY, GREEN, BLUE = (0, 0, 0), (153, 153, 153), (44, 160, 44), (0, 0, 255)


def ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About n round values (steps of 1, 2, 2.5 or 5 times a power of ten) within [lo, hi]."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / n
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-9))
    first = math.ceil(lo / step - 1e-9)
    return [k * step for k in range(first, math.floor(hi / step + 1e-9) + 1)]


def tick_label(value: float, step: float) -> str:
    """The value with as many decimals as the step between ticks needs (two for steps of 0.25)."""
    decimals = 0
    while decimals < 12 and abs(round(step, decimals) - step) > 1e-9 * step:
        decimals += 1
    return f"{0.0 if abs(value) < 1e-9 * step else value:.{decimals}f}"


def polyline(draw: ImageDraw.ImageDraw, points: np.ndarray, color: Color, width: float, dash: tuple[float, float] | None = None) -> None:
    """A line through (n, 2) pixel positions; dash (on, off) in pixels of the final picture, or None: solid."""
    w = max(1, round(width * SCALE))
    if dash is None:
        draw.line([tuple(p) for p in points], fill=color, width=w, joint="curve")
        return
    on, off = dash[0] * SCALE, dash[1] * SCALE
    lengths = np.r_[0, np.cumsum(np.hypot(*np.diff(points, axis=0).T))]  # arc length at each point
    for start in np.arange(0, lengths[-1], on + off):  # each dash: the polyline between two arc lengths
        s = np.r_[start, lengths[(lengths > start) & (lengths < start + on)], min(start + on, lengths[-1])]
        draw.line([(u, v) for u, v in zip(np.interp(s, lengths, points[:, 0]), np.interp(s, lengths, points[:, 1]))], fill=color, width=w)


class Axes:
    """Data coordinates (xlim, ylim) mapped onto the figure's plot box; draws in them."""

    def __init__(self, fig: Figure, xlim: tuple[float, float], ylim: tuple[float, float]) -> None:
        self.fig, self.xlim, self.ylim = fig, xlim, ylim

    def px(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(n, 2) pixel positions of the points (x, y), y upward."""
        left, top, right, bottom = self.fig.box
        u = left + (np.asarray(x, float) - self.xlim[0]) / (self.xlim[1] - self.xlim[0]) * (right - left)
        v = bottom - (np.asarray(y, float) - self.ylim[0]) / (self.ylim[1] - self.ylim[0]) * (bottom - top)
        return np.stack([u, v], 1)

    def line(self, x: np.ndarray, y: np.ndarray, color: Color, width: float = 1.5, dash: tuple[float, float] | None = None) -> None:
        points = self.px(x, y)
        polyline(self.fig.draw, np.clip(points[np.isfinite(points).all(1)], -1e5, 1e5), color, width, dash)  # clip: Pillow's ints

    def hline(self, y: float, color: Color, alpha: float) -> None:
        self.line(np.array(self.xlim), np.array([y, y]), color + (round(255 * alpha),), width=0.5)  # type: ignore[arg-type]

    def stairs(self, counts: np.ndarray, edges: np.ndarray, color: Color, alpha: float) -> None:
        """A filled histogram outline from y = 0 (ax.stairs(..., fill=True))."""
        x = np.repeat(edges, 2)
        y = np.r_[0.0, np.repeat(counts, 2), 0.0]
        y = np.clip(y, self.ylim[0], self.ylim[1])
        self.fig.draw.polygon([tuple(p) for p in self.px(x, y)], fill=color + (round(255 * alpha),))

    def scatter(self, x: np.ndarray, y: np.ndarray, colors: np.ndarray | Color, alpha: float, radius: float = 1.0) -> None:
        """Points inside the limits; colors one (r, g, b) or (n, 3) uint8, one a point."""
        r, a = radius * SCALE, round(255 * alpha)
        each = np.broadcast_to(np.asarray(colors, dtype=np.uint8), (len(x), 3))
        shown = self.inside(x, y)
        for (u, v), c in zip(self.px(x, y)[shown], each[shown]):
            self.fig.draw.ellipse((u - r, v - r, u + r, v + r), fill=(int(c[0]), int(c[1]), int(c[2]), a))

    def crosses(self, x: np.ndarray, y: np.ndarray, color: Color, size: float = 4) -> None:
        s, w = size * SCALE, SCALE
        for u, v in self.px(x, y)[self.inside(x, y)]:
            self.fig.draw.line((u - s, v - s, u + s, v + s), fill=color, width=w)
            self.fig.draw.line((u - s, v + s, u + s, v - s), fill=color, width=w)

    def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Which points lie within the limits (a wandering G's points are not drawn over the margins)."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        return (x >= self.xlim[0]) & (x <= self.xlim[1]) & (y >= self.ylim[0]) & (y <= self.ylim[1])


class Figure:
    """One plot box with axes below and on the left (and on the right for a second y axis), a title and legends."""

    def __init__(self, size: tuple[int, int], title: str, right_axis: bool = False) -> None:
        width, height = size
        self.canvas = Image.new("RGB", (width * SCALE, height * SCALE), "white")
        self.draw = ImageDraw.Draw(self.canvas, "RGBA")  # RGBA: fills and points blend in with their alpha
        self.font = ImageFont.load_default(size=10 * SCALE)
        self.title_font = ImageFont.load_default(size=12 * SCALE)
        self.box = (58 * SCALE, 26 * SCALE, (width - (52 if right_axis else 14)) * SCALE, (height - 40) * SCALE)
        self.axes: list[Axes] = []
        self.title = title

    def add_axes(self, xlim: tuple[float, float], ylim: tuple[float, float]) -> Axes:
        """The first axes' y ticks go on the left, a second's on the right; both share x."""
        self.axes.append(Axes(self, xlim, ylim))
        return self.axes[-1]

    def text(self, xy: tuple[float, float], text: str, anchor: str, font: ImageFont.FreeTypeFont | None = None, rotate: bool = False) -> None:
        font = font or self.font
        if not rotate:
            self.draw.text(xy, text, fill=BLACK, font=font, anchor=anchor)
            return
        left, top, right, bottom = font.getbbox(text)
        label = Image.new("L", (right + 2, bottom + 2), 0)
        ImageDraw.Draw(label).text((0, 0), text, fill=255, font=font)
        label = label.rotate(90, expand=True)
        self.canvas.paste(Image.new("RGB", label.size, BLACK), (round(xy[0] - label.width / 2), round(xy[1] - label.height / 2)), label)

    def frame(self, xlabel: str, ylabels: list[str]) -> None:
        """The box, ticks with their values, the axis labels and the title."""
        left, top, right, bottom = self.box
        self.draw.rectangle(self.box, outline=BLACK, width=SCALE)
        t = 4 * SCALE
        first = self.axes[0]
        xs = ticks(*first.xlim)
        for x in xs:
            u = first.px([x], [first.ylim[0]])[0, 0]
            self.draw.line((u, bottom, u, bottom + t), fill=BLACK, width=SCALE)
            self.text((u, bottom + t + SCALE), tick_label(x, xs[1] - xs[0] if len(xs) > 1 else 1), "mt")
        for side, (ax, label) in enumerate(zip(self.axes, ylabels)):
            ys = ticks(*ax.ylim)
            edge, sign = (left, -1) if side == 0 else (right, 1)
            for y in ys:
                v = ax.px([ax.xlim[0]], [y])[0, 1]
                self.draw.line((edge, v, edge + sign * t, v), fill=BLACK, width=SCALE)
                self.text((edge + sign * (t + 2 * SCALE), v), tick_label(y, ys[1] - ys[0] if len(ys) > 1 else 1), "rm" if side == 0 else "lm")
            if label:
                self.text((edge + sign * 44 * SCALE, (top + bottom) / 2), label, "mm", rotate=True)
        if xlabel:
            self.text(((left + right) / 2, bottom + 26 * SCALE), xlabel, "mt")
        self.text(((left + right) / 2, top - 6 * SCALE), self.title, "ms", self.title_font)

    def legend(self, entries: list[tuple[str, Color, str]], corner: str) -> None:
        """entries (label, colour, kind): kind "-", "--", ":" a line, "patch" a filled box, "o" a point, "x" a cross."""
        row, pad, key = 14 * SCALE, 5 * SCALE, 22 * SCALE
        width = key + max(self.font.getlength(label) for label, _, _ in entries) + 3 * pad
        left, top, right, _ = self.box
        x0 = left + pad if corner == "upper left" else right - pad - width
        y0 = top + pad
        self.draw.rectangle((x0, y0, x0 + width, y0 + pad + row * len(entries)), fill=(255, 255, 255), outline=(204, 204, 204), width=SCALE)
        for i, (label, color, kind) in enumerate(entries):
            u, v = x0 + pad, y0 + pad + row * i + row / 2
            if kind == "patch":
                self.draw.rectangle((u, v - 4 * SCALE, u + key, v + 4 * SCALE), fill=color + (128,))
            elif kind == "o":
                self.draw.ellipse((u + key / 2 - 3 * SCALE, v - 3 * SCALE, u + key / 2 + 3 * SCALE, v + 3 * SCALE), fill=color)
            elif kind == "x":
                s = 4 * SCALE
                self.draw.line((u + key / 2 - s, v - s, u + key / 2 + s, v + s), fill=color, width=SCALE)
                self.draw.line((u + key / 2 - s, v + s, u + key / 2 + s, v - s), fill=color, width=SCALE)
            else:
                dash = {"-": None, "--": (6.0, 4.0), ":": (2.0, 3.0)}[kind]
                polyline(self.draw, np.array([[u, v], [u + key, v]]), color, 1.5, dash)
            self.text((u + key + pad, v), label, "lm")

    def image(self) -> Image.Image:
        """The picture at its final size."""
        return self.canvas.reduce(SCALE)


def save_figure(fig: Figure, path: Path) -> None:
    fig.image().save(path)


def log_figure(writer: SummaryWriter, tag: str, fig: Figure, step: int) -> None:
    """The figure as a TensorBoard image."""
    writer.add_image(tag, np.asarray(fig.image()).transpose(2, 0, 1), step)  # (3, H, W) uint8


def density_figure(xs: np.ndarray, p_data: np.ndarray, fake: np.ndarray, d: np.ndarray | None, title: str) -> Figure:
    """Goodfellow et al.'s Figure 1: p_data (dotted), p_g (histogram of G) and D(x) (dashed, on its own axis)."""
    fig = Figure((600, 350), title, right_axis=d is not None)
    finite = fake[np.isfinite(fake)]
    counts, edges = np.histogram(finite, bins=80, range=(xs[0], xs[-1]), density=True) if len(finite) else (np.zeros(0), np.zeros(0))
    top = max(np.nanmax(p_data, initial=0.0), counts.max(initial=0.0)) * 1.05 or 1.0
    ax = fig.add_axes((float(xs[0]), float(xs[-1])), (0.0, float(top)))
    if len(counts):
        ax.stairs(counts, edges, GREEN, alpha=0.5)
    ax.line(xs, p_data, BLACK, width=2, dash=(2.0, 3.0))
    ylabels = ["density"]
    if d is not None:
        ax2 = fig.add_axes(ax.xlim, d_limits(d))
        if ax2.ylim == (0.0, 1.0):
            ax2.hline(0.5, BLUE, alpha=0.4)  # where D* settles when p_g = p_data
        ax2.line(xs, d, BLUE, width=1.5, dash=(6.0, 4.0))
        ylabels.append("D(x)")
    fig.frame("x", ylabels)
    fig.legend([("p_data", BLACK, ":"), ("p_g (G's samples)", GREEN, "patch")], "upper left")
    if d is not None:
        fig.legend([("D(x)", BLUE, "--")], "upper right")
    return fig


def d_limits(d: np.ndarray) -> tuple[float, float]:
    """D's axis: [0, 1] for a probability; a critic's score has no fixed scale, so its own range with a margin."""
    finite = d[np.isfinite(d)]
    if not len(finite) or (finite.min() >= 0 and finite.max() <= 1):
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    margin = 0.05 * (hi - lo) or 0.5
    return lo - margin, hi + margin


def scatter_figure(
    real: np.ndarray, fake: np.ndarray, centers: np.ndarray, lims: tuple[float, float], title: str, shade: np.ndarray | None = None
) -> Figure:
    """Real (grey) and generated (green) points in the plane, with the mixture's centres (x); `shade` (n,) in [0, 1):
    each generated point's colour on a hue circle instead (a conditional G's class)."""
    fig = Figure((450, 450), title)
    fig.box = (fig.box[0], fig.box[1], fig.box[0] + (fig.box[3] - fig.box[1]), fig.box[3])  # square: equal aspect
    ax = fig.add_axes(lims, lims)
    ax.scatter(real[:, 0], real[:, 1], GREY, alpha=0.5)
    finite = np.isfinite(fake).all(1)
    if shade is None:
        ax.scatter(fake[finite, 0], fake[finite, 1], GREEN, alpha=0.5)
    else:
        hues = np.array([colorsys.hsv_to_rgb(h % 1.0, 1.0, 1.0) for h in shade[finite]]).reshape(-1, 3)
        ax.scatter(fake[finite, 0], fake[finite, 1], (hues * 255).round().astype(np.uint8), alpha=0.5)
    ax.crosses(centers[:, 0], centers[:, 1], BLACK)
    fig.frame("", [""])
    fig.legend([("real", GREY, "o"), ("G (colour: class)" if shade is not None else "G", GREEN, "o"), ("modes", BLACK, "x")], "upper right")
    return fig
