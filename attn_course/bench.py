"""Timing and memory measurements for the notebooks and benchmarks/.

    ms = median_ms(lambda: layer(x))                 # torch.utils.benchmark, all torch threads
    mib = peak_memory_mib(lambda: layer(x), device)  # extra peak memory of one call, in MiB

`median_ms` uses torch.utils.benchmark.Timer, which warms up, synchronises CUDA and picks the
number of runs; its own default is ONE thread, so the thread count is passed explicitly (the
current torch setting unless `threads` says otherwise). `peak_memory_mib` reads the CUDA
allocator's peak on a GPU and, on a CPU, the process's peak resident memory (Linux: VmHWM,
reset through /proc/self/clear_refs) above what it held before the call.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.benchmark import Timer

__all__ = ["median_ms", "peak_memory_mib"]


def median_ms(
    fn: Callable[[], object], *, threads: int | None = None, min_run_time: float = 0.2
) -> float:
    """Median time of fn() in ms over at least `min_run_time` seconds of runs."""
    threads = torch.get_num_threads() if threads is None else threads
    timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads)
    return timer.blocked_autorange(min_run_time=min_run_time).median * 1e3


def peak_memory_mib(fn: Callable[[], object], device: str | torch.device = "cpu") -> float:
    """Memory fn() needs beyond what is allocated before it, at its peak, in MiB.

    CUDA: torch.cuda.max_memory_allocated above the memory allocated before the call. CPU: the
    peak resident set size above the one before the call, on Linux; elsewhere a RuntimeError
    says the measurement is not available.
    """
    device = torch.device(device)
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    if device.type != "cpu":
        raise RuntimeError(f"peak memory on {device.type} is not measured; use cpu or cuda.")
    before = _reset_peak_rss()
    result = fn()
    peak = _status_kib("VmHWM")
    del result
    return (peak - before) / 2**10


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak_rss() -> int:
    """Reset the peak RSS to the current RSS; returns that, in KiB (Linux only)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kib("VmRSS")
    except OSError as exc:
        raise RuntimeError(
            "the CPU's peak memory is measured through /proc/self (Linux); it is not available "
            f"here: {exc}"
        ) from exc
