"""Attention maps, one or one per head: labelled axes, a colorbar, a fixed 0..1 colour scale."""

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.image import imread

from attn_course.viz import attention_heads, attention_heatmap, png_bytes
from attn_course.viz.attention import HeadGrid, heads_figure
from attn_course.viz.figure import KEY_AXIS, QUERY_AXIS, WEIGHT_AXIS

TOKENS = ["the", "cat", "sat"]


def _image(fig):
    (ax,) = [a for a in fig.axes if a.images and a.get_label() != "<colorbar>"]
    return ax, ax.images[0]


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]


def test_heatmap_labels_axes_ticks_title_and_colorbar():
    weights = torch.softmax(torch.randn(3, 3, generator=torch.Generator().manual_seed(0)), -1)
    fig = attention_heatmap(weights, TOKENS, TOKENS, title="Self-attention")
    ax, image = _image(fig)
    assert ax.get_title() == "Self-attention"
    assert "key" in ax.get_xlabel() and "query" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == TOKENS
    assert [t.get_text() for t in ax.get_yticklabels()] == TOKENS
    assert image.colorbar is not None
    assert image.colorbar.ax.get_ylabel() == "attention weight"
    np.testing.assert_allclose(image.get_array(), weights.numpy(), rtol=1e-6)


def test_heatmap_colour_scale_is_fixed_to_0_1():
    fig = attention_heatmap(torch.full((2, 4), 0.25))
    _, image = _image(fig)
    assert image.get_clim() == (0.0, 1.0)
    # values outside 0..1 are clipped to the end colours, not rescaled
    fig = attention_heatmap(np.array([[-3.0, 0.0], [1.0, 7.0]]))
    _, image = _image(fig)
    assert image.get_clim() == (0.0, 1.0)
    norm = image.norm
    assert image.cmap(norm(-3.0)) == image.cmap(norm(0.0))
    assert image.cmap(norm(7.0)) == image.cmap(norm(1.0))


def test_small_maps_are_annotated_and_large_ones_are_not():
    fig = attention_heatmap(torch.eye(3))
    ax, _ = _image(fig)
    assert sorted(t.get_text() for t in ax.texts) == ["0.00"] * 6 + ["1.00"] * 3
    fig = attention_heatmap(torch.eye(11))
    ax, _ = _image(fig)
    assert len(ax.texts) == 0


def test_heatmap_accepts_batched_grad_tensors_and_draws_into_given_axes():
    weights = torch.rand(1, 1, 2, 5, requires_grad=True)
    fig, ax = plt.subplots()
    assert attention_heatmap(weights, ax=ax) is fig
    assert ax.images[0].get_array().shape == (2, 5)


def test_heatmap_bad_input_says_what_to_change():
    with pytest.raises(ValueError, match=r"one 2-D map .*shape \(2, 3, 3\).*weights\[0, h\]"):
        attention_heatmap(torch.rand(2, 3, 3))
    with pytest.raises(ValueError, match="got 2 labels for 3 queries"):
        attention_heatmap(torch.rand(3, 3), ["a", "b"], TOKENS)
    with pytest.raises(ValueError, match="got 4 labels for 3 keys"):
        attention_heatmap(torch.rand(3, 3), TOKENS, TOKENS + ["x"])
    with pytest.raises(TypeError, match="tensor or array of numbers"):
        attention_heatmap("not a tensor")


def test_heads_grid_has_one_labelled_map_per_head():
    weights = torch.softmax(torch.randn(1, 6, 5, 5, generator=torch.Generator().manual_seed(0)), -1)
    fig = attention_heads(weights, list("abcde"), list("abcde"), title="six heads")
    ax, image = _image(fig)  # all maps are one image on one Axes
    grid = HeadGrid.fit(6, 5, 5)
    mosaic = np.asarray(image.get_array().filled(np.nan))
    assert mosaic.shape == grid.shape
    for h in range(6):
        np.testing.assert_allclose(mosaic[grid.block(h)], weights[0, h].numpy(), rtol=1e-6)
    assert np.isnan(mosaic).sum() == mosaic.size - 6 * 25  # white between the maps
    assert image.get_clim() == (0.0, 1.0)
    assert image.colorbar.ax.get_ylabel() == WEIGHT_AXIS
    assert (ax.get_xlabel(), ax.get_ylabel()) == (KEY_AXIS, QUERY_AXIS)
    assert fig.get_suptitle() == "six heads"

    titles = " ".join(t.get_text() for t in ax.texts).split("head")  # one text per row of maps
    assert [t.split()[0] for t in titles[1:]] == [str(h) for h in range(6)]
    # keys under each map of the bottom row (heads 4 and 5): one Text, a field per cell, the
    # gap between the maps blank; queries left of the first of them
    (keys,) = [t.get_text() for t in ax.texts if t.get_va() == "top"]
    assert keys.split() == list("abcde") * (6 - 4)
    field = len(keys) // (2 * 5 + 1)  # 2 maps of 5 cells and a gap of one cell
    assert keys[5 * field : 6 * field].strip() == "", "no blank field for the gap between maps"
    queries = [t.get_text() for t in ax.texts if t.get_ha() == "right"]
    assert queries == list("abcde")


