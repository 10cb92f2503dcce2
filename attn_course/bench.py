"""Timing and memory measurements for the notebooks and benchmarks/.

    ms = median_ms(lambda: layer(x))                 # torch.utils.benchmark, all torch threads
    mib = peak_memory_mib(lambda: layer(x), device)  # extra peak memory of one call, in MiB

`median_ms` uses torch.utils.benchmark.Timer, which warms up, synchronises CUDA and picks the
number of runs; its own default is ONE thread, so the thread count is passed explicitly (the
current torch setting unless `threads` says otherwise). `peak_memory_mib` reads the CUDA
allocator's peak on a GPU and, on a CPU, adds up the tensors torch operations create while they
are alive (the process's resident memory would hide them: freed memory is reused).
"""

from __future__ import annotations

import gc
import logging
import weakref
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

__all__ = ["TensorAllocations", "median_ms", "peak_memory_mib"]


def median_ms(
    fn: Callable[[], object], *, threads: int | None = None, min_run_time: float = 0.2
) -> float:
    """Median time of fn() in ms over at least `min_run_time` seconds of runs."""
    threads = torch.get_num_threads() if threads is None else threads
    timer = _timer_class()(stmt="fn()", globals={"fn": fn}, num_threads=threads)
    return timer.blocked_autorange(min_run_time=min_run_time).median * 1e3


def _timer_class():
    """torch.utils.benchmark.Timer, imported on first use. Its import loads
    torch.utils.cpp_extension, which logs a warning on a machine with PyTorch's CUDA build and no
    GPU ("No CUDA runtime is found"); that says nothing about timing, so it is not shown."""
    logger = logging.getLogger("torch.utils.cpp_extension")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        from torch.utils.benchmark import Timer
    finally:
        logger.setLevel(level)
    return Timer


def peak_memory_mib(fn: Callable[[], object], device: str | torch.device = "cpu") -> float:
    """Memory fn() allocates beyond what exists before it, at its peak, in MiB.

    CUDA: torch.cuda.max_memory_allocated above what was allocated before the call. CPU: the
    bytes of the tensors that torch operations create during the call, counted while they are
    alive (`TensorAllocations`): exact for code made of torch operations, like attention written
    in PyTorch; scratch memory a fused kernel uses inside itself is not seen.
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
    with TensorAllocations() as allocations:
        result = fn()
        del result
    return allocations.peak / 2**20


class TensorAllocations(TorchDispatchMode):
    """Counts the bytes of the tensors torch operations create while the mode is on: `live`
    now, `peak` at most. A tensor counts from the operation that makes it until it is freed; an
    output that shares an input's memory (a view) is not counted again."""

    def __init__(self):
        super().__init__()
        self.live = 0
        self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {
            t.untyped_storage().data_ptr()
            for t in tree_flatten((args, kwargs))[0]
            if isinstance(t, torch.Tensor)
        }
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in inputs:
                nbytes = t.untyped_storage().nbytes()
                inputs.add(t.untyped_storage().data_ptr())
                self.live += nbytes
                self.peak = max(self.peak, self.live)
                weakref.finalize(t, self._free, nbytes)
        return out

    def _free(self, nbytes: int) -> None:
        self.live -= nbytes
