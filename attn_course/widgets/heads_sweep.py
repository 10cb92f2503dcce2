"""The heads-sweep explorer: pick a task and a head count, see what the sweep measured.

    >>> from attn_course.widgets import HeadsSweepExplorer
    >>> explorer = HeadsSweepExplorer()          # the shipped runs of notebook 07
    >>> explorer.num_heads.value = 32            # what moving the slider does
    >>> explorer.task.value = "offsets"

For the chosen head count: a line of numbers (head size, parameters, accuracy mean ± sd over
seeds, ms per step), the sweep's accuracy and step-time plot with that head count marked, and
the attention maps of one trained run on a probe sequence (the first 8 heads). Everything comes
from `experiments.heads_sweep` results (`load_sweep()`, or records you pass); drawing is
`viz`'s, as PNGs, each drawn once and kept.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as widgets

from attn_course import viz
from attn_course.experiments.heads_sweep import SEQ_LEN, load_sweep, summarize

TASK_LABELS = {"offsets": "multi-offset recall", "lookup": "key-value lookup"}
MAPS_SHOWN = 8  # heads drawn side by side


class HeadsSweepExplorer(widgets.VBox):
    """Controls `task` (ToggleButtons) and `num_heads` (SelectionSlider); outputs `stats`
    (HTML), `plot` and `maps` (Image). `records`: `heads_sweep.run` records of kind "sweep"."""

    def __init__(self, records: Sequence[dict] | None = None, task: str = "lookup",
                 num_heads: int | None = None):
        records = [r for r in (records or load_sweep()["records"])
                   if r.get("kind", "sweep") == "sweep"]
        self.rows = {t: summarize([r for r in records if r["task"] == t])
                     for t in TASK_LABELS if any(r["task"] == t for r in records)}
        if task not in self.rows:
            raise ValueError(f"no runs of the task {task!r}; there are {sorted(self.rows)}.")
        self.maps = {(r["task"], r["num_heads"]): r["maps"] for r in records if "maps" in r}
        self.width = {t: next(r["d_model"] for r in records if r["task"] == t)
                      for t in self.rows}
        self._pictures: dict[tuple, tuple[bytes, bytes]] = {}
        self.task = widgets.ToggleButtons(
            options=[(f"{TASK_LABELS[t]}, width {self.width[t]}", t) for t in self.rows],
            value=task, description="task")
        counts = self._counts(task)
        self.num_heads = widgets.SelectionSlider(
            options=counts, value=num_heads if num_heads in counts else counts[len(counts) // 2],
            description="heads", continuous_update=False)
        self.stats = widgets.HTML()
        self.plot = widgets.Image(format="png")
        self.maps_image = widgets.Image(format="png")
        self.task.observe(self._task_changed, names="value")
        self._quiet = False
        self.num_heads.observe(lambda _: None if self._quiet else self.render(), names="value")
        super().__init__([self.task, self.num_heads, self.stats, self.plot, self.maps_image])
        self.render()

    def _counts(self, task: str) -> list[int]:
        return [r["num_heads"] for r in self.rows[task]]

    def _task_changed(self, _) -> None:
        counts = self._counts(self.task.value)
        keep = self.num_heads.value if self.num_heads.value in counts else counts[-1]
        self._quiet = True  # one picture for the change, not one per trait
        try:
            self.num_heads.options = counts
            self.num_heads.index = counts.index(keep)
        finally:
            self._quiet = False
        self.render()

    def row(self) -> dict:
        """The summarised runs of the chosen task and head count."""
        return next(r for r in self.rows[self.task.value]
                    if r["num_heads"] == self.num_heads.value)

    def render(self) -> None:
        task, H = self.task.value, self.num_heads.value
        r = self.row()
        (acc, sd), (sec, _) = r["accuracy"], r["seconds_per_step"]
        self.stats.value = (
            f"<b>{H} head{'s' * (H > 1)}</b> of size d = {r['head_dim']} "
            f"(width {self.width[task]}): {r['params']:,} parameters, as for every head count; "
            f"accuracy <b>{acc:.1%} ± {sd:.1%}</b> over {len(r['seeds'])} seeds; "
            f"{1e3 * sec:.1f} ms per training step. "
            f"<i>{html.escape(_verdict(self.rows[task], r))}</i>")
        if (task, H) not in self._pictures:
            self._pictures[task, H] = (self._plot_png(task, H), self._maps_png(task, H))
        self.plot.value, self.maps_image.value = self._pictures[task, H]

    def _plot_png(self, task: str, H: int) -> bytes:
        label = f"{TASK_LABELS[task]}, width {self.width[task]}"
        return viz.png_bytes(viz.plot_heads_sweep({label: self.rows[task]}, selected=H,
                                                  pyplot=False), dpi=80)

    def _maps_png(self, task: str, H: int) -> bytes:
        maps = self.maps.get((task, H))
        if maps is None:
            return b""
        shown = maps[:MAPS_SHOWN]  # runs keep the maps of their first 8 heads
        positions = [str(t) for t in range(SEQ_LEN)]
        more = f" (the first {MAPS_SHOWN} of {H})" if H > MAPS_SHOWN else ""
        return viz.attention_heads_png(
            shown, positions, positions,
            title=f"{TASK_LABELS[task]}, {H} heads of size {self.width[task] // H}: attention "
                  f"on one probe sequence{more}")


def _verdict(rows: Sequence[dict], row: dict) -> str:
    """How this head count compares with the best one of its sweep."""
    best = max(rows, key=lambda r: r["accuracy"][0])
    if row is best:
        return "The best head count of this sweep."
    gap = best["accuracy"][0] - row["accuracy"][0]
    spread = max(best["accuracy"][1], row["accuracy"][1])
    if gap <= spread or gap < 0.005:
        return f"Within one sd of the best ({best['num_heads']} heads)."
    return (f"{100 * gap:.1f} points below the best ({best['num_heads']} heads, "
            f"{best['accuracy'][0]:.1%}).")
