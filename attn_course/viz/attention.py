"""Attention maps: the one renderer of the course, for one map or one map per head.

    attention_heatmap(weights, tokens, tokens)     # weights (T_q, T_k): one map, values written in
    attention_heads(weights, tokens, tokens)       # weights (H, T_q, T_k): one map per head
    png_bytes(attention_heads(..., pyplot=False))  # the same grid as PNG bytes
    heads_figure(weights, tokens, tokens)          # the grid, holding what changes with the
                                                   # weights (viz.heads_png redraws only that)

One convention everywhere: row i is query i (the token attending), column j is key j (the token
attended to), the colour scale is fixed to 0..1 (values outside are clipped) so that maps can be
compared, and the colour bar says "attention weight". Both functions validate their input with
`viz.inputs` and draw with the same image settings. A single map is labelled with ticks and can
go into your own axes (`ax=`). A grid is one image on one Axes: the maps are laid out as a mosaic
with white gaps and labelled with a few long texts, so that drawing 64 heads takes about twice
as long as drawing one, not 64 times.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import colormaps

from attn_course.viz.figure import (
    KEY_AXIS,
    QUERY_AXIS,
    WEIGHT_AXIS,
    map_axes,
    new_figure,
    set_tick_labels,
)
from attn_course.viz.inputs import as_maps, check_labels

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.image import AxesImage
    from matplotlib.text import Text

ANNOTATE_MAX_CELLS = 100  # a single map gets its values written in up to this many (10 x 10)
WEIGHT_COLORS = colormaps["viridis"].with_extremes(bad="white")  # NaN: the gaps of a grid

# Grid geometry, in inches unless said otherwise.
GAP = 1  # blank cells between maps
MAX_CELL = 0.24  # a cell is at most this wide and tall
MAX_WIDTH, MAX_HEIGHT = 8.0, 7.0  # the maps of a grid fit in this
TITLE_HEIGHT = 0.16  # above each row of maps, for the head titles
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_BOTTOM = 0.7, 1.0, 0.55
MARGIN_TOP, MARGIN_TOP_TITLED = 0.15, 0.45
MONO_ADVANCE = 0.6021  # advance width of DejaVu Sans Mono (matplotlib's own font), in em


def attention_heatmap(
    weights: Any,
    query_labels: Sequence[str] | None = None,
    key_labels: Sequence[str] | None = None,
    *,
    title: str = "Attention weights",
    ax: Axes | None = None,
    annotate: bool | None = None,
    pyplot: bool = True,
) -> Figure:
    """One attention map, weights (T_q, T_k): row i = how query i spreads over the keys.

    Leading size-1 dims are dropped: (1, T_q, T_k) and (1, 1, T_q, T_k) work too. `ax=` draws
    into your axes. `annotate=None` writes the values into the cells when the map has at most
    100 cells. Labels default to the row and column numbers.
    """
    arr = as_maps(weights, "weights", ndim=2)  # (T_q, T_k)
    t_q, t_k = arr.shape
    query_labels = check_labels(query_labels, t_q, "queries")
    key_labels = check_labels(key_labels, t_k, "keys")
    fig, ax = map_axes(ax, t_q, t_k, pyplot=pyplot)

    image = _show(ax, arr)
    fig.colorbar(image, ax=ax, label=WEIGHT_AXIS)
    ax.set_title(title)
    ax.set_xlabel(KEY_AXIS)
    ax.set_ylabel(QUERY_AXIS)
    set_tick_labels(ax, query_labels, key_labels)
    if annotate is None:
        annotate = arr.size <= ANNOTATE_MAX_CELLS
    if annotate:
        for (i, j), value in np.ndenumerate(arr):
            color = "black" if value > 0.6 else "white"
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8, color=color)
    return fig


def attention_heads(
    weights: Any,
    query_labels: Sequence[str] | None = None,
    key_labels: Sequence[str] | None = None,
    *,
    head_titles: Sequence[str] | None = None,
    title: str = "Attention weights, one map per head",
    pyplot: bool = True,
) -> Figure:
    """One map per head, weights (H, T_q, T_k) or (1, H, T_q, T_k), in a grid of up to 8 columns.

    Each map has a title above it ("head h" by default, numbered like the tensor), the bottom
    row of maps has the key labels under it and its first map the query labels left of it.
    Labels default to the positions 0, 1, ...; `title=""` leaves the figure without a title.
    """
    return heads_figure(
        weights, query_labels, key_labels, head_titles=head_titles, title=title, pyplot=pyplot
    ).figure


def heads_inputs(
    weights: Any,
    query_labels: Sequence[str] | None,
    key_labels: Sequence[str] | None,
    head_titles: Sequence[str] | None,
) -> tuple[Any, list[str], list[str], list[str]]:
    """attention_heads' inputs checked, labels defaulted: (maps (H, T_q, T_k), query labels,
    key labels, head titles)."""
    maps = as_maps(weights, "weights", ndim=3)  # (H, T_q, T_k)
    H, t_q, t_k = maps.shape
    query_labels = check_labels(query_labels, t_q, "queries") or [str(i) for i in range(t_q)]
    key_labels = check_labels(key_labels, t_k, "keys") or [str(j) for j in range(t_k)]
    head_titles = check_labels(head_titles, H, "heads", kind="head title") or [
        f"head {h}" for h in range(H)
    ]
    return maps, list(query_labels), list(key_labels), list(head_titles)


def heads_figure(
    weights: Any,
    query_labels: Sequence[str] | None = None,
    key_labels: Sequence[str] | None = None,
    *,
    head_titles: Sequence[str] | None = None,
    title: str = "Attention weights, one map per head",
    pyplot: bool = True,
) -> HeadsFigure:
    """attention_heads' figure, with a hold on what changes with the weights (see HeadsFigure)."""
    maps, query_labels, key_labels, head_titles = heads_inputs(
        weights, query_labels, key_labels, head_titles
    )
    H, t_q, t_k = maps.shape
    grid = HeadGrid.fit(H, t_q, t_k)
    top = MARGIN_TOP_TITLED if title else MARGIN_TOP
    width, height = grid.width_in(), grid.height_in()
    fig_w, fig_h = MARGIN_LEFT + width + MARGIN_RIGHT, top + height + MARGIN_BOTTOM
    fig = new_figure(fig_w, fig_h, pyplot=pyplot)

    ax = fig.add_axes((MARGIN_LEFT / fig_w, MARGIN_BOTTOM / fig_h, width / fig_w, height / fig_h))
    image = _show(ax, grid.mosaic(maps))
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_xticks([])
    ax.set_yticks([])
    title_rows, key_row, query_texts = _label_grid(ax, grid, query_labels, key_labels, head_titles)
    ax.set_xlabel(KEY_AXIS, fontsize=9, labelpad=12)
    ax.set_ylabel(QUERY_AXIS, fontsize=9, labelpad=14)
    suptitle = fig.suptitle(title, fontsize=10, y=1 - 0.1 / fig_h, va="top") if title else None

    bar_box = ((MARGIN_LEFT + width + 0.15) / fig_w, MARGIN_BOTTOM / fig_h, 0.15 / fig_w)
    bar = fig.colorbar(image, cax=fig.add_axes((*bar_box, height / fig_h)))
    bar.set_label(WEIGHT_AXIS, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return HeadsFigure(fig, grid, image, title_rows, suptitle, key_row, query_texts)


@dataclass(frozen=True)
class HeadsFigure:
    """The figure of attention_heads and the artists that change with what it shows: the mosaic
    of maps, the head titles (one Text per row of maps), the figure's title (None without), the
    key labels (one Text under the bottom row) and the query labels (a Text per query).
    The set_ methods change only these; the layout (head count, T_q, T_k, title or not) stays.
    """

    figure: Figure
    grid: HeadGrid
    image: AxesImage
    title_rows: list[Text]
    title: Text | None
    key_row: Text
    query_texts: list[Text]

    def changing_artists(self) -> list[Artist]:
        """What the set_ methods change, in drawing order."""
        title = [self.title] if self.title else []
        return [self.image, *self.title_rows, self.key_row, *self.query_texts, *title]

    def set_labels(self, query_labels: Sequence[str], key_labels: Sequence[str]) -> None:
        """New query labels (T_q) and key labels (T_k)."""
        query_labels = check_labels(query_labels, self.grid.t_q, "queries")
        key_labels = check_labels(key_labels, self.grid.t_k, "keys")
        for text, label in zip(self.query_texts, query_labels, strict=True):
            text.set_text(label)
        line, size = _key_row(self.grid, key_labels)
        self.key_row.set_text(line)
        self.key_row.set_fontsize(size)

    def set_weights(self, weights: Any) -> None:
        """New maps, (H, T_q, T_k) or (1, H, T_q, T_k), of the same shape."""
        maps = as_maps(weights, "weights", ndim=3)
        if maps.shape != (self.grid.heads, self.grid.t_q, self.grid.t_k):
            raise ValueError(
                f"weights of shape {maps.shape} do not fit this figure's "
                f"{(self.grid.heads, self.grid.t_q, self.grid.t_k)}."
            )
        self.image.set_data(self.grid.mosaic(maps))

    def set_head_titles(self, head_titles: Sequence[str]) -> None:
        titles = check_labels(head_titles, self.grid.heads, "heads", kind="head title")
        for r, row in enumerate(self.title_rows):
            line, size = _title_row(self.grid, titles, r)
            row.set_text(line)
            row.set_fontsize(size)

    def set_title(self, title: str) -> None:
        if self.title is None:
            raise ValueError("this figure was drawn without a title: it has no room for one.")
        self.title.set_text(title)


@dataclass(frozen=True)
class HeadGrid:
    """Where H maps (T_q, T_k) go in a grid's mosaic, in cells.

    `cols` maps side by side with GAP blank columns between them; above each row of maps,
    `title_rows` blank rows for the head titles. A cell is `cell` inches wide and tall.
    """

    heads: int
    t_q: int
    t_k: int
    cols: int
    rows: int
    cell: float
    title_rows: int

    @classmethod
    def fit(cls, heads: int, t_q: int, t_k: int) -> HeadGrid:
        # up to 4 maps in one row; then a square-ish grid: 8 -> 4 x 2, 16 -> 4 x 4, 64 -> 8 x 8
        cols = heads if heads <= 4 else 2 ** math.ceil(math.log2(heads) / 2)
        rows = math.ceil(heads / cols)
        width_cells = cols * (t_k + GAP) - GAP
        cell = min(MAX_CELL, MAX_WIDTH / width_cells, MAX_HEIGHT / (rows * (t_q + 2)))
        title_rows = max(1, math.ceil(TITLE_HEIGHT / cell))
        return cls(heads, t_q, t_k, cols, rows, cell, title_rows)

    @property
    def block_w(self) -> int:  # a map and the gap after it
        return self.t_k + GAP

    @property
    def block_h(self) -> int:  # the head titles and a map
        return self.title_rows + self.t_q

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows * self.block_h, self.cols * self.block_w - GAP

    def width_in(self) -> float:
        return self.shape[1] * self.cell

    def height_in(self) -> float:
        return self.shape[0] * self.cell

    def origin(self, h: int) -> tuple[int, int]:
        """(row, column) of the top-left cell of head h's map."""
        r, c = divmod(h, self.cols)
        return r * self.block_h + self.title_rows, c * self.block_w

    def block(self, h: int) -> tuple[slice, slice]:
        """The cells of head h's map: mosaic[grid.block(h)] is the (T_q, T_k) map."""
        top, left = self.origin(h)
        return slice(top, top + self.t_q), slice(left, left + self.t_k)

    def mosaic(self, maps: np.ndarray) -> np.ndarray:
        """(H, T_q, T_k) maps -> one (rows, cols) image; NaN (drawn white) between the maps."""
        image = np.full(self.shape, np.nan)
        for h in range(self.heads):
            image[self.block(h)] = maps[h]
        return image


def _show(ax: Axes, image: np.ndarray) -> AxesImage:
    """Attention weights as colours, on the fixed 0..1 scale; NaN cells stay white."""
    return ax.imshow(
        image, cmap=WEIGHT_COLORS, vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest"
    )


def _label_grid(
    ax: Axes,
    grid: HeadGrid,
    query_labels: list[str],
    key_labels: list[str],
    head_titles: list[str],
) -> tuple[list[Text], Text, list[Text]]:
    """Head titles above each map, key labels under the bottom row, query labels on its left.
    Returns their Texts: one per row of maps, one for the keys, one per query.

    Text is the slow part of a matplotlib figure (~0.3 ms per Text, ~1 ms per tick, 40 us per
    character), so labels that run along a row are drawn as ONE monospaced Text of equal-width
    fields, each field as wide as what it labels: the head titles of a row of maps, the key
    labels of the maps of the bottom row (one field per cell, the gaps between the maps blank).
    """
    cell_pt = grid.cell * 72
    title_rows = []
    for r in range(grid.rows):
        y = r * grid.block_h + grid.title_rows - 0.8  # just above the maps of row r
        line, size = _title_row(grid, head_titles, r)
        title_rows.append(_monospaced(ax, -0.5 - GAP / 2, y, line, size, va="bottom"))
    below = ax.get_xaxis_transform()  # x in cells, y in axes units
    line, size = _key_row(grid, key_labels)
    key_row = _monospaced(ax, -0.5, -0.01, line, size, transform=below, va="top")
    top = grid.origin((grid.rows - 1) * grid.cols)[0]  # the first map of the bottom row
    query_texts = [
        ax.text(-0.8, top + i, label, ha="right", va="center", fontsize=min(9.0, cell_pt * 0.9))
        for i, label in enumerate(query_labels)
    ]
    return title_rows, key_row, query_texts


def _key_row(grid: HeadGrid, key_labels: list[str]) -> tuple[str, float]:
    """(text, font size) of the key labels under every map of the bottom row, a field a cell."""
    maps = grid.heads - (grid.rows - 1) * grid.cols  # in the bottom row
    keys = [*key_labels]
    for _ in range(maps - 1):  # the fields of the gaps between the maps stay blank
        keys += [""] * GAP + key_labels
    return _fields(keys, grid.cell * 72, 9.0)


def _title_row(grid: HeadGrid, head_titles: list[str], row: int) -> tuple[str, float]:
    """(text, font size) of the head titles of one row of maps, a field per map and its gap."""
    cell_pt = grid.cell * 72
    heads = range(row * grid.cols, min(grid.heads, (row + 1) * grid.cols))
    max_font = min(9.0, 0.7 * grid.title_rows * cell_pt)
    return _fields([head_titles[h] for h in heads], grid.block_w * cell_pt, max_font, pad=1)


def _fields(texts: list[str], span_pt: float, max_font: float, pad: int = 0) -> tuple[str, float]:
    """(line, font size): texts centred in consecutive fields span_pt points wide each, in a
    monospaced font of at most max_font points."""
    longest = max(len(t) for t in texts) + pad
    chars = max(longest, math.ceil(span_pt / (MONO_ADVANCE * max_font)))  # characters per field
    size = span_pt / (MONO_ADVANCE * chars)  # font size in points so that a field is span_pt wide
    return "".join(t.center(chars) for t in texts), size


def _monospaced(ax: Axes, x: float, y: float, line: str, size: float, **kwargs: Any) -> Text:
    """One Text of fields made by _fields, starting at x."""
    return ax.text(x, y, line, ha="left", family="DejaVu Sans Mono", fontsize=size, **kwargs)
