"""What split_heads does, as a picture: the features of one sequence, coloured by head.

    plot_head_split(num_heads=3, d_model=12, seq_len=4)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib import colormaps
from matplotlib.patches import Rectangle

from attn_course.viz.figure import new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

HEAD_COLORS = colormaps["tab10"].colors  # head h: HEAD_COLORS[h % 10]


def plot_head_split(
    num_heads: int = 3, d_model: int = 12, seq_len: int = 4, *, pyplot: bool = True
) -> Figure:
    """Picture of split_heads: the (T, d_model) features of one sequence, coloured by head,
    and the H blocks (T, d_model // H) each head receives; numbers are feature indices."""
    if d_model % num_heads != 0:
        raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}.")
    d = d_model // num_heads
    width = 1.5 + 0.5 * (2 * d_model + num_heads)
    fig = new_figure(width, 1.2 + 0.5 * seq_len, pyplot=pyplot, layout="constrained")
    axes = fig.subplots(1, num_heads + 1, width_ratios=[d_model] + [d] * num_heads)

    _features(axes[0], 0, d_model, d, seq_len, shade=True)
    axes[0].set_title(f"x[b]: (T, d_model) = ({seq_len}, {d_model})", fontsize=10)
    axes[0].set_xlabel("feature index (colour = the head that receives it)")
    for h in range(num_heads):
        ax = axes[h + 1]
        _features(ax, h * d, d, d, seq_len, shade=False)
        ax.set_title(f"head {h}: ({seq_len}, {d})", fontsize=10)
        ax.set_xlabel(f"features {h * d}–{(h + 1) * d - 1}")
        ax.set_yticks([])
    fig.suptitle(
        f"split_heads(x, {num_heads}): (B, T, {d_model}) → (B, {num_heads}, T, {d}); "
        f"numbers are feature indices"
    )
    return fig


def _features(ax: Axes, first: int, width: int, d: int, seq_len: int, shade: bool) -> None:
    """Features first .. first + width - 1 of seq_len tokens as numbered cells, one row per token,
    coloured by the head (of d features each) that owns them."""
    for t in range(seq_len):
        for j in range(width):
            f = first + j
            color = HEAD_COLORS[(f // d) % len(HEAD_COLORS)]
            cell = Rectangle(
                (j, t), 1, 1, facecolor=color, alpha=0.35 if shade else 0.55,
                edgecolor="white", linewidth=1.5,
            )
            ax.add_patch(cell)
            ax.text(j + 0.5, t + 0.5, str(f), ha="center", va="center", fontsize=8)
    ax.set_xlim(0, width)
    ax.set_ylim(seq_len, 0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks(np.arange(seq_len) + 0.5, [f"t={t}" for t in range(seq_len)])
    for side in ax.spines.values():
        side.set_visible(False)
