"""Where a head looks: its mean attention weight per offset, the numbers behind a head's role.

    profile = offset_profile(weights, max_offset=4)   # weights (B, H, T, T) -> (H, 6)

Column k (0 <= k <= max_offset) is the weight a query at t puts on the key at t - k; the last
column is the rest of the row (t - max_offset - 1 and before). Each is averaged over the batch
and over the queries t >= max_offset, the ones that have every offset, so each row sums to 1.
A previous-token head has most of its weight in column 1.
"""

from __future__ import annotations

import torch

__all__ = ["offset_profile"]


def offset_profile(weights: torch.Tensor, max_offset: int = 4) -> torch.Tensor:
    """(B, H, T, T) attention weights -> (H, max_offset + 2), see the module's docstring."""
    if weights.dim() != 4 or weights.shape[-1] != weights.shape[-2]:
        raise ValueError(f"weights must be (B, H, T, T); got shape {tuple(weights.shape)}.")
    T = weights.shape[-1]
    if not 0 <= max_offset < T:
        raise ValueError(f"max_offset must be in 0 .. T - 1 = {T - 1}; got {max_offset}.")
    K = max_offset
    near = []
    for k in range(K + 1):
        diag = torch.diagonal(weights, offset=-k, dim1=-2, dim2=-1)  # (B, H, T - k): w[t, t - k]
        near.append(diag[..., K - k :].mean(dim=(0, 2)))  # queries t >= K: (H,)
    near = torch.stack(near, dim=-1)  # (H, K + 1)
    row = weights[..., K:, :].sum(-1).mean(dim=(0, 2))  # (H,): each row's total, 1 for softmax
    return torch.cat([near, (row - near.sum(-1)).unsqueeze(-1)], dim=-1)  # (H, K + 2)
