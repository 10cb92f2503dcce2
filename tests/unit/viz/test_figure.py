"""One drawing code for notebooks (pyplot figures) and widgets (bare Agg figures, PNG bytes)."""

import io

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.image import imread

from attn_course import viz
from attn_course.experiments.scaling import scaling_experiment
from attn_course.viz.figure import map_axes, new_figure, png_bytes

PNG = b"\x89PNG\r\n\x1a\n"


def test_new_figure_is_pyplots_or_a_bare_agg_figure():
    before = plt.get_fignums()
    shown = new_figure(3.0, 2.0)
    assert plt.get_fignums() == [*before, shown.number]
    bare = new_figure(3.0, 2.0, pyplot=False, layout="constrained")
    assert plt.get_fignums() == [*before, shown.number]  # pyplot does not track it
    assert isinstance(bare.canvas, FigureCanvasAgg)
    assert tuple(bare.get_size_inches()) == (3.0, 2.0)
    assert bare.get_layout_engine() is not None


def test_png_bytes_is_a_png_of_the_figure_size_on_white():
    fig = new_figure(3.0, 2.0, pyplot=False)
    png = png_bytes(fig)
    assert png.startswith(PNG)
    pixels = imread(io.BytesIO(png))
    assert pixels.shape[:2] == (200, 300)  # 100 dpi
    assert pixels[0, 0, :3].tolist() == [1.0, 1.0, 1.0]
    assert imread(io.BytesIO(png_bytes(fig, dpi=50))).shape[:2] == (100, 150)


def test_map_axes_uses_given_axes_or_sizes_a_new_figure():
    fig, ax = plt.subplots()
    assert map_axes(ax, 3, 3) == (fig, ax)
    small_fig, _ = map_axes(None, 2, 2)
    big_fig, _ = map_axes(None, 30, 30)
    assert tuple(small_fig.get_size_inches()) == (4.0, 2.5)
    assert tuple(big_fig.get_size_inches()) == (10.0, 9.0)


@pytest.mark.parametrize(
    "draw",
    [
        lambda pyplot: viz.attention_heatmap(torch.eye(3), pyplot=pyplot),
        lambda pyplot: viz.attention_heads(torch.eye(3)[None], pyplot=pyplot),
        lambda pyplot: viz.mask_heatmap(torch.eye(3, dtype=torch.bool), pyplot=pyplot),
        lambda pyplot: viz.plot_positional_encoding(torch.rand(4, 6), pyplot=pyplot),
        lambda pyplot: viz.plot_head_split(pyplot=pyplot),
        lambda pyplot: viz.plot_scaling(scaling_experiment((4, 16), n_samples=2), pyplot=pyplot),
    ],
    ids=["heatmap", "heads", "mask", "positional", "head_split", "scaling"],
)
def test_every_plot_draws_for_pyplot_and_as_png(draw):
    before = plt.get_fignums()
    fig = draw(pyplot=False)
    assert plt.get_fignums() == before
    assert png_bytes(fig).startswith(PNG)
    shown = draw(pyplot=True)
    assert plt.get_fignums() == [*before, shown.number]
    for ax in shown.axes:  # every panel is labelled: a title, or axis names, or a colour bar's
        if ax.get_visible() and ax.get_label() != "<colorbar>":
            assert ax.get_title() or ax.get_xlabel() or ax.get_ylabel(), ax
