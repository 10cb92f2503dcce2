"""The head-count explorer: how splitting d_model into heads changes what attention can do.

Pick a width, a head count (only divisors of d_model), an input sequence, the causal mask and
trained or random weights; see one attention map per head and a line of numbers: parameters
(the same for every head count), head dimension, FLOPs and measured time.

    >>> from attn_course.widgets import HeadExplorer
    >>> explorer = HeadExplorer()          # display it: last expression of a cell
    >>> explorer.num_heads.value = 8       # what moving the slider does
    >>> explorer.attention.shape           # (H, T, T) weights behind the picture
    >>> with explorer.hold_render():       # several changes, one new picture
    ...     explorer.causal.value = False
    ...     explorer.num_heads.value = 2

The models are the multi-offset recall models of `attn_course.experiments.offsets`: trained
heads each look a fixed number of tokens back. The picture is `viz.attention_heads`' figure as a
PNG (`viz.attention_heads_png`, matplotlib's Agg backend), so it also shows where no kernel runs
(nbconvert, GitHub).

Keeping up with the slider (the kernel's part is most of a step's time; the browser's decoding
and painting of the PNG take a frame or two):
- each state of the controls is drawn once and kept (`pictures`, the last PICTURES_KEPT), so
  going back to a head count only sends its PNG again; a new state of a layout seen before
  (same head count) redraws only what changed (`viz.attention_heads_png`);
- the picture goes out before the numbers line, whose measured time is taken once per layer
  shape (`layer_timing`);
- when the kernel is idle, the neighbouring head counts are drawn ahead (`draw_ahead`);
- no backlog of stale pictures: a drag sends one value, when the handle is let go
  (continuous_update=False: sending the values passed made the last picture wait for the ones
  before it); each key press sends one, but the widget front-end sends at most one value at a
  time and keeps only the latest while the kernel is busy, and in a burst of changes (a held
  key) a picture that must be drawn waits COALESCE_S for a newer change, so that only the
  latest one is drawn.
"""

from __future__ import annotations

import asyncio
import base64
import html
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import ipywidgets as widgets
import torch

from attn_course import viz
from attn_course.device import torch_threads
from attn_course.experiments.offsets import (
    D_MODELS,
    OffsetRecallModel,
    argmax_offsets,
    build_model,
    encode,
    evaluate,
    load_pretrained,
)
from attn_course.reference.mha import divisors
from attn_course.widgets.layer_timing import LayerTiming, time_attention
from attn_course.widgets.lru import LruCache

SEQUENCES: dict[str, str] = {
    "alphabet: a b c d …": "abcdefghijklmnop",
    "random letters": "khbofmapdjlcnegi",
    "repeats: abcd abcd …": "abcdabcdabcdabcd",
    "words: cafe face bead head": "cafefacebeadhead",
    "one letter: a a a a …": "aaaaaaaaaaaaaaaa",
}
WEIGHTS = ("trained", "random")
THREADS = 1  # torch threads while the explorer computes: with more, each of its tiny parallel
#   regions can wait milliseconds for a worker thread on a busy machine (see `torch_threads`)
PICTURES_KEPT = 64  # PNGs of ~20-90 kB: a few MB at most
DRAW_AHEAD_AFTER_S = 0.1  # idle time of the kernel before the next picture is drawn ahead
DRAW_AHEAD_AFTER_FIRST_S = 1.0  # ... after the first picture: the browser is building the view
BURST_GAP_S = 0.15  # changes closer together than this are a burst (a drag, a held key)
COALESCE_S = 0.07  # in a burst, a picture to draw waits this long for a newer change:
#   longer than the gaps between the presses of a held key (30-65 ms measured)

# (d_model, num_heads, weights) -> (model, token accuracy, note); shared by every explorer
_MODELS: dict[tuple[int, int, str], tuple[OffsetRecallModel, float, str]] = {}


def load_model(d_model: int, num_heads: int, weights: str) -> tuple[OffsetRecallModel, float, str]:
    """(model in eval mode, its token accuracy, a note), cached per configuration.

    weights="trained" loads the shipped model (falling back to random weights, with a note, when
    none is shipped); weights="random" is the same architecture freshly initialised (seed 0).
    """
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {WEIGHTS}, got {weights!r}.")
    key = (d_model, num_heads, weights)
    if key not in _MODELS:
        model, note = None, ""
        if weights == "trained":
            try:
                model, scores = load_pretrained(d_model, num_heads)
                accuracy = scores["token_accuracy"]
            except FileNotFoundError:
                note = "no trained weights shipped for this size: showing random weights"
        if model is None:
            model = build_model(d_model, num_heads, seed=0)
            accuracy = evaluate(model, n=256)["token_accuracy"]
        model.eval().requires_grad_(False)
        _MODELS[key] = (model, accuracy, note)
    return _MODELS[key]


