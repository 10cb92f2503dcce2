"""The measured time of the explorer's numbers line: a median, measured once per layer shape."""

import pytest
import torch

from attn_course.reference.mha import MultiHeadSelfAttention
from attn_course.widgets import layer_timing
from attn_course.widgets.layer_timing import BATCH, LayerTiming, median_ms, time_attention


@pytest.fixture(autouse=True)
def fresh_timings():
    layer_timing.forget_timings()
    yield
    layer_timing.forget_timings()


def test_median_ms_warms_up_then_times_within_the_budget():
    calls = []
    ms, runs = median_ms(lambda: calls.append(1), repeats=4, budget_s=10.0)
    assert runs == 4 and len(calls) == 5  # one warm-up run, then the timed ones
    assert ms >= 0.0
    ms, runs = median_ms(lambda: torch.ones(1).add_(1), repeats=50, budget_s=0.0)
    assert runs == 1, "a spent budget still times one run"


def test_each_shape_is_measured_once(monkeypatch):
    measured = []

    def fake_median(fn, repeats=5, budget_s=0.05):
        fn()
        measured.append(1)
        return 1.5, 3

    monkeypatch.setattr(layer_timing, "median_ms", fake_median)
    layer = MultiHeadSelfAttention(8, 2).eval()
    x = torch.randn(1, 5, 8)  # (1, T, d_model)
    first = time_attention(layer, x, causal=True)
    assert first == LayerTiming(1.5, 3) and first.batch == BATCH
    other_weights = MultiHeadSelfAttention(8, 2).eval()  # same shape: same time, not measured
    assert time_attention(other_weights, x, causal=True) is first
    time_attention(layer, x, causal=False)  # another mask
    time_attention(MultiHeadSelfAttention(8, 4).eval(), x, causal=True)  # another head count
    time_attention(layer, torch.randn(1, 7, 8), causal=True)  # another T
    assert len(measured) == 4


def test_times_a_real_forward_pass_and_leaves_the_thread_count_alone():
    before = torch.get_num_threads()
    timing = time_attention(MultiHeadSelfAttention(16, 4).eval(), torch.randn(1, 6, 16), True)
    assert timing.ms > 0 and 1 <= timing.runs <= layer_timing.REPEATS
    assert torch.get_num_threads() == before
