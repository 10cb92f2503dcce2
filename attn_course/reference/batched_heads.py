"""Attention heads computed one at a time in a Python loop, and all at once as a batch.

    out = heads_loop(x, w_q, w_k, w_v)      # x (B, T, D), w_* (H, D, d) -> (B, H, T, d)
    out = heads_batched(x, w_q, w_k, w_v)   # the same numbers, no Python loop

Each head h projects x with its own (D, d) matrices and attends on its own. The loop launches the
same small computations H times, one after the other; the batched version puts the heads in a
dimension of their own, so each step (projection, scores, softmax, weighted sum) is one large
operation over every head at once — the shape a GPU is built for.
"""

from __future__ import annotations

import math

import torch

__all__ = ["heads_batched", "heads_loop"]


def heads_loop(x: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor,
               w_v: torch.Tensor) -> torch.Tensor:
    """(B, T, D) and (H, D, d) weights -> (B, H, T, d), one head at a time."""
    outs = []
    for h in range(w_q.shape[0]):
        q, k, v = x @ w_q[h], x @ w_k[h], x @ w_v[h]  # (B, T, d) each
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
        outs.append(weights @ v)  # (B, T, d)
    return torch.stack(outs, dim=1)  # (B, H, T, d)


def heads_batched(x: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor,
                  w_v: torch.Tensor) -> torch.Tensor:
    """(B, T, D) and (H, D, d) weights -> (B, H, T, d), every head in one batched computation."""
    xh = x.unsqueeze(1)  # (B, 1, T, D): broadcast against the heads
    q, k, v = xh @ w_q, xh @ w_k, xh @ w_v  # (B, H, T, d) each
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return weights @ v  # (B, H, T, d)