def head_stats(d_model: int, num_heads: int, seq_len: int) -> dict[str, int]:
    """Counts for one attention layer on one sequence of seq_len tokens (with bias).

    params:       4 d^2 + 4 d         (q, k, v, out projections; independent of H)
    head_dim:     d / H
    proj_flops:   4 * 2 T d^2         (four (T, d) x (d, d) matmuls)
    score_flops:  2 * 2 T^2 d         (q k^T and weights @ v, summed over heads; independent of H)
    score_entries: H T^2             (size of the weights tensor; grows with H)
    """
    d, h, t = d_model, num_heads, seq_len
    return {
        "params": 4 * d * d + 4 * d,
        "head_dim": d // h,
        "proj_flops": 8 * t * d * d,
        "score_flops": 4 * t * t * d,
        "score_entries": h * t * t,
    }


@dataclass(frozen=True)
class ExplorerState:
    """The controls' values: the picture and the numbers line depend on these alone."""

    d_model: int
    num_heads: int
    sequence: str  # a key of SEQUENCES
    causal: bool
    weights: str  # one of WEIGHTS

    @property
    def text(self) -> str:
        return SEQUENCES[self.sequence]


def attention_of(state: ExplorerState) -> tuple[OffsetRecallModel, float, str, torch.Tensor]:
    """(model, its token accuracy, a note, its attention weights (H, T, T) on the sequence)."""
    model, accuracy, note = load_model(state.d_model, state.num_heads, state.weights)
    with torch_threads(THREADS), torch.no_grad():
        weights = model.attention_weights(encode(state.text), causal=state.causal)  # (1, H, T, T)
    return model, accuracy, note, weights[0]


def picture_of(state: ExplorerState, attention: torch.Tensor) -> bytes:
    """The picture for `state` as PNG bytes: attention (H, T, T) drawn by
    `viz.attention_heads_png`, one map per head, each titled with the offset it looks at most."""
    labels = list(state.text)
    name = "head " if state.num_heads <= 16 else ""  # short titles keep many heads fast to draw
    head_titles = [
        f"{name}{i}: t{-o:+d}" if o else f"{name}{i}: t"
        for i, o in enumerate(argmax_offsets(attention))
    ]
    h, d = state.num_heads, state.d_model
    title = (
        f"{h} head{'s' if h > 1 else ''} of dimension {d // h}, "
        f"{state.weights} weights, {'causal' if state.causal else 'no mask'}"
    )
    return viz.attention_heads_png(attention, labels, labels, head_titles=head_titles, title=title)


