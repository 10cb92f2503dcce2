"""Comparing results without trusting them: plain tensors, and "do these two results agree?".

    plain_tensor(t)                 -> the same data as a plain torch.Tensor (no subclass hooks)
    same_result(got, expected, ...) -> bool: same structure, shapes, dtypes; values close
"""

from __future__ import annotations

from typing import Any

import torch

from attn_course.device import tolerances

__all__ = ["plain_tensor", "same_result"]


def plain_tensor(t: torch.Tensor) -> torch.Tensor:
    """The same tensor as a plain torch.Tensor: a subclass's overrides (__eq__,
    __torch_function__) no longer apply. Autograd history is kept."""
    with torch._C.DisableTorchFunctionSubclass():
        return torch.Tensor.as_subclass(t, torch.Tensor)


def same_result(got: Any, expected: Any, tolerance: tuple[float, float] | None = None) -> bool:
    """Whether `got` agrees with `expected`: the same structure (tensors, tuples/lists of them),
    shapes and dtypes; float values within `tolerance` (atol, rtol), by default the tolerance
    of `expected`'s dtype and device; other dtypes exactly.

    An `expected` that is neither a tensor nor a tuple/list is not compared (True): whatever
    produced it is judged elsewhere. `got`'s own methods are never called.
    """
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return False
        a, b = plain_tensor(got).detach(), plain_tensor(expected).detach()
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if not b.dtype.is_floating_point:
            return bool(torch.equal(a.to(b.device), b))
        atol, rtol = tolerance if tolerance is not None else tolerances(b.dtype, b.device)
        return bool(torch.allclose(a.to(b.device, torch.float64), b.to(torch.float64),
                                   atol=atol, rtol=rtol, equal_nan=True))
    if isinstance(expected, tuple | list):
        return (isinstance(got, tuple | list) and len(got) == len(expected)
                and all(same_result(g, e, tolerance) for g, e in zip(got, expected, strict=True)))
    return True
