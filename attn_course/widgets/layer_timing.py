"""Measured time of an attention layer, as the explorer's numbers line shows it.

    timing = time_attention(model.attn, x, causal=True)   # x (1, T, d_model)
    timing.ms, timing.runs                                 # median of `runs` forward passes

The layer runs on a batch of BATCH copies of x, on the CPU with THREADS torch threads, without
returning its weights (the fast path). The time depends on the layer's shape (d_model, heads),
T and the mask, not on the values of its weights, so each shape is measured once per kernel, the
first time it is shown, and reused after that: a head-count change then costs no timing runs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from attn_course.device import torch_threads
from attn_course.reference.attention import causal_mask
from attn_course.reference.mha import MultiHeadSelfAttention

BATCH = 64  # sequences per timed forward pass
REPEATS = 5  # timed runs at most, after one warm-up run
BUDGET_S = 0.05  # stop timing once this much is spent: a busy CPU keeps the view responsive
THREADS = 1  # torch threads while timing (see `torch_threads`)


@dataclass(frozen=True)
class LayerTiming:
    ms: float  # median wall time of one forward pass of the batch
    runs: int  # timed runs the median is over
    batch: int = BATCH
    threads: int = THREADS


# (d_model, num_heads, T, causal) -> its timing, measured the first time that shape is shown
_TIMINGS: dict[tuple[int, int, int, bool], LayerTiming] = {}


def median_ms(
    fn: Callable[[], object], repeats: int = REPEATS, budget_s: float = BUDGET_S
) -> tuple[float, int]:
    """(median wall time of fn() in ms, runs timed): one warm-up run, then up to `repeats` runs,
    at least one, stopping early once `budget_s` seconds are spent.
    """
    fn()
    times: list[float] = []
    while len(times) < repeats and (not times or sum(times) < budget_s):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3, len(times)


def time_attention(layer: MultiHeadSelfAttention, x: torch.Tensor, causal: bool) -> LayerTiming:
    """The layer's forward time on BATCH copies of x (1, T, d_model); measured once per shape."""
    T = x.shape[1]
    key = (layer.d_model, layer.num_heads, T, causal)
    if key not in _TIMINGS:
        batch = x.expand(BATCH, -1, -1).contiguous()  # (BATCH, T, d_model)
        mask = causal_mask(T) if causal else None  # (T, T)
        with torch_threads(THREADS), torch.no_grad():
            ms, runs = median_ms(lambda: layer(batch, mask=mask))
        _TIMINGS[key] = LayerTiming(ms, runs)
    return _TIMINGS[key]


def forget_timings() -> None:
    """Measure every shape again the next time it is shown."""
    _TIMINGS.clear()
