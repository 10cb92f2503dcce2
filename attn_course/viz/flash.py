"""Flash attention's savings: extra peak memory and time against the sequence length.

    plot_flash_cost(flash_cost())
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from attn_course.viz.figure import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STYLE = {
    "naive": {"color": "#c0392b", "marker": "s", "label": "naive: scores in memory"},
    "flash": {"color": "#2b6cb0", "marker": "o", "label": "flash (tiled, PyTorch)"},
    "sdpa": {"color": "#239b56", "marker": "^", "label": "F.scaled_dot_product_attention"},
    "sdpa:math": {"color": "#c0392b", "marker": "s", "label": "SDPA, math backend"},
    "sdpa:flash": {"color": "#2b6cb0", "marker": "o", "label": "SDPA, flash backend"},
    "sdpa:efficient": {"color": "#7d3c98", "marker": "D", "label": "SDPA, memory-efficient"},
    "sdpa:cudnn": {"color": "#d68910", "marker": "v", "label": "SDPA, cuDNN backend"},
}


def plot_flash_cost(cost: Mapping, *, pyplot: bool = True) -> Figure:
    """Two log-log panels against N: extra peak memory (with one N x N score tensor's size),
    and median time, for each method in `cost` (as `experiments.flash_cost` or
    `experiments.gpu_speed.backend_cost` returns it)."""
    N = np.asarray(cost["seq_lens"], dtype=float)
    fig = new_figure(12, 4.2, pyplot=pyplot, layout="constrained")
    left, right = fig.subplots(1, 2)
    dtype = cost.get("dtype", "float32")
    where = f"{cost['heads']} heads, d = {cost['head_dim']}, {dtype}, {cost['device']}"
    for name, values in cost["memory_mib"].items():
        left.loglog(N, np.maximum(values, 1e-2), **STYLE.get(name, {"label": name}))
    left.loglog(N, cost["scores_mib"], color="grey", ls=":", label="one (H, N, N) score tensor")
    left.set_title(f"Extra peak memory ({where})")
    left.set_ylabel("MiB above the inputs")
    for name, values in cost["time_ms"].items():
        right.loglog(N, values, **STYLE.get(name, {"label": name}))
    right.set_title(f"Time ({cost['threads']} threads)")
    right.set_ylabel("median forward time (ms)")
    for ax in (left, right):
        ax.set_xlabel("sequence length N")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=9)
    return fig
