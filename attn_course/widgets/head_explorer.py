"""The head-count explorer: how splitting d_model into heads changes what attention can do.

Pick a width, a head count (only divisors of d_model), an input sequence, the causal mask and
trained or random weights; see one attention map per head and a line of numbers: parameters
(the same for every head count), head dimension, FLOPs and measured time.

    >>> from attn_course.widgets import HeadExplorer
    >>> explorer = HeadExplorer()          # display it: last expression of a cell
    >>> explorer.num_heads.value = 8       # what moving the slider does
    >>> explorer.attention.shape           # (H, T, T) weights behind the picture

The models are the multi-offset recall models of `attn_course.experiments.offsets`: trained
heads each look a fixed number of tokens back. The picture is `viz.attention_heads` as a PNG
(matplotlib's Agg backend), so it also shows where no kernel runs (nbconvert, GitHub).
"""

from __future__ import annotations

import base64
import html
import statistics
import time

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
from attn_course.reference.attention import causal_mask
from attn_course.reference.mha import divisors

SEQUENCES: dict[str, str] = {
    "alphabet: a b c d …": "abcdefghijklmnop",
    "random letters": "khbofmapdjlcnegi",
    "repeats: abcd abcd …": "abcdabcdabcdabcd",
    "words: cafe face bead head": "cafefacebeadhead",
    "one letter: a a a a …": "aaaaaaaaaaaaaaaa",
}
WEIGHTS = ("trained", "random")
TIMING_BATCH = 64  # sequences per timed forward pass
TIMING_REPEATS = 5
THREADS = 1  # torch threads while the explorer computes (see `torch_threads`)

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


def median_ms(fn, repeats: int = TIMING_REPEATS, budget_s: float = 0.05) -> tuple[float, int]:
    """(median wall time of fn() in ms, runs timed): one warm-up run, then up to `repeats` runs,
    stopping early once `budget_s` seconds are spent so that a busy CPU keeps the view responsive.
    """
    fn()
    times: list[float] = []
    while len(times) < repeats and sum(times) < budget_s:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3, len(times)


class HeadExplorer(widgets.VBox):
    """Controls: .d_model, .num_heads, .sequence, .causal, .weights.
    View: .heads_image (PNG, one map per head) and .stats (HTML line).
    State: .attention, the (H, T, T) weights drawn; .model, the model they came from.
    """

    def __init__(
        self,
        d_model: int = 64,
        num_heads: int = 4,
        sequence: str = "alphabet: a b c d …",
        causal: bool = True,
        weights: str = "trained",
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
            continuous_update=False,
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
        self._png = b""

        super().__init__(
            [
                widgets.HBox([self.d_model, self.num_heads]),
                widgets.HBox([self.sequence, self.causal, self.weights]),
                self.heads_image,
                self.stats,
            ]
        )
        self.d_model.observe(self._on_d_model, names="value")
        for control in (self.num_heads, self.sequence, self.causal, self.weights):
            control.observe(self._on_change, names="value")
        self.render()

    def _on_d_model(self, change) -> None:
        d_model, heads = change["new"], self.num_heads.value
        options = divisors(d_model)
        keep = heads if heads in options else max(h for h in options if h <= heads)
        self.num_heads.unobserve(self._on_change, names="value")  # render once, below
        try:
            self.num_heads.options = options  # resets the value to options[0]
            self.num_heads.value = keep
        finally:
            self.num_heads.observe(self._on_change, names="value")
        self.render()

    def _on_change(self, change) -> None:
        self.render()

    def render(self) -> None:
        """Recompute the maps, the picture and the stats line for the controls' values."""
        d_model, num_heads = self.d_model.value, self.num_heads.value
        text = SEQUENCES[self.sequence.value]
        tokens = encode(text)  # (1, T)
        causal = self.causal.value
        with torch_threads(THREADS), torch.no_grad():
            model, accuracy, note = load_model(d_model, num_heads, self.weights.value)
            weights = model.attention_weights(tokens, causal=causal)  # (1, H, T, T)
            # time the attention layer alone on a batch, fast path (no weights returned)
            x = model.attention_input(tokens)  # (1, T, d_model)
            batch = x.expand(TIMING_BATCH, -1, -1).contiguous()  # (B, T, d_model)
            mask = causal_mask(len(text)) if causal else None
            ms, runs = median_ms(lambda: model.attn(batch, mask=mask))
        self.model, self.attention = model, weights[0]  # (H, T, T)

        labels = list(text)
        offsets = argmax_offsets(self.attention)
        name = "head " if num_heads <= 16 else ""  # short titles keep many heads fast to draw
        head_titles = [
            f"{name}{i}: t{-o:+d}" if o else f"{name}{i}: t" for i, o in enumerate(offsets)
        ]
        title = (
            f"{num_heads} head{'s' if num_heads > 1 else ''} of dimension {d_model // num_heads}, "
            f"{self.weights.value} weights, {'causal' if causal else 'no mask'}"
        )
        figure = viz.attention_heads(
            self.attention, labels, labels, head_titles=head_titles, title=title, pyplot=False
        )
        self._png = viz.png_bytes(figure)  # no pyplot: nothing keeps the figure alive
        self.heads_image.value = self._png
        self.stats.value = self._stats_html(len(text), ms, runs, accuracy, note)

    def _stats_html(self, seq_len: int, ms: float, runs: int, accuracy: float, note: str) -> str:
        d, h = self.d_model.value, self.num_heads.value
        s = head_stats(d, h, seq_len)
        parts = [
            f"<b>{h}</b> head{'s' if h > 1 else ''} × head dim <b>{s['head_dim']}</b>",
            f"parameters 4d²+4d = <b>{s['params']:,}</b> (same for any head count)",
            f"FLOPs for T={seq_len}: projections 8Td² = {s['proj_flops']:,}, "
            f"scores and weighted sum 4T²d = {s['score_flops']:,} (same for any head count)",
            f"weights tensor H·T² = {s['score_entries']:,} entries",
            f"attention forward <b>{ms:.2f} ms</b> (median of {runs}, batch "
            f"{TIMING_BATCH}, CPU, {THREADS} thread{'s' if THREADS > 1 else ''})",
            f"{self.weights.value} model: {accuracy:.0%} token accuracy",
        ]
        if note:
            parts.append(f"<i>{html.escape(note)}</i>")
        return " · ".join(parts)

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
