"""Boolean masks as pictures: blue where a query may attend, grey where it is blocked.

    mask_heatmap(causal_mask(6), tokens, tokens)                  # mask (T_q, T_k)
    mask_heatmap(pad, xlabel="position", ylabel="sequence in batch")   # padding mask (B, T)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.colors import ListedColormap

from attn_course.viz.figure import KEY_AXIS, QUERY_AXIS, map_axes, set_tick_labels
from attn_course.viz.inputs import as_maps, check_labels

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MASK_COLORS = ListedColormap(["#d9d9d9", "#2b6cb0"])  # blocked, may attend


def mask_heatmap(
    mask: Any,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    *,
    title: str = "Mask",
    xlabel: str = KEY_AXIS,
    ylabel: str = QUERY_AXIS,
    ax: Axes | None = None,
    pyplot: bool = True,
) -> Figure:
    """Picture of a boolean mask (rows, cols): blue = True (may attend), grey = False (blocked).

    For a padding mask (B, T) pass xlabel="position", ylabel="sequence in batch".
    """
    arr = as_maps(mask, "mask", ndim=2)  # (rows, cols) of 0.0 and 1.0
    if not np.isin(arr, (0.0, 1.0)).all():
        raise ValueError("mask must be boolean (True = may attend); got values other than 0 and 1.")
    n_rows, n_cols = arr.shape
    row_labels = check_labels(row_labels, n_rows, "rows")
    col_labels = check_labels(col_labels, n_cols, "columns")
    fig, ax = map_axes(ax, n_rows, n_cols, pyplot=pyplot)

    image = ax.imshow(arr, vmin=0.0, vmax=1.0, cmap=MASK_COLORS, aspect="auto")
    colorbar = fig.colorbar(image, ax=ax, ticks=[0.25, 0.75])
    colorbar.ax.set_yticklabels(["blocked\n(False)", "may attend\n(True)"])
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    set_tick_labels(ax, row_labels, col_labels)
    # thin white grid lines between cells so single cells are easy to count
    ax.set_xticks(np.arange(-0.5, n_cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, n_rows, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=1)
    ax.tick_params(which="minor", length=0)
    return fig
