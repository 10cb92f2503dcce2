"""What a tiled attention does inside, seen from outside: how many matrix products it runs.

    products = count_matmuls(flash_attention, q, k, v, True, 256)   # causal: about half

Self-study only: a check judges outputs, never how they were computed. Every torch matrix
product during the call counts (`@`, torch.matmul, bmm, einsum): a tiled attention runs two per
tile it visits (q k^T, then p v), so for N queries and keys in tiles of b it runs 2 (N/b)^2
without a causal mask and about half that with one, when it skips the tiles after the diagonal.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.overrides import TorchFunctionMode

__all__ = ["count_matmuls"]

PRODUCTS = {torch.matmul, torch.bmm, torch.einsum, torch.Tensor.matmul, torch.Tensor.__matmul__,
            torch.Tensor.bmm, torch.Tensor.__rmatmul__}


class _Count(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.products = 0
        self.depth = 0  # `a @ b` calls torch.matmul inside: count the outer call only

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func not in PRODUCTS:
            return func(*args, **(kwargs or {}))
        self.products += self.depth == 0
        self.depth += 1
        try:
            return func(*args, **(kwargs or {}))
        finally:
            self.depth -= 1


def count_matmuls(fn: Callable, *args, **kwargs) -> int:
    """How many matrix products fn(*args, **kwargs) runs."""
    with _Count() as count:
        fn(*args, **kwargs)
    return count.products