class HeadExplorer(widgets.VBox):
    """Controls: .d_model, .num_heads, .sequence, .causal, .weights.
    View: .heads_image (PNG, one map per head) and .stats (HTML line).
    State: .attention, the (H, T, T) weights drawn; .model, the model they came from.
    Pictures: .pictures, the PNGs by state; .pictures_drawn (.pictures_drawn_ahead of them
    while the kernel was idle); .last_picture, where the shown one came from: "drawn" now,
    "kept" from before or "drawn ahead"; .renders, the updates shown so far; .update_ms, the
    kernel's time for the last one.

    A change renders at once, except inside hold_render() (once, at its end) and in a burst:
    a change within BURST_GAP_S of the one before whose picture must be drawn is put off for
    COALESCE_S, and a newer change replaces it. draw_ahead=True: when the kernel has been idle
    for DRAW_AHEAD_AFTER_S (DRAW_AHEAD_AFTER_FIRST_S after the first picture), draw the
    pictures of the neighbouring head counts for the same settings (see states_ahead), one per
    idle slot, so that a step of the slider finds its picture ready; a change that comes
    during a slot waits for that one picture. Both need a running event loop (a Jupyter kernel
    has one): without one, every change renders at once and nothing is drawn ahead.
    """

    _timer: asyncio.TimerHandle | None = None  # what runs when idle; also for close() early

    def __init__(
        self,
        d_model: int = 64,
        num_heads: int = 4,
        sequence: str = "alphabet: a b c d …",
        causal: bool = True,
        weights: str = "trained",
        draw_ahead: bool = True,
    ):
        if d_model not in D_MODELS:
            raise ValueError(f"d_model must be one of {D_MODELS}, got {d_model!r}.")
        if num_heads not in divisors(d_model):
            raise ValueError(
                f"num_heads={num_heads!r} does not divide d_model={d_model}; "
                f"pick one of {divisors(d_model)}."
            )
        if sequence not in SEQUENCES:
            raise ValueError(f"sequence must be one of {list(SEQUENCES)}, got {sequence!r}.")
        if weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {WEIGHTS}, got {weights!r}.")

        style = {"description_width": "initial"}
        self.d_model = widgets.Dropdown(
            options=list(D_MODELS),
            value=d_model,
            description="d_model",
            tooltip="Model width: the features each token carries, split evenly across the heads",
            style=style,
        )
        self.num_heads = widgets.SelectionSlider(
            options=divisors(d_model),
            value=num_heads,
            description="heads",
            tooltip="Number of attention heads; only divisors of d_model split it evenly",
            continuous_update=False,  # a drag sends one value, when let go: nothing to skip
            style=style,
        )
        self.sequence = widgets.Dropdown(
            options=list(SEQUENCES),
            value=sequence,
            description="input",
            tooltip="The token sequence fed to the model (letters a to p)",
            style=style,
        )
        self.causal = widgets.Checkbox(
            value=causal,
            description="causal mask",
            tooltip="On: each token attends only to itself and earlier tokens (as in training)",
            indent=False,
        )
        self.weights = widgets.ToggleButtons(
            options=list(WEIGHTS),
            value=weights,
            description="weights",
            tooltip="Trained on multi-offset recall, or freshly initialised",
            tooltips=[
                "Trained to output the tokens 1, 2, 3 and 4 back",
                "Random initial weights, before any training",
            ],
            style=style,
        )
        self.heads_image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.stats = widgets.HTML()
        self.attention: torch.Tensor = torch.empty(0)
        self.model: OffsetRecallModel | None = None
        self.pictures: LruCache[ExplorerState, bytes] = LruCache(PICTURES_KEPT)
        self.pictures_drawn = 0
        self.pictures_drawn_ahead = 0
        self.last_picture = ""
        self.update_ms = 0.0
        self.draw_ahead = draw_ahead
        self._png = b""
        self._holds = 0  # open hold_render() blocks
        self._render_pending = False
        self._direction = 1  # +1: the slider last moved to more heads, -1: to fewer
        self._ahead: set[ExplorerState] = set()  # drawn ahead, not shown yet
        self._last_request = float("-inf")  # time.monotonic() of the last change
        self.renders = 0

        super().__init__(
            [
                widgets.HBox([self.d_model, self.num_heads]),
                widgets.HBox([self.sequence, self.causal, self.weights]),
                self.heads_image,
                self.stats,
            ]
        )
        self.d_model.observe(self._on_d_model, names="value")
        self.num_heads.observe(self._on_heads, names="value")
        for control in (self.sequence, self.causal, self.weights):
            control.observe(self._on_change, names="value")
        self.render()
        if self.draw_ahead:  # not while the browser builds the view: both need the CPU
            self._later(DRAW_AHEAD_AFTER_FIRST_S, self._draw_one_ahead)

    @property
    def state(self) -> ExplorerState:
        return ExplorerState(
            self.d_model.value,
            self.num_heads.value,
            self.sequence.value,
            self.causal.value,
            self.weights.value,
        )

    @contextmanager
    def hold_render(self) -> Iterator[None]:
        """Inside the block, changes to the controls only mark the view as out of date; at the
        end it is rendered once, for the values the controls end with."""
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1
            if self._holds == 0 and self._render_pending:
                self.render()

    def request_render(self) -> None:
        """Render for the controls' values: at the end of the open hold_render() block; later,
        for the latest values only, when the change is part of a burst and its picture must be
        drawn (see the class docstring); now otherwise."""
        if self._holds:
            self._render_pending = True
            return
        now = time.monotonic()
        in_burst, self._last_request = now - self._last_request < BURST_GAP_S, now
        must_draw = self.state not in self.pictures
        if in_burst and must_draw and self._later(COALESCE_S, self._render_latest):
            return
        self.render()

    def _on_d_model(self, change) -> None:
        d_model, heads = change["new"], self.num_heads.value
        options = divisors(d_model)
        keep = heads if heads in options else max(h for h in options if h <= heads)
        with self.hold_render():
            self.num_heads.options = options  # resets the value to options[0]
            self.num_heads.value = keep
            self.request_render()  # d_model itself changed, even if the head count did not

    def _on_heads(self, change) -> None:
        if change["old"] is not None and change["new"] is not None:
            self._direction = 1 if change["new"] > change["old"] else -1
        self.request_render()

    def _on_change(self, change) -> None:
        self.request_render()

    def render(self) -> None:
        """Show the picture and the numbers line for the controls' values: the picture first
        (taken from .pictures, or drawn), then the numbers."""
        start = time.perf_counter()
        self._render_pending = False
        self._cancel_timer()
        self.renders += 1
        state = self.state
        model, accuracy, note, attention = attention_of(state)
        self.model, self.attention = model, attention  # (H, T, T)

        png = self.pictures.get(state)
        if png is None:
            png, self.last_picture = self._draw(state, attention), "drawn"
        elif state in self._ahead:
            self.last_picture = "drawn ahead"
        else:
            self.last_picture = "kept"
        self._ahead.discard(state)
        self._png = png
        self.heads_image.value = png  # sent now: the browser draws while the kernel goes on

        with torch_threads(THREADS), torch.no_grad():  # two threads: a stall of ~4 ms each
            x = model.attention_input(encode(state.text))  # (1, T, d_model)
        timing = time_attention(model.attn, x, state.causal)
        self.stats.value = self._stats_html(state, timing, accuracy, note)
        self.update_ms = (time.perf_counter() - start) * 1e3
        self._schedule_draw_ahead()

    def _draw(self, state: ExplorerState, attention: torch.Tensor) -> bytes:
        with torch_threads(THREADS):  # the offsets of the head titles
            png = picture_of(state, attention)
        self.pictures.put(state, png)
        self.pictures_drawn += 1
        return png

    def states_ahead(self) -> list[ExplorerState]:
        """The neighbouring head counts for the current settings, in the order they are drawn
        ahead: the next one the way the slider last moved, then the one on the other side."""
        options = list(self.num_heads.options)
        here = options.index(self.num_heads.value)
        near = [here + self._direction, here - self._direction]
        return [replace(self.state, num_heads=options[i]) for i in near if 0 <= i < len(options)]

    def _later(self, delay_s: float, fn) -> bool:
        """Run fn when the kernel has been idle for delay_s, instead of what was to run then.
        False, and nothing scheduled, without a running event loop."""
        self._cancel_timer()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a script, a test: no event loop
            return False
        self._timer = loop.call_later(delay_s, fn)
        return True

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _render_latest(self) -> None:
        """The render a burst of changes put off: for the controls' values now."""
        self._timer = None
        try:
            self.render()
        except Exception as error:  # no cell shows the traceback of a render put off
            text = html.escape(f"{type(error).__name__}: {error}")
            self.stats.value = f"<b>could not update the picture</b>: {text}"
            raise

    def _schedule_draw_ahead(self) -> None:
        if self.draw_ahead:
            self._later(DRAW_AHEAD_AFTER_S, self._draw_one_ahead)

    def _draw_one_ahead(self) -> None:
        """Draw the first picture of states_ahead() not drawn yet; then wait for idle again."""
        self._timer = None
        state = next((s for s in self.states_ahead() if s not in self.pictures), None)
        if state is None or not self.draw_ahead:
            return
        self._draw(state, attention_of(state)[3])
        self.pictures_drawn_ahead += 1
        self._ahead.add(state)
        self._schedule_draw_ahead()  # one picture per idle slot: a slider change waits <= one

    def _stats_html(
        self, state: ExplorerState, timing: LayerTiming, accuracy: float, note: str
    ) -> str:
        d, h, seq_len = state.d_model, state.num_heads, len(state.text)
        s = head_stats(d, h, seq_len)
        threads = f"{timing.threads} thread{'s' if timing.threads > 1 else ''}"
        parts = [
            f"<b>{h}</b> head{'s' if h > 1 else ''} × head dim <b>{s['head_dim']}</b>",
            f"parameters 4d²+4d = <b>{s['params']:,}</b> (same for any head count)",
            f"FLOPs for T={seq_len}: projections 8Td² = {s['proj_flops']:,}, "
            f"scores and weighted sum 4T²d = {s['score_flops']:,} (same for any head count)",
            f"weights tensor H·T² = {s['score_entries']:,} entries",
            f"attention forward <b>{timing.ms:.2f} ms</b> (median of {timing.runs}, batch "
            f"{timing.batch}, CPU, {threads}; measured when this shape was first shown)",
            f"{state.weights} model: {accuracy:.0%} token accuracy",
        ]
        if note:
            parts.append(f"<i>{html.escape(note)}</i>")
        return " · ".join(parts)

    def close(self) -> None:
        """Close the widget (not its controls) and stop drawing ahead."""
        self.draw_ahead = False
        self._cancel_timer()
        super().close()

    def __repr__(self) -> str:
        return (
            f"HeadExplorer(d_model={self.d_model.value}, num_heads={self.num_heads.value}, "
            f"sequence={self.sequence.value!r}, causal={self.causal.value}, "
            f"weights={self.weights.value!r})"
        )

    def _repr_mimebundle_(self, **kwargs):
        """The live widget where a kernel runs, plus a static PNG for nbconvert and GitHub."""
        data = super()._repr_mimebundle_(**kwargs) or {}
        data["image/png"] = base64.b64encode(self._png).decode("ascii")
        data["text/plain"] = repr(self)
        return data
