"""The split_heads picture: every head gets its own slice of the features."""

import pytest

from attn_course.viz import plot_head_split


def test_head_split_figure_shows_each_head_its_slice():
    fig = plot_head_split(num_heads=3, d_model=12, seq_len=4)
    axes = fig.axes
    assert len(axes) == 4
    assert axes[0].get_title() == "x[b]: (T, d_model) = (4, 12)"
    assert [ax.get_xlabel() for ax in axes[1:]] == ["features 0–3", "features 4–7", "features 8–11"]
    head_1 = sorted({int(t.get_text()) for t in axes[2].texts})
    assert head_1 == [4, 5, 6, 7]
    with pytest.raises(ValueError, match="not divisible"):
        plot_head_split(num_heads=5, d_model=12)


def test_every_panel_is_titled_and_the_figure_names_the_shapes():
    fig = plot_head_split(num_heads=2, d_model=8, seq_len=3)
    assert [ax.get_title() for ax in fig.axes[1:]] == ["head 0: (3, 4)", "head 1: (3, 4)"]
    assert "(B, T, 8) → (B, 2, T, 4)" in fig.get_suptitle()
    assert len(fig.axes[0].texts) == 3 * 8  # one numbered cell per token and feature
