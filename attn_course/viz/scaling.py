"""The scaling experiment as four panels: why attention divides scores by sqrt(d_k).

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
    """Four panels over d_k, raw scores vs scores / sqrt(d_k).

    Variance of the scores, largest softmax weight, entropy of the weights, and the norm of
    softmax's Jacobian (how much gradient can flow back through the weights).
    """
    d_k = np.asarray(result.d_k)
    fig = new_figure(11, 7.5, pyplot=pyplot, layout="constrained")
    axes = fig.subplots(2, 2).ravel()
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
