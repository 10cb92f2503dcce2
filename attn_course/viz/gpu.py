"""Heads looped against batched: forward time against the number of heads.

    plot_heads_timing(heads_timing(device=device))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from attn_course.viz.figure import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_heads_timing(timing: Mapping, *, pyplot: bool = True) -> Figure:
    """Median forward time of the loop over heads and of the batched heads against H (log-log),
    as `experiments.gpu_speed.heads_timing` returns it."""
    H = timing["head_counts"]
    fig = new_figure(7.5, 4.2, pyplot=pyplot, layout="constrained")
    ax = fig.add_subplot()
    ax.loglog(H, timing["loop_ms"], marker="s", color="#c0392b", label="a Python loop over heads")
    ax.loglog(H, timing["batched_ms"], marker="o", color="#2b6cb0", label="heads as a batch dim")
    ax.set_xticks(H, [str(h) for h in H])
    ax.set_xlabel("number of heads H (head size d_model / H)")
    ax.set_ylabel("median forward time (ms)")
    shape = f"B={timing['batch']}, T={timing['seq_len']}, d_model={timing['d_model']}"
    ax.set_title(f"Heads looped or batched ({shape}, {timing['device']}, "
                 f"{timing['threads']} threads)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=9)
    return fig