def test_heads_grid_titles_labels_and_their_counts():
    weights = torch.rand(3, 2, 4).softmax(-1)  # (H, T_q, T_k): queries and keys may differ
    fig = attention_heads(weights, ["x", "y"], list("abcd"), head_titles=["one", "two", "six"])
    ax, _ = _image(fig)
    texts = _texts(fig)
    assert any(t.split() == ["one", "two", "six"] for t in texts)
    assert [t.get_text() for t in ax.texts if t.get_ha() == "right"] == ["x", "y"]
    numbered = attention_heads(weights, title="")
    assert not numbered.get_suptitle()
    assert any(t.split() == ["0", "1", "2", "3"] * 3 for t in _texts(numbered))  # positions
    with pytest.raises(ValueError, match="got 3 labels for 2 queries"):
        attention_heads(weights, list("abc"), list("abcd"))
    with pytest.raises(ValueError, match="got 1 head titles for 3 heads"):
        attention_heads(weights, head_titles=["one"])
    with pytest.raises(ValueError, match=r"\(H, T_q, T_k\).*got shape \(2, 4\)"):
        attention_heads(torch.rand(2, 4))
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 4, 4\).*weights\[0\]"):
        attention_heads(torch.rand(2, 3, 4, 4))


def test_heads_figure_setters_change_only_what_it_shows():
    weights = torch.rand(6, 5, 5).softmax(-1)
    heads = heads_figure(weights, list("abcde"), list("abcde"), title="before", pyplot=False)
    texts_before = len(heads.figure.axes[0].texts)
    new = torch.rand(6, 5, 5).softmax(-1)
    heads.set_weights(new[None])  # (1, H, T_q, T_k) works too
    mosaic = np.asarray(heads.image.get_array().filled(np.nan))
    np.testing.assert_allclose(mosaic[heads.grid.block(5)], new[5].numpy(), rtol=1e-6)
    heads.set_labels(list("vwxyz"), list("klmno"))
    assert [t.get_text() for t in heads.query_texts] == list("vwxyz")
    assert heads.key_row.get_text().split() == list("klmno") * 2
    heads.set_head_titles([f"h{h}: t-{h}" for h in range(6)])
    assert [t.get_text().split() for t in heads.title_rows] == [
        ["h0:", "t-0", "h1:", "t-1", "h2:", "t-2", "h3:", "t-3"],
        ["h4:", "t-4", "h5:", "t-5"],
    ]
    heads.set_title("after")
    assert heads.figure.get_suptitle() == "after"
    assert len(heads.figure.axes[0].texts) == texts_before  # changed in place, none added
    assert heads.changing_artists()[0] is heads.image and heads.title in heads.changing_artists()

    with pytest.raises(ValueError, match=r"do not fit this figure's \(6, 5, 5\)"):
        heads.set_weights(torch.rand(4, 5, 5))
    with pytest.raises(ValueError, match="got 4 labels for 5 keys"):
        heads.set_labels(list("abcde"), list("abcd"))
    with pytest.raises(ValueError, match="got 2 head titles for 6 heads"):
        heads.set_head_titles(["a", "b"])
    untitled = heads_figure(weights, title="", pyplot=False)
    with pytest.raises(ValueError, match="without a title"):
        untitled.set_title("late")


@pytest.mark.parametrize(("heads", "cols", "rows"), [(1, 1, 1), (4, 4, 1), (6, 4, 2), (8, 4, 2),
                                                     (16, 4, 4), (32, 8, 4), (64, 8, 8)])
def test_grid_layout_is_square_ish_and_fits(heads, cols, rows):
    grid = HeadGrid.fit(heads, 16, 16)
    assert (grid.cols, grid.rows) == (cols, rows)
    assert grid.width_in() <= 8.0 + 1e-9
    assert grid.rows * grid.t_q * grid.cell <= 7.0  # the maps; the head titles come on top
    blocks = {grid.origin(h) for h in range(heads)}
    assert len(blocks) == heads  # no two maps on the same cells


def test_heads_png_white_background_and_grid():
    maps = torch.rand(16, 5, 5).softmax(-1)
    titles = [f"h{i}" for i in range(16)]
    figures = plt.get_fignums()
    png = png_bytes(attention_heads(maps, list("abcde"), list("abcde"), head_titles=titles,
                                    title="title", pyplot=False))
    assert plt.get_fignums() == figures  # pyplot never saw the figure
    pixels = imread(io.BytesIO(png))
    assert pixels.shape[2] in (3, 4)
    assert pixels[0, 0, :3].tolist() == [1.0, 1.0, 1.0]
    one = imread(io.BytesIO(png_bytes(attention_heads(maps[:1], pyplot=False))))
    assert pixels.shape != one.shape


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_heatmap_of_a_cuda_tensor():
    weights = torch.softmax(torch.randn(4, 4, device="cuda"), dim=-1)
    fig = attention_heatmap(weights)
    _, image = _image(fig)
    np.testing.assert_allclose(image.get_array(), weights.cpu().numpy(), rtol=1e-6)
