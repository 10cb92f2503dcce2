"""Demo code for the self-attention and multi-head notebooks: token embeddings and figures.

    >>> x = token_embeddings(["the", "cat", "sat"], d_model=16)        # (1, 3, 16)
    >>> fig = plot_heads(weights[0], list("abcdef"))                    # weights (B, H, T, T)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

HEAD_COLORS = plt.get_cmap("tab10").colors


def token_embeddings(tokens: Sequence[str], d_model: int, seed: int = 0) -> torch.Tensor:
    """(1, T, d_model) random embeddings, one vector per distinct token: equal words, equal rows.

    A token's vector depends only on the set of distinct tokens and the seed, not on its position.
    """
    vocab = sorted(set(tokens))
    table = torch.randn(len(vocab), d_model, generator=torch.Generator().manual_seed(seed))
    return table[[vocab.index(t) for t in tokens]].unsqueeze(0)


def plot_positional_encoding(pe: Any, title: str = "Sinusoidal positional encoding") -> Figure:
    """Two panels: the encoding (T, d_model) as a heatmap, and the cosine similarity of positions.

    Left: one row per position, one column per feature; the left columns oscillate fast, the right
    ones slowly. Right: cos(PE[s], PE[t]); high near the diagonal, so nearby positions look alike.
    """
    pe = torch.as_tensor(pe).detach().to("cpu", torch.float64)
    if pe.dim() != 2:
        raise ValueError(f"pe must have shape (T, d_model), got {tuple(pe.shape)}.")
    unit = pe / pe.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    similarity = unit @ unit.T  # (T, T)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
    image = left.imshow(pe.numpy(), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    fig.colorbar(image, ax=left, label="value")
    left.set_title("PE[t, i]: sin on even features, cos on odd ones")
    left.set_xlabel("feature i (low i: fast waves, high i: slow waves)")
    left.set_ylabel("position t")
    low = min(0.0, float(similarity.min()))  # the full contrast for the usual, positive values
    image = right.imshow(similarity.numpy(), cmap="viridis", vmin=low, vmax=1, aspect="auto")
    fig.colorbar(image, ax=right, label="cosine similarity")
    right.set_title("How alike two positions look: cos(PE[s], PE[t])")
    right.set_xlabel("position t")
    right.set_ylabel("position s")
    fig.suptitle(f"{title}, T = {pe.shape[0]}, d_model = {pe.shape[1]}")
    return fig


def plot_head_split(num_heads: int = 3, d_model: int = 12, seq_len: int = 4) -> Figure:
    """Picture of split_heads: the (T, d_model) features of one sequence, coloured by head,
    and the H blocks (T, d_model // H) each head receives."""
    if d_model % num_heads != 0:
        raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}.")
    d = d_model // num_heads
    fig, axes = plt.subplots(
        1,
        num_heads + 1,
        figsize=(1.5 + 0.5 * (2 * d_model + num_heads), 1.2 + 0.5 * seq_len),
        width_ratios=[d_model] + [d] * num_heads,
        layout="constrained",
    )

    def grid(ax, first_feature: int, width: int, title: str, shade: bool) -> None:
        for t in range(seq_len):
            for j in range(width):
                f = first_feature + j
                color = HEAD_COLORS[(f // d) % len(HEAD_COLORS)]
                ax.add_patch(
                    Rectangle((j, t), 1, 1, facecolor=color, alpha=0.35 if shade else 0.55,
                              edgecolor="white", linewidth=1.5)
                )
                ax.text(j + 0.5, t + 0.5, str(f), ha="center", va="center", fontsize=8)
        ax.set_xlim(0, width)
        ax.set_ylim(seq_len, 0)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks(np.arange(seq_len) + 0.5, [f"t={t}" for t in range(seq_len)])
        ax.set_title(title, fontsize=10)
        for side in ax.spines.values():
            side.set_visible(False)

    grid(axes[0], 0, d_model, f"x[b]: (T, d_model) = ({seq_len}, {d_model})", shade=True)
    axes[0].set_xlabel("feature index (colour = the head that receives it)")
    for h in range(num_heads):
        grid(axes[h + 1], h * d, d, f"head {h}: ({seq_len}, {d})", shade=False)
        axes[h + 1].set_xlabel(f"features {h * d}–{(h + 1) * d - 1}")
        axes[h + 1].set_yticks([])
    fig.suptitle(
        f"split_heads(x, {num_heads}): (B, T, {d_model}) → (B, {num_heads}, T, {d}); "
        f"numbers are feature indices"
    )
    return fig


def plot_heads(
    weights: Any,
    labels: Sequence[str],
    head_titles: Sequence[str] | None = None,
    title: str = "Attention weights, one map per head",
    cols: int | None = None,
) -> Figure:
    """Grid of H attention maps (H, T, T) on a shared 0..1 colour scale; rows are queries."""
    w = torch.as_tensor(weights).detach().to("cpu", torch.float32)
    if w.dim() == 4 and w.shape[0] == 1:
        w = w[0]
    if w.dim() != 3 or w.shape[-1] != w.shape[-2]:
        raise ValueError(
            f"weights must have shape (H, T, T) or (1, H, T, T), got {tuple(w.shape)}."
        )
    H, T, _ = w.shape
    if len(labels) != T:
        raise ValueError(f"got {len(labels)} labels for {T} tokens.")
    head_titles = list(head_titles) if head_titles is not None else [f"head {h}" for h in range(H)]
    if len(head_titles) != H:
        raise ValueError(f"got {len(head_titles)} head titles for {H} heads.")
    cols = cols or min(H, 4)
    rows = math.ceil(H / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(0.6 + 3.1 * cols, 0.7 + 3.0 * rows), squeeze=False,
        layout="constrained",
    )
    for h, ax in enumerate(axes.ravel()):
        if h >= H:
            ax.set_visible(False)
            continue
        image = ax.imshow(w[h].numpy(), vmin=0.0, vmax=1.0, cmap="viridis")
        ax.set_title(head_titles[h], fontsize=10)
        ax.set_xticks(range(T), labels, fontsize=7)
        ax.set_yticks(range(T), labels, fontsize=7)
        if h // cols == rows - 1 or h + cols >= H:
            ax.set_xlabel("key (attended to)")
        if h % cols == 0:
            ax.set_ylabel("query (attending)")
    fig.colorbar(image, ax=axes, label="attention weight", shrink=0.8)
    fig.suptitle(title)
    return fig
