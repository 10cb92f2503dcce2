"""Long-range dependencies: recall accuracy against distance, and what attention pays for it.

    plot_copy_memory(summarize(load_copy_results()["records"]))   # accuracy against the gap
    plot_sequence_cost(sequence_cost())                           # time and memory against T
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from attn_course.viz.figure import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STYLE = {
    "transformer": {"color": "#2b6cb0", "marker": "o"},
    "lstm": {"color": "#c0392b", "marker": "s"},
    "cnn": {"color": "#239b56", "marker": "^"},
}
NAMES = {"transformer": "Transformer (1 layer)", "lstm": "LSTM", "cnn": "causal CNN"}


def plot_copy_memory(
    summary: Mapping[str, Mapping[int, Mapping]],
    *,
    chance: float = 1 / 8,
    live: Mapping[str, Mapping] | None = None,
    pyplot: bool = True,
) -> Figure:
    """Copy-memory accuracy (mean ± sd over seeds) against the gap, one line per model.

    summary[model][gap] has "accuracy": (mean, sd) and "params" (as `copy_memory.summarize`
    returns it); live[label] is one run's result dict, drawn as a star at its gap.
    """
    if not summary:
        raise ValueError("nothing to draw: pass copy_memory.summarize(records).")
    fig = new_figure(7.5, 4.2, pyplot=pyplot, layout="constrained")
    ax = fig.add_subplot()
    for model, by_gap in summary.items():
        gaps = sorted(by_gap)
        mean = np.array([by_gap[g]["accuracy"][0] for g in gaps])
        sd = np.array([by_gap[g]["accuracy"][1] for g in gaps])
        params = [by_gap[g]["params"] for g in gaps]  # the positions' embeddings grow with T
        low, high = min(params) / 1e3, max(params) / 1e3
        size = f"{low:.0f}k" if round(low) == round(high) else f"{low:.0f}–{high:.0f}k"
        style = STYLE.get(model, {})
        label = f"{NAMES.get(model, model)}, {size} parameters"
        ax.errorbar(gaps, mean, yerr=sd, capsize=3, lw=2, label=label, **style)
    for label, run in (live or {}).items():
        colour = STYLE.get(run["model"], {}).get("color", "black")
        ax.plot([run["gap"]], [run["accuracy"]], marker="*", ms=14, color=colour, ls="none",
                markeredgecolor="black", label=label)
    ax.axhline(chance, color="grey", ls=":", lw=1, label=f"chance ({chance:.1%})")
    ax.set_xlabel("gap (blank positions: each symbol is recalled 8 + gap positions later)")
    ax.set_ylabel("symbols recalled")
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(lambda y, _: f"{y:.0%}")
    ax.set_title("Copy memory: recall across a gap, same training budget, mean ± sd over seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="center right")
    return fig


def plot_sequence_cost(cost: Mapping, *, pyplot: bool = True) -> Figure:
    """Two panels against T (log-log): forward time of attention and the LSTM, and the bytes of
    attention's (B, H, T, T) weights against the LSTM's carried state (`sequence_cost`'s dict)."""
    T = np.asarray(cost["seq_lens"], dtype=float)
    fig = new_figure(12, 4.2, pyplot=pyplot, layout="constrained")
    left, right = fig.subplots(1, 2)
    width = f"d_model={cost['d_model']}, batch {cost['batch_size']}, {cost['threads']} thread"
    left.loglog(T, cost["attention_ms"], label=f"attention, {cost['num_heads']} heads",
                **STYLE["transformer"])
    left.loglog(T, cost["lstm_ms"], label="LSTM", **STYLE["lstm"])
    ref = np.asarray(cost["attention_ms"])[-1] * (T / T[-1]) ** 2
    left.loglog(T, ref, color="grey", ls=":", label=r"$\propto T^2$")
    left.set_xlabel("sequence length T")
    left.set_ylabel("forward time (ms)")
    left.set_title(f"Time of one layer ({width})")
    left.grid(alpha=0.3, which="both")
    left.legend(fontsize=9)

    right.loglog(T, np.asarray(cost["weights_bytes"]) / 2**20,
                 label="attention weights (B, H, T, T)", **STYLE["transformer"])
    right.loglog(T, np.asarray(cost["lstm_state_bytes"]) / 2**20,
                 label="LSTM state (h and c)", **STYLE["lstm"])
    right.set_xlabel("sequence length T")
    right.set_ylabel("memory (MiB)")
    right.set_title("What each layer holds per sequence (float32)")
    right.grid(alpha=0.3, which="both")
    right.legend(fontsize=9)
    return fig
