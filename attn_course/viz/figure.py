"""Figures for a notebook or for a PNG, and the axis names every map of the course shares.

    fig = new_figure(6.0, 4.0)                  # pyplot's: plt.show() displays it in a notebook
    fig = new_figure(6.0, 4.0, pyplot=False)    # pyplot never sees it: for png_bytes(fig)
    png = png_bytes(fig)                        # the figure as PNG bytes, drawn by Agg

Every drawing function of `viz` takes `pyplot=`: the same code gives the notebook's figure and
the widget's PNG.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes

KEY_AXIS = "key (attended to)"  # columns of an attention map or mask
QUERY_AXIS = "query (attending)"  # rows
WEIGHT_AXIS = "attention weight"  # the colour bar of attention maps, always 0..1


def new_figure(
    width: float, height: float, *, pyplot: bool = True, layout: str | None = None
) -> Figure:
    """An empty figure of width x height inches.

    pyplot=True: a pyplot figure, shown by plt.show() (or at the end of a notebook cell).
    pyplot=False: a bare figure on an Agg canvas that pyplot does not track, so nothing displays
    it and nothing keeps it alive once it is dropped; the fast path for `png_bytes`.
    """
    if pyplot:
        return plt.figure(figsize=(width, height), layout=layout)
    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure, dpi: float = 100) -> bytes:
    """The figure as PNG bytes on a white background."""
    buf = io.BytesIO()
    # zlib level 1: a third of the encoding time of the default level, PNG ~10% larger
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white", pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def map_axes(ax: Axes | None, n_rows: int, n_cols: int, pyplot: bool = True) -> tuple[Figure, Axes]:
    """(figure, axes) for one map of n_rows x n_cols cells: `ax` and its figure when given,
    else a new figure sized to the map."""
    if ax is not None:
        return ax.figure, ax
    width = max(4.0, min(10.0, 2.0 + 0.55 * n_cols))
    height = max(2.5, min(9.0, 1.2 + 0.5 * n_rows))
    fig = new_figure(width, height, pyplot=pyplot, layout="constrained")
    return fig, fig.add_subplot()


def set_tick_labels(
    ax: Axes, row_labels: Sequence[str] | None, col_labels: Sequence[str] | None
) -> None:
    """One tick per row and column of a map, labelled; words under the map are slanted."""
    if col_labels is not None:
        if max((len(label) for label in col_labels), default=0) > 2:  # words: slant them
            ax.set_xticks(range(len(col_labels)), col_labels, rotation=45, ha="right")
        else:  # numbers or single characters fit upright
            ax.set_xticks(range(len(col_labels)), col_labels)
    if row_labels is not None:
        ax.set_yticks(range(len(row_labels)), row_labels)
