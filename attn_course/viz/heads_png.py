"""attention_heads as PNG bytes, fast when many pictures share a layout (the head explorer).

    png = attention_heads_png(weights, tokens, tokens, head_titles=titles, title=title)

The picture is attention_heads' figure at PNG_DPI on white: pixel for pixel what
`png_bytes(attention_heads(..., pyplot=False))` gives, except that a head title long enough to
run into the colour bar is drawn over it rather than under it. A layout is the head count, T_q,
T_k and whether there is a title. The first picture of a layout builds the figure and draws
everything but what changes from picture to picture (the maps, the head titles, the labels,
the title), and keeps that background (for the last FRAMES_KEPT layouts); every picture then
restores the background and draws only the changing parts on it (blitting). The fixed parts
(axes, colour bar, axis names) are most of a figure's drawing time, so a later picture of a
layout takes half the time of a full draw or less.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from attn_course.viz.attention import HeadsFigure, heads_figure, heads_inputs

PNG_DPI = 100  # as png_bytes
FRAMES_KEPT = 8  # a figure and its background: a few MB each


class _Frame:
    """One layout's figure, drawn once without its changing artists."""

    def __init__(self, heads: HeadsFigure):
        self.heads = heads
        figure = heads.figure
        figure.set_dpi(PNG_DPI)
        figure.patch.set_facecolor("white")
        for artist in heads.changing_artists():
            artist.set_animated(True)  # left out of canvas.draw(): drawn by png()
        figure.canvas.draw()
        self.background = figure.canvas.copy_from_bbox(figure.bbox)

    def png(
        self,
        maps: np.ndarray,
        query_labels: list[str],
        key_labels: list[str],
        head_titles: list[str],
        title: str,
    ) -> bytes:
        heads, canvas = self.heads, self.heads.figure.canvas
        heads.set_weights(maps)
        heads.set_labels(query_labels, key_labels)
        heads.set_head_titles(head_titles)
        if title:
            heads.set_title(title)
        canvas.restore_region(self.background)
        for artist in heads.changing_artists():
            heads.figure.draw_artist(artist)
        rgb = np.asarray(canvas.buffer_rgba())[..., :3]  # opaque: the background is white
        buffer = io.BytesIO()
        # zlib level 1, as png_bytes; RGB: a quarter less to compress and to send than RGBA
        Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="png", compress_level=1)
        return buffer.getvalue()


_FRAMES: OrderedDict[tuple, _Frame] = OrderedDict()


def attention_heads_png(
    weights: Any,
    query_labels: Sequence[str] | None = None,
    key_labels: Sequence[str] | None = None,
    *,
    head_titles: Sequence[str] | None = None,
    title: str = "Attention weights, one map per head",
) -> bytes:
    """attention_heads(weights (H, T_q, T_k), ...) as PNG bytes; see the module's docstring."""
    maps, query_labels, key_labels, head_titles = heads_inputs(
        weights, query_labels, key_labels, head_titles
    )
    H, t_q, t_k = maps.shape
    layout = (H, t_q, t_k, bool(title))
    frame = _FRAMES.get(layout)
    if frame is None:
        heads = heads_figure(
            maps, query_labels, key_labels, head_titles=head_titles, title=title, pyplot=False
        )
        frame = _FRAMES[layout] = _Frame(heads)
        while len(_FRAMES) > FRAMES_KEPT:
            _FRAMES.popitem(last=False)
    _FRAMES.move_to_end(layout)
    return frame.png(maps, query_labels, key_labels, head_titles, title)


def forget_frames() -> None:
    """Drop every kept layout: the next picture of each is built from scratch."""
    _FRAMES.clear()
