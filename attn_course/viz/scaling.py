"""The scaling experiment as six panels: why attention divides scores by sqrt(d_k).

    plot_scaling(scaling_experiment(seed=0))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from attn_course.viz.figure import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from attn_course.experiments.scaling import ScalingResult


def plot_scaling(result: ScalingResult, *, pyplot: bool = True) -> Figure:
    """Six panels over d_k, raw scores vs scores / sqrt(d_k).

    Top row: variance of the scores, largest softmax weight, entropy of the weights. Bottom row:
    the norm of softmax's Jacobian (how much gradient can flow back through the weights), then
    the gradient that reaches the queries, ||dw/dq|| per query: its median and mean (log scale),
    and the share of queries that get almost none.
    """
    d_k = np.asarray(result.d_k)
    fig = new_figure(15, 8, pyplot=pyplot, layout="constrained")
    axes = fig.subplots(2, 3).ravel()
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

    ax = axes[4]
    mean = {"ls": "--", "mfc": "none"}
    ax.loglog(d_k, result.query_grad_median_unscaled, **{**raw, "label": "raw, median"})
    ax.loglog(d_k, result.query_grad_median_scaled, **{**scaled, "label": "scaled, median"})
    ax.loglog(d_k, result.query_grad_mean_unscaled, **{**raw, **mean, "label": "raw, mean"})
    ax.loglog(d_k, result.query_grad_mean_scaled, **{**scaled, **mean, "label": "scaled, mean"})
    ax.set_title("Gradient reaching the queries: median vs mean")
    ax.set_ylabel(r"$\|\partial w / \partial q\|_F$ over queries")

    ax = axes[5]
    small = result.small_query_grad
    ax.semilogx(d_k, result.query_grad_small_unscaled, **raw)
    ax.semilogx(d_k, result.query_grad_small_scaled, **scaled)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Queries with almost no gradient (< {small:g})")
    ax.set_ylabel(r"share of queries with $\|\partial w / \partial q\|_F$ < " f"{small:g}")

    for ax in axes:
        ax.set_xlabel(r"head size $d_k$")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"Why divide by $\\sqrt{{d_k}}$: random q, k ~ N(0, 1), {result.seq_len} keys, "
        f"{result.n_samples} samples, seed {result.seed}"
    )
    return fig
