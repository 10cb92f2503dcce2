"""Notebook 09's plot: each rank's compute against the all-reduce, per layer size.

    plot_comm_cost(comm_cost(world_size=2))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from attn_course.viz.figure import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_comm_cost(cost: Mapping, *, pyplot: bool = True) -> Figure:
    """Per (B, T, D): one rank's attention time for its heads and the all-reduce time of the
    (B, T, D) output, side by side (log scale), as `experiments.parallel.comm_cost` returns."""
    rows = cost["rows"]
    labels = [f"B={b}, T={t}, D={d}\n{r['bytes'] / 2**20:.2g} MiB" for r in rows
              for b, t, d in [r["shape"]]]
    x = range(len(rows))
    fig = new_figure(7.5, 4.2, pyplot=pyplot, layout="constrained")
    ax = fig.add_subplot()
    width = 0.38
    ax.bar([i - width / 2 for i in x], [r["compute_ms"] for r in rows], width,
           color="#2b6cb0", label="compute: this rank's heads")
    ax.bar([i + width / 2 for i in x], [r["all_reduce_ms"] for r in rows], width,
           color="#c0392b", label="communication: all-reduce of the output")
    for i, r in zip(x, rows, strict=True):
        ax.annotate(f"{r['share']:.0%} comm.", (i, max(r["compute_ms"], r["all_reduce_ms"])),
                    textcoords="offset points", xytext=(0, 4), ha="center", fontsize=8)
    ax.set_yscale("log")
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.set_ylabel("median time per forward pass (ms)")
    ax.set_title(f"Head parallelism on {cost['world_size']} processes ({cost['backend']}, "
                 f"{cost['num_heads']} heads, {cost['threads_per_rank']} thread per rank)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, loc="upper left")
    return fig
