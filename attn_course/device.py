"""Devices, seeds and numerical tolerances.

    pick_device()            -> torch.device  (cuda, then mps, then cpu)
    seed_everything(seed)    -> torch.Generator seeded with `seed`
    tolerances(dtype, dev)   -> (atol, rtol) for comparing with a float64 reference
    torch_threads(n)         -> a context in which torch uses n CPU threads
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

__all__ = ["pick_device", "seed_everything", "tolerances", "torch_threads"]

_DEVICE_ORDER = ("cuda", "mps", "cpu")


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        return bool(mps is not None and mps.is_available())
    return kind == "cpu"


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """The best available device: CUDA, then Apple MPS, then CPU.

    `prefer` ("cuda", "mps", "cpu" or a torch.device) is used when it is available;
    otherwise the usual order applies, so notebooks run unchanged on a laptop.
    """
    if prefer is not None:
        wanted = torch.device(prefer)
        if _available(wanted.type):
            return wanted
    for kind in _DEVICE_ORDER:
        if _available(kind):
            return torch.device(kind)
    return torch.device("cpu")  # pragma: no cover - cpu is always available


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's `random`, NumPy and PyTorch (CPU and every CUDA device).

    Returns a fresh CPU `torch.Generator` seeded with `seed`, for code that prefers
    a local generator over the global state.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} ({seed!r})")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


# (atol, rtol) for results compared with a reference computed in float64.
_CPU_TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-9, 1e-7),
    torch.float32: (1e-5, 1e-4),
    torch.float16: (1e-3, 1e-2),
    torch.bfloat16: (1e-2, 2e-2),
}
# Accelerators reorder reductions and may use TF32 matmuls: a bit more slack.
_ACCEL_TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-9, 1e-7),
    torch.float32: (1e-4, 1e-3),
    torch.float16: (2e-3, 2e-2),
    torch.bfloat16: (2e-2, 4e-2),
}


def tolerances(
    dtype: torch.dtype, device: str | torch.device | None = "cpu"
) -> tuple[float, float]:
    """(atol, rtol) for comparing a `dtype` result on `device` with a float64 reference.

    Integer and bool dtypes compare exactly: (0.0, 0.0).
    """
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch.dtype such as torch.float32, got {dtype!r}")
    if not (dtype.is_floating_point or dtype.is_complex):
        return (0.0, 0.0)
    kind = torch.device(device).type if device is not None else "cpu"
    table = _CPU_TOLERANCES if kind == "cpu" else _ACCEL_TOLERANCES
    if dtype.is_complex:
        dtype = torch.float64 if dtype == torch.complex128 else torch.float32
    return table.get(dtype, table[torch.float32])


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch with `n` intra-op CPU threads inside the block, then restore the previous count.

    For tiny tensors (checks, the explorer's forward passes) one thread is fastest: a second
    gains nothing, while on a busy machine each parallel region can stall for tens of
    milliseconds waiting for a descheduled worker thread.
    """
    previous = torch.get_num_threads()
    if previous != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if previous != n:
            torch.set_num_threads(previous)
