"""Sinusoidal positional encodings as pictures: the encoding, and how alike two positions look.

    plot_positional_encoding(sinusoidal_positional_encoding(64, 64))   # pe (T, d_model)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from attn_course.formatting import shape_text
from attn_course.viz.figure import new_figure
from attn_course.viz.inputs import as_array

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_positional_encoding(
    pe: Any, title: str = "Sinusoidal positional encoding", *, pyplot: bool = True
) -> Figure:
    """Two panels: the encoding (T, d_model) as a heatmap, and the cosine similarity of positions.

    Left: one row per position, one column per feature; the left columns oscillate fast, the right
    ones slowly. Right: cos(PE[s], PE[t]); high near the diagonal, so nearby positions look alike.
    """
    pe = as_array(pe, "pe")  # (T, d_model)
    if pe.ndim != 2:
        raise ValueError(f"pe must have shape (T, d_model), got {shape_text(pe.shape)}.")
    norms = np.linalg.norm(pe, axis=-1, keepdims=True)  # (T, 1)
    unit = pe / np.maximum(norms, 1e-12)
    similarity = unit @ unit.T  # (T, T)

    fig = new_figure(12, 4.6, pyplot=pyplot, layout="constrained")
    left, right = fig.subplots(1, 2)
    image = left.imshow(pe, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    fig.colorbar(image, ax=left, label="value")
    left.set_title("PE[t, i]: sin on even features, cos on odd ones")
    left.set_xlabel("feature i (low i: fast waves, high i: slow waves)")
    left.set_ylabel("position t")
    low = min(0.0, float(similarity.min()))  # the full contrast for the usual, positive values
    image = right.imshow(similarity, cmap="viridis", vmin=low, vmax=1, aspect="auto")
    fig.colorbar(image, ax=right, label="cosine similarity")
    right.set_title("How alike two positions look: cos(PE[s], PE[t])")
    right.set_xlabel("position t")
    right.set_ylabel("position s")
    fig.suptitle(f"{title}, T = {pe.shape[0]}, d_model = {pe.shape[1]}")
    return fig
