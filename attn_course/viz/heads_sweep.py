"""Notebook 07's plots: accuracy and step time against the head count, pruning curves, and
accuracy against the K/V cache.

    plot_heads_sweep({"offsets, width 64": rows, "lookup, width 32": rows}, selected=8)
    plot_pruning({"offsets": curve})            # accuracy as heads are removed
    plot_kv_tradeoff(rows)                      # accuracy against K/V heads and cache bytes

`rows` are `experiments.heads_sweep.summarize` rows: accuracy and seconds per step as
(mean, sd) over seeds, per head count (or per K/V head count).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from attn_course.viz.figure import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLOURS = ("#2b6cb0", "#c0392b", "#2f855a", "#6b46c1")


def plot_heads_sweep(sweeps: Mapping[str, Sequence[Mapping]], *, selected: int | None = None,
                     pyplot: bool = True) -> Figure:
    """Token accuracy (mean ± sd over seeds) and ms per training step against the number of
    heads H at a fixed width, one line per sweep; `selected` marks one head count."""
    fig = new_figure(10.5, 4.0, pyplot=pyplot, layout="constrained")
    acc_ax, time_ax = fig.subplots(1, 2)
    for colour, (label, rows) in zip(COLOURS, sweeps.items(), strict=False):
        H = [r["num_heads"] for r in rows]
        mean = [100 * r["accuracy"][0] for r in rows]
        sd = [100 * r["accuracy"][1] for r in rows]
        n = len(rows[0]["seeds"])
        acc_ax.errorbar(H, mean, yerr=sd, marker="o", capsize=3, color=colour,
                        label=f"{label} ({n} seeds)")
        ms = [1e3 * r["seconds_per_step"][0] for r in rows]
        time_ax.plot(H, ms, marker="o", color=colour, label=label)
        for h, r, m in zip(H, rows, mean, strict=True):
            if r["head_dim"] <= 2:
                acc_ax.annotate(f"d={r['head_dim']}", (h, m), textcoords="offset points",
                                xytext=(0, -14), ha="center", fontsize=8, color=colour)
    for ax in (acc_ax, time_ax):
        ax.set_xscale("log", base=2)
        ticks = sorted({r["num_heads"] for rows in sweeps.values() for r in rows})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.set_xlabel("number of heads H (head size d = width / H)")
        ax.grid(alpha=0.3)
        if selected is not None:
            ax.axvline(selected, color="#718096", linestyle=":", linewidth=1.5)
    acc_ax.set_ylabel("token accuracy (%)")
    acc_ax.set_title("Accuracy at a fixed width (parameters constant)")
    acc_ax.legend(fontsize=8, loc="lower center")
    time_ax.set_ylabel("ms per training step (batch 64, 1 thread)")
    time_ax.set_title("Step time: H·T² scores, H small products")
    time_ax.legend(fontsize=8)
    return fig


def plot_pruning(curves: Mapping[str, Mapping], *, pyplot: bool = True) -> Figure:
    """Accuracy after removing k heads, least important first (solid) and in random orders
    (mean ± sd band, dashed), one panel per curve (`experiments.heads_sweep.pruning_curve`)."""
    fig = new_figure(5.2 * len(curves), 3.8, pyplot=pyplot, layout="constrained")
    axes = fig.subplots(1, len(curves), squeeze=False)[0]
    for ax, (label, c) in zip(axes, curves.items(), strict=True):
        k = c["removed"]
        ax.plot(k, [100 * a for a in c["by_importance"]], marker="o", color=COLOURS[0],
                label="least important first")
        mean = [100 * a for a in c["random_mean"]]
        sd = [100 * s for s in c["random_sd"]]
        ax.plot(k, mean, linestyle="--", color=COLOURS[1], label="random order (mean ± sd)")
        ax.fill_between(k, [m - s for m, s in zip(mean, sd, strict=True)],
                        [m + s for m, s in zip(mean, sd, strict=True)], color=COLOURS[1],
                        alpha=0.15)
        ax.set_xticks(k)
        ax.set_xlabel(f"heads removed (of {len(k)})")
        ax.set_ylabel("token accuracy (%)")
        ax.set_title(f"Pruning heads: {label}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def plot_kv_tradeoff(rows: Sequence[Mapping], *, title: str = "", pyplot: bool = True
                     ) -> Figure:
    """Token accuracy (mean ± sd) against the K/V cache per sequence, one point per K/V head
    count G (`summarize(records, "kv_heads")` rows)."""
    fig = new_figure(6.2, 4.0, pyplot=pyplot, layout="constrained")
    ax = fig.add_subplot()
    size = [r["kv_cache_bytes"] for r in rows]
    mean = [100 * r["accuracy"][0] for r in rows]
    sd = [100 * r["accuracy"][1] for r in rows]
    ax.errorbar(size, mean, yerr=sd, marker="o", capsize=3, color=COLOURS[0])
    for r, x, y in zip(rows, size, mean, strict=True):
        G = r["kv_heads"]
        ax.annotate("MQA (G=1)" if G == 1 else f"G={G}", (x, y), textcoords="offset points",
                    xytext=(6, 6), fontsize=9)
    ax.set_xscale("log", base=2)
    ax.set_xticks(size, [f"{s:,} B" for s in size])
    ax.set_xlabel("K/V cache per sequence and layer (float32)")
    ax.set_ylabel("token accuracy (%)")
    ax.set_title(title or "Fewer K/V heads: a smaller cache, and the accuracy it costs")
    ax.grid(alpha=0.3)
    return fig
