"""A training loss drawn while the model trains, redrawn in place in the notebook.

    plot = LiveLoss("tiny GPT on Shakespeare", reference={"shipped run": (steps, losses)})
    model, history = train(300, on_step=plot.update)   # redrawn every `every` steps
    plot.finish()                                       # the last picture, the figure returned

Outside IPython nothing is displayed (the figure is still kept, and returned by finish()).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from attn_course.viz.curves import COLOURS
from attn_course.viz.figure import new_figure, png_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["LiveLoss"]


class LiveLoss:
    """A loss curve (nats) against the training step; `reference` curves are drawn thin, in
    colour, behind the live one (black). `update(step, loss)` keeps every loss and redraws
    every `every` steps."""

    def __init__(self, title: str, *, every: int = 25, ylabel: str = "loss (nats per token)",
                 reference: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
                 chance: float | None = None, display: bool = True):
        self.every = max(1, int(every))
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.figure: Figure = new_figure(7.5, 3.6, pyplot=False, layout="constrained")
        self.ax = self.figure.add_subplot()
        for i, (label, (steps, losses)) in enumerate((reference or {}).items()):
            self.ax.plot(steps, losses, color=COLOURS[i % len(COLOURS)], lw=2.5, alpha=0.8,
                         label=label)
        if chance is not None:
            self.ax.axhline(chance, color="grey", ls=":", lw=1, label=f"chance ({chance:.2f})")
        (self.line,) = self.ax.plot([], [], color="black", lw=1.0, label="this run")
        self.ax.set_xlabel("training step")
        self.ax.set_ylabel(ylabel)
        self.ax.set_title(title)
        self.ax.grid(alpha=0.3)
        self.ax.legend(fontsize=8, loc="upper right")
        self._handle = None
        if display:
            try:
                from IPython import get_ipython
                from IPython.display import Image
                from IPython.display import display as show
            except ImportError:
                return
            if get_ipython() is not None:
                self._handle = show(Image(png_bytes(self.figure)), display_id=True)

    def update(self, step: int, loss: float) -> None:
        """Record one step's loss; redraw when step + 1 is a multiple of `every`."""
        self.steps.append(step + 1)
        self.losses.append(float(loss))
        if (step + 1) % self.every == 0:
            self._redraw()

    def _redraw(self) -> None:
        self.line.set_data(self.steps, self.losses)
        self.ax.relim()
        self.ax.autoscale_view()
        if self._handle is not None:
            from IPython.display import Image

            self._handle.update(Image(png_bytes(self.figure)))

    def finish(self) -> Figure:
        """The last redraw; returns the figure."""
        self._redraw()
        return self.figure
