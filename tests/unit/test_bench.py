"""attn_course.bench: medians with torch.utils.benchmark, and the peak memory of one call."""

import pytest
import torch

from attn_course.bench import median_ms, peak_memory_mib


def test_median_ms_times_a_call():
    fast = median_ms(lambda: torch.ones(10).sum(), min_run_time=0.02)
    slow = median_ms(lambda: torch.ones(2_000_000).cumsum(0), min_run_time=0.02)
    assert 0 < fast < slow


def test_peak_memory_counts_what_one_call_allocates():
    mib = peak_memory_mib(lambda: torch.ones(32, 2**20).sum())  # a transient 128 MiB
    assert 120 < mib < 160, mib
    small = peak_memory_mib(lambda: torch.ones(1000).sum())
    assert small < 16, small


def test_peak_memory_on_an_unknown_device_says_so():
    with pytest.raises(RuntimeError, match="not measured"):
        peak_memory_mib(lambda: None, "meta")


def test_allocations_count_live_tensors_not_views():
    x = torch.randn(256, 256, dtype=torch.float64)  # 0.5 MiB
    mib = 2**20
    assert peak_memory_mib(lambda: (x @ x).softmax(-1) @ x) == pytest.approx(1.0)  # two alive
    assert peak_memory_mib(lambda: x.t()[:10].unsqueeze(0)) == 0  # views of the input
    assert peak_memory_mib(lambda: x.t().contiguous()) * mib == x.nbytes
