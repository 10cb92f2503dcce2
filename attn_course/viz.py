"""Plots shared by the notebooks and widgets: attention heatmaps, masks, the scaling experiment.

Every function returns the matplotlib Figure it drew on; pass `ax=` to draw into your own axes.
In a notebook, end the cell with `plt.show()`.

    >>> fig = attention_heatmap(weights, tokens, tokens, title="Self-attention")   # (T_q, T_k)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from attn_course.experiments.scaling import ScalingResult

ANNOTATE_MAX_CELLS = 100  # write the values into the cells up to this many (10 x 10)
MASK_COLORS = ListedColormap(["#d9d9d9", "#2b6cb0"])  # blocked, may attend


def to_numpy_2d(values: Any, name: str = "weights") -> np.ndarray:
    """A (rows, cols) float array from a tensor or array; leading size-1 dims are dropped."""
    if hasattr(values, "detach"):  # torch.Tensor on any device, with or without grad
        values = values.detach().to("cpu").float().numpy()
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"{name} must be a tensor or array of numbers, got {type(values).__name__}."
        ) from e
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be one 2-D map (T_q, T_k), got shape {tuple(arr.shape)}. "
            f"Pick one map first, e.g. {name}[0] for the first batch element or "
            f"{name}[0, h] for head h."
        )
    return arr


def _check_labels(labels: Sequence[str] | None, size: int, what: str) -> list[str] | None:
    """`what` is plural: "queries", "keys", "rows", "columns"."""
    if labels is None:
        return None
    labels = [str(label) for label in labels]
    if len(labels) != size:
        raise ValueError(
            f"got {len(labels)} labels for {size} {what}: pass one label for each of the "
            f"{size} {what} (or None to number them)."
        )
    return labels


def _axes(ax: Axes | None, n_rows: int, n_cols: int) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    width = min(10.0, 2.0 + 0.55 * n_cols)
    height = min(9.0, 1.2 + 0.5 * n_rows)
    fig, ax = plt.subplots(figsize=(max(width, 4.0), max(height, 2.5)), layout="constrained")
    return fig, ax


def _ticks(ax: Axes, row_labels: list[str] | None, col_labels: list[str] | None) -> None:
    if col_labels is not None:
        if max((len(label) for label in col_labels), default=0) > 2:  # words: slant them
            ax.set_xticks(range(len(col_labels)), col_labels, rotation=45, ha="right")
        else:  # numbers or single characters fit upright
            ax.set_xticks(range(len(col_labels)), col_labels)
    if row_labels is not None:
        ax.set_yticks(range(len(row_labels)), row_labels)


def attention_heatmap(
    weights: Any,
    query_labels: Sequence[str] | None = None,
    key_labels: Sequence[str] | None = None,
    *,
    title: str = "Attention weights",
    ax: Axes | None = None,
    annotate: bool | None = None,
    cmap: str = "viridis",
) -> Figure:
    """Heatmap of one attention map, weights (T_q, T_k): row i = how query i spreads over keys.

    The colour scale is fixed to 0..1 (values outside are clipped) so maps are comparable.
    `annotate=None` writes the values into the cells when the map has at most 100 cells.
    """
    arr = to_numpy_2d(weights, "weights")
    t_q, t_k = arr.shape
    query_labels = _check_labels(query_labels, t_q, "queries")
    key_labels = _check_labels(key_labels, t_k, "keys")
    fig, ax = _axes(ax, t_q, t_k)

    image = ax.imshow(arr, vmin=0.0, vmax=1.0, cmap=cmap, aspect="auto")
    fig.colorbar(image, ax=ax, label="attention weight")
    ax.set_title(title)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    _ticks(ax, query_labels, key_labels)
    if annotate is None:
        annotate = arr.size <= ANNOTATE_MAX_CELLS
    if annotate:
        for (i, j), value in np.ndenumerate(arr):
            color = "black" if value > 0.6 else "white"
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8, color=color)
    return fig


def mask_heatmap(
    mask: Any,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    *,
    title: str = "Mask",
    xlabel: str = "key (attended to)",
    ylabel: str = "query (attending)",
    ax: Axes | None = None,
) -> Figure:
    """Picture of a boolean mask (rows, cols): blue = True (may attend), grey = False (blocked).

    For a padding mask (B, T) pass xlabel="position", ylabel="sequence in batch".
    """
    arr = to_numpy_2d(mask, "mask")
    if not np.isin(arr, (0.0, 1.0)).all():
        raise ValueError("mask must be boolean (True = may attend); got values other than 0 and 1.")
    n_rows, n_cols = arr.shape
    row_labels = _check_labels(row_labels, n_rows, "rows")
    col_labels = _check_labels(col_labels, n_cols, "columns")
    fig, ax = _axes(ax, n_rows, n_cols)

    image = ax.imshow(arr, vmin=0.0, vmax=1.0, cmap=MASK_COLORS, aspect="auto")
    colorbar = fig.colorbar(image, ax=ax, ticks=[0.25, 0.75])
    colorbar.ax.set_yticklabels(["blocked\n(False)", "may attend\n(True)"])
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _ticks(ax, row_labels, col_labels)
    # thin white grid lines between cells so single cells are easy to count
    ax.set_xticks(np.arange(-0.5, n_cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, n_rows, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=1)
    ax.tick_params(which="minor", length=0)
    return fig


def plot_scaling(result: ScalingResult) -> Figure:
    """Four panels over d_k, raw scores vs scores / sqrt(d_k).

    Variance of the scores, largest softmax weight, entropy of the weights, and the norm of
    softmax's Jacobian (how much gradient can flow back through the weights).
    """
    d_k = np.asarray(result.d_k)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), layout="constrained")
    axes = axes.ravel()
    raw = {"label": r"raw  $q\cdot k$", "marker": "o", "color": "#c0392b"}
    scaled = {"label": r"scaled  $q\cdot k/\sqrt{d_k}$", "marker": "s", "color": "#2b6cb0"}
    uniform = {"ls": "--", "color": "grey"}

    ax = axes[0]
    ax.loglog(d_k, result.var_unscaled, **raw)
    ax.loglog(d_k, result.var_scaled, **scaled)
    ax.loglog(d_k, d_k, ls=":", color="grey", label=r"$d_k$")
    ax.set_title("Score variance grows like $d_k$ unless scaled")
    ax.set_ylabel("variance of scores")

    ax = axes[1]
    ax.semilogx(d_k, result.max_weight_unscaled, **raw)
    ax.semilogx(d_k, result.max_weight_scaled, **scaled)
    ax.axhline(1.0, ls=":", color="grey", label="one-hot (1)")
    ax.axhline(1.0 / result.seq_len, **uniform, label=f"uniform (1/{result.seq_len})")
    ax.set_ylim(0, 1.05)
    ax.set_title("Saturation: the largest weight")
    ax.set_ylabel("mean max weight")

    ax = axes[2]
    ax.semilogx(d_k, result.entropy_unscaled, **raw)
    ax.semilogx(d_k, result.entropy_scaled, **scaled)
    ax.axhline(result.max_entropy, **uniform, label=f"uniform (log {result.seq_len})")
    ax.set_ylim(0, result.max_entropy * 1.1)
    ax.set_title("Spread: entropy of the weights")
    ax.set_ylabel("mean entropy (nats)")

    ax = axes[3]
    ax.semilogx(d_k, result.jacobian_unscaled, **raw)
    ax.semilogx(d_k, result.jacobian_scaled, **scaled)
    ax.set_ylim(0, None)
    ax.set_title("Gradient: norm of softmax's Jacobian")
    ax.set_ylabel(r"mean $\|\partial w / \partial s\|_F$")

    for ax in axes:
        ax.set_xlabel(r"head size $d_k$")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"Why divide by $\\sqrt{{d_k}}$: random q, k ~ N(0, 1), {result.seq_len} keys, "
        f"{result.n_samples} samples, seed {result.seed}"
    )
    return fig
