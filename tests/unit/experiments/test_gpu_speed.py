"""gpu_speed: heads looped and batched agree and are timed; SDPA's backends are found and measured;
torch.compile is timed or its failure reported; a Triton kernel is timed against SDPA in TFLOP/s."""

import json

import pytest
import torch

from attn_course.experiments.gpu_speed import (
    attention_flops,
    available_backends,
    backend_cost,
    compile_timing,
    heads_timing,
    kernel_speed,
)
from attn_course.reference import heads_batched, heads_loop
from attn_course.reference.flash_triton import reference_kernel, triton_available
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


def test_attention_flops_count_two_products_and_halve_under_the_causal_mask():
    assert attention_flops(1, 1, 4, 4, 2, causal=False) == 2 * (2 * 4 * 4 * 2)
    assert attention_flops(2, 3, 8, 8, 4, causal=True) == attention_flops(2, 3, 8, 8, 4,
                                                                          causal=False) / 2


@pytest.mark.skipif(not triton_available()[0], reason=triton_available()[1])
def test_kernel_speed_times_a_kernel_against_sdpa_and_derives_the_rates():
    q, k, v = (torch.randn(1, 1, 32, 16) for _ in range(3))  # in the interpreter: tiny
    speed = kernel_speed(reference_kernel(), q, k, v, causal=True, block=16,
                         min_run_time=0.01)
    flops = attention_flops(1, 1, 32, 32, 16, causal=True)
    assert speed["shape"] == [1, 1, 32, 16] and speed["block_n"] == 16
    assert speed["triton_tflops"] == pytest.approx(flops / speed["triton_ms"] / 1e9)
    assert speed["ratio"] == pytest.approx(speed["sdpa_flash_ms"] / speed["triton_ms"])
