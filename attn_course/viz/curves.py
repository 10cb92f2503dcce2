"""Learning curves over seeds: the mean as a line, ± one standard deviation as a band.

    plot_learning_curves({"1 head": curve_summary(runs_1), "4 heads": curve_summary(runs_4)},
                         live={"1 head, your run": result["curve"]})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from attn_course.viz.figure import new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

COLOURS = ("#c0392b", "#d68910", "#2b6cb0", "#239b56", "#7d3c98", "#555555")


def plot_learning_curves(
    summaries: Mapping[str, Mapping],
    *,
    live: Mapping[str, Mapping] | None = None,
    title: str = "Learning curves, mean ± sd over seeds",
    ylabel: str = "token accuracy",
    chance: float | None = None,
    ax: Axes | None = None,
    pyplot: bool = True,
) -> Figure:
    """One line per label: summaries[label] has "steps", "mean", "sd" and "seeds" (as returned by
    `experiments.offsets.curve_summary`); live[label] is one run's {"steps", "accuracy"}, drawn
    dashed, in the colour of the summary with the same label ("<label>, your run"), or in the
    next colour when no summary has that label."""
    if not summaries:
        raise ValueError("nothing to draw: pass at least one summary, e.g. {'1 head': summary}.")
    if ax is None:
        fig = new_figure(7.5, 4.2, pyplot=pyplot, layout="constrained")
        ax = fig.add_subplot()
    fig = ax.figure
    for i, (label, s) in enumerate(summaries.items()):
        colour = COLOURS[i % len(COLOURS)]
        steps, mean, sd = (np.asarray(s[k], dtype=float) for k in ("steps", "mean", "sd"))
        n = len(s["seeds"])
        ax.plot(steps, mean, color=colour, lw=2, label=f"{label} ({n} seed{'s' * (n > 1)})")
        ax.fill_between(steps, mean - sd, np.minimum(mean + sd, 1.0), color=colour, alpha=0.2)
    order = list(summaries)
    for label, run in (live or {}).items():
        if label in summaries:
            colour, shown = COLOURS[order.index(label) % len(COLOURS)], f"{label}, your run"
        else:
            colour, shown = COLOURS[len(order) % len(COLOURS)], label
            order.append(label)
        ax.plot(run["steps"], run["accuracy"], color=colour, ls="--", lw=1.5, label=shown)
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", lw=1, label=f"chance ({chance:.1%})")
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(lambda y, _: f"{y:.0%}")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    return fig
