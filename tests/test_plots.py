"""The 1-D and 2-D pictures: round tick values, and marks drawn where their data coordinates say."""

import numpy as np
import pytest

from gan_cli.plots import density_figure, scatter_figure, ticks


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [(-0.5, 8.5, [0, 2, 4, 6, 8]), (0.0, 1.0, [0, 0.2, 0.4, 0.6, 0.8, 1.0]), (-13.4, 13.4, [-10, 0, 10]), (0.0, 0.42, [0, 0.1, 0.2, 0.3, 0.4])],
)
def test_ticks_are_round_values_inside_the_range(lo: float, hi: float, expected: list[float]) -> None:
    assert ticks(lo, hi) == pytest.approx(expected)


def _greenish(image: np.ndarray) -> np.ndarray:
    """Pixels of G's colour blended half into white (the histogram's fill)."""
    r, g, b = (image[..., c].astype(int) for c in range(3))
    return (g - r > 40) & (g - b > 40)


def _box(fig) -> tuple[float, float, float, float]:  # noqa: ANN001 - a plots.Figure
    return tuple(edge / 2 for edge in fig.box)  # drawn at 2x


def test_the_density_figure_fills_g_s_histogram_where_the_samples_are() -> None:
    xs = np.linspace(0.0, 8.0, 400)
    fake = np.random.default_rng(0).uniform(1.0, 3.0, 5000)  # G's samples: all in [1, 3], an eighth to 3/8 of the range
    fig = density_figure(xs, np.zeros_like(xs), fake, d=None, title="")
    image = np.asarray(fig.image())
    assert image.shape == (350, 600, 3)
    left, top, right, bottom = _box(fig)
    lower = _greenish(image)[round(bottom - 0.3 * (bottom - top)) : round(bottom) - 2]  # below the legend's key
    columns = np.flatnonzero(lower.any(0))
    share = (columns - left) / (right - left)
    assert share.min() == pytest.approx(1 / 8, abs=0.01) and share.max() == pytest.approx(3 / 8, abs=0.01)


def test_the_scatter_figure_puts_g_s_points_at_their_coordinates() -> None:
    fake = np.array([[1.0, -1.0]] * 20)  # right of centre and below it
    fig = scatter_figure(np.zeros((0, 2)), fake, np.zeros((0, 2)), (-2.0, 2.0), "")
    image = np.asarray(fig.image())
    left, top, right, bottom = _box(fig)
    inside = _greenish(image)[round(top) + 2 : round(bottom) - 2, round(left) + 2 : round(right) - 2]
    rows, columns = np.nonzero(inside)
    legend = rows < 60  # the legend's key sits in the top right corner
    assert np.allclose((columns[~legend] + 2) / (right - left), 0.75, atol=0.02)
    assert np.allclose((rows[~legend] + 2) / (bottom - top), 0.75, atol=0.02)
