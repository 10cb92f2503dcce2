"""gpu_speed: heads looped and batched agree and are timed; SDPA's backends are found and measured;
torch.compile is timed or its failure reported."""

import json

import torch

from attn_course.experiments.gpu_speed import (
    available_backends,
    backend_cost,
    compile_timing,
    heads_timing,
)
from attn_course.reference import heads_batched, heads_loop
from attn_course.viz import plot_flash_cost, plot_heads_timing


def test_the_loop_and_the_batched_heads_agree():
    x = torch.randn(2, 7, 12, dtype=torch.float64)
    w = [torch.randn(3, 12, 5, dtype=torch.float64) for _ in range(3)]
    torch.testing.assert_close(heads_batched(x, *w), heads_loop(x, *w))
    assert heads_batched(x, *w).shape == (2, 3, 7, 5)


def test_heads_timing_times_both_per_head_count():
    timing = heads_timing((1, 4), batch=2, seq_len=16, d_model=32, min_run_time=0.01,
                          progress=False)
    json.dumps(timing)
    assert len(timing["loop_ms"]) == len(timing["batched_ms"]) == 2
    assert all(t > 0 for t in timing["loop_ms"] + timing["batched_ms"])
    fig = plot_heads_timing(timing, pyplot=False)
    assert fig.axes[0].get_title() and len(fig.axes[0].get_lines()) == 2


def test_on_a_cpu_the_math_and_flash_backends_run_and_math_holds_the_scores():
    assert {"math", "flash"} <= set(available_backends("cpu"))
    cost = backend_cost((128, 256), heads=2, head_dim=16, min_run_time=0.01, progress=False)
    assert {"sdpa:math", "sdpa:flash"} <= set(cost["memory_mib"])
    math_mib = cost["memory_mib"]["sdpa:math"]
    assert math_mib[-1] >= cost["scores_mib"][-1]  # the (H, T, T) scores, at least once
    assert cost["memory_mib"]["sdpa:flash"][-1] < cost["scores_mib"][-1]
    labels = [t.get_text() for t in plot_flash_cost(cost, pyplot=False).axes[0].get_legend()
              .get_texts()]
    assert "SDPA, math backend" in labels and "SDPA, flash backend" in labels


def test_compile_timing_reports_a_time_or_an_error():
    result = compile_timing(heads=1, seq_len=32, head_dim=8, min_run_time=0.01)
    json.dumps(result)
    assert "error" in result or (result["compiled_ms"] > 0 and result["max_error"] < 1e-4)
