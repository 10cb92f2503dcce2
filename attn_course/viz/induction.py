"""Notebook 10's plots: which heads do what, and what removing them costs.

    plot_head_scores(analysis)        one model: induction and previous-token score per head
    plot_induction(records, live=)    over seeds: the best induction score of 1- and 2-layer
                                      models, and the repeat's loss with heads ablated
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from attn_course.viz.figure import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

INDUCTION, PREVIOUS = "#c0392b", "#2b6cb0"


def _head_labels(scores: Sequence[Sequence[float]]) -> list[str]:
    return [f"L{layer}.H{head}" for layer, row in enumerate(scores) for head in range(len(row))]


def plot_head_scores(analysis: Mapping, *, title: str = "What each head attends to",
                     threshold: float | None = None, pyplot: bool = True) -> Figure:
    """Bars per head (layer L, head H): the induction score (weight on the token after the
    current token's previous occurrence) and the previous-token score, from
    `experiments.induction.analyse` (or any dict with 'induction' and 'previous_token', lists
    [layer][head]). `threshold` draws the line above which a head is called an induction head."""
    induction = np.asarray(analysis["induction"], dtype=float).ravel()
    previous = np.asarray(analysis["previous_token"], dtype=float).ravel()
    labels = _head_labels(analysis["induction"])
    x = np.arange(len(labels))
    fig = new_figure(max(5.0, 0.55 * len(labels) + 2.5) + 2.6, 3.6, pyplot=pyplot,
                     layout="constrained")
    ax = fig.add_subplot()
    ax.bar(x - 0.2, induction, 0.4, color=INDUCTION, label="induction score (key t - period + 1)")
    ax.bar(x + 0.2, previous, 0.4, color=PREVIOUS, label="previous-token score (key t - 1)")
    if threshold is not None:
        ax.axhline(threshold, color="grey", ls=":", lw=1, label=f"induction head ≥ {threshold}")
    layers = len(analysis["induction"])
    per_layer = len(labels) // max(layers, 1)
    for boundary in range(1, layers):
        ax.axvline(boundary * per_layer - 0.5, color="black", lw=0.8)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_xlabel("head (layer L, head H)")
    ax.set_ylabel("mean attention weight")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def _best(record: Mapping, layer: int) -> float:
    return max(record["induction"][layer])


def _dots(ax, x: float, values: Sequence[float], colour: str, label: str | None = None) -> None:
    values = np.asarray(values, dtype=float)
    jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else np.zeros(1)
    ax.bar(x, values.mean(), 0.55, color=colour, alpha=0.35, label=label)
    ax.errorbar(x, values.mean(), yerr=values.std(ddof=1) if len(values) > 1 else 0,
                color="black", capsize=4, lw=1)
    ax.scatter(x + jitter, values, color=colour, s=14, zorder=3)


def plot_induction(records: Sequence[Mapping], *, live: Mapping | None = None,
                   pyplot: bool = True) -> Figure:
    """Two panels from the shipped runs (`load_induction_runs()['records']`): (a) the best
    induction score per layer, 1-layer against 2-layer models; (b) the loss on the repeat of a
    2-layer model: intact, with one induction head ablated (the best), with every induction
    head ablated, with as many heads at random (mean over every choice), and with the
    previous-token head ablated. Bars are means over seeds (± sd), dots single seeds; `live`
    (one `analyse` result of a 2-layer model) is drawn as stars."""
    one = [r for r in records if r["num_layers"] == 1]
    two = [r for r in records if r["num_layers"] == 2]
    if not two:
        raise ValueError("plot_induction needs runs of the 2-layer model.")
    fig = new_figure(11.0, 4.0, pyplot=pyplot, layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(1, 1.6))

    groups = [("1 layer", [_best(r, 0) for r in one], "#777777")] if one else []
    groups += [("2 layers:\nlayer 0", [_best(r, 0) for r in two], PREVIOUS),
               ("2 layers:\nlayer 1", [_best(r, 1) for r in two], INDUCTION)]
    for i, (_, values, colour) in enumerate(groups):
        _dots(left, i, values, colour)
    if live is not None:
        left.scatter([len(groups) - 2, len(groups) - 1], [max(live["induction"][0]),
                     max(live["induction"][1])], marker="*", s=120, color="black", zorder=4,
                     label="your run")
        left.legend(fontsize=8, loc="upper left")
    left.set_xticks(range(len(groups)), [g[0] for g in groups], fontsize=8)
    left.set_ylabel("best induction score in the layer")
    left.set_ylim(0, 1)
    left.set_title(f"(a) Induction heads need two layers ({len(two)} seeds)", fontsize=10)
    left.grid(alpha=0.3, axis="y")

    def bars(record: Mapping) -> list[float]:
        base = record["repeat_loss"]
        layer1 = record["induction"][1]
        best = int(np.argmax(layer1))
        prev = int(np.argmax(record["previous_token"][0]))
        group = record["group_ablation"] or {"induction_heads": 0.0, "random_heads": 0.0}
        return [base, base + record["ablation"][1][best], base + group["induction_heads"],
                base + group["random_heads"], base + record["ablation"][0][prev]]

    names = ["intact", "best induction\nhead ablated", "every induction\nhead ablated",
             "as many heads\nat random", "previous-token\nhead ablated"]
    colours = ["#239b56", INDUCTION, INDUCTION, "#777777", PREVIOUS]
    table = np.array([bars(r) for r in two])  # (seeds, 5)
    for i, colour in enumerate(colours):
        _dots(right, i, table[:, i], colour)
    if live is not None:
        right.scatter(range(len(names)), bars(live), marker="*", s=120, color="black",
                      zorder=4, label="your run")
        right.legend(fontsize=8, loc="upper left")
    right.axhline(np.log(32), color="grey", ls=":", lw=1)
    right.annotate("chance: ln 32", (len(names) - 0.5, np.log(32)), fontsize=8, va="bottom",
                   ha="right", color="grey")
    right.set_xticks(range(len(names)), names, fontsize=8)
    right.set_ylabel("loss on the repeat (nats per token)")
    right.set_title("(b) Ablating heads of the 2-layer model: loss on the repeated half",
                    fontsize=10)
    right.grid(alpha=0.3, axis="y")
    return fig
