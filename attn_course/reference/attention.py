"""Reference scaled dot-product attention and its masks.

Shapes: q (..., T_q, d_k), k (..., T_k, d_k), v (..., T_k, d_v);
mask bool, broadcastable to (..., T_q, T_k), True = "may attend".

    softmax(x, dim=-1)                       numerically stable softmax
    scaled_dot_product_attention(q, k, v, mask=None)
                                             -> out (..., T_q, d_v), weights (..., T_q, T_k)
    causal_mask(T)                           bool (T, T), True where key j <= query i
    padding_mask(lengths, T)                 bool (B, T), True at real (non-padding) positions
    key_padding_mask(lengths, T_k, ndim=3)   bool (B, 1, T_k) or (B, 1, 1, T_k) for attention
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from attn_course.reference.arguments import positive_int

__all__ = [
    "softmax",
    "scaled_dot_product_attention",
    "causal_mask",
    "padding_mask",
    "key_padding_mask",
]


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """exp(x) / sum(exp(x)) along `dim`, computed as exp(x - max) to avoid overflow.

    Rows that are entirely -inf (fully masked) give zeros instead of NaN.
    """
    m = x.amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # all -inf row: avoid inf - inf
    e = torch.exp(x - m)
    s = e.sum(dim=dim, keepdim=True)
    return e / torch.where(s > 0, s, torch.ones_like(s))


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(d_k)) v.

    q (..., T_q, d_k), k (..., T_k, d_k), v (..., T_k, d_v), mask bool broadcastable
    to (..., T_q, T_k) with True = may attend.
    Returns out (..., T_q, d_v) and weights (..., T_q, T_k). A query whose keys are all
    masked gets zero weights and a zero output (as PyTorch's own attention does).
    """
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., T_q, T_k)
    if mask is not None:
        if mask.dtype != torch.bool:
            raise TypeError(
                f"mask must be a bool tensor (True = may attend), got dtype {mask.dtype}; "
                "convert it with mask.bool() or build it with dtype=torch.bool"
            )
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = softmax(scores, dim=-1)
    return weights @ v, weights


def causal_mask(T: int, *, device: str | torch.device | None = None) -> torch.Tensor:
    """bool (T, T): True where key j <= query i (lower triangle, diagonal included)."""
    positive_int("T", T, "sequence length")
    return torch.tril(torch.ones(T, T, dtype=torch.bool, device=device))


def padding_mask(
    lengths: Sequence[int] | torch.Tensor, T: int, *, device: str | torch.device | None = None
) -> torch.Tensor:
    """bool (B, T): True at positions t < lengths[b] (real tokens), False at padding."""
    lengths = torch.as_tensor(lengths, device=device)
    if lengths.ndim != 1 or lengths.dtype.is_floating_point:
        raise ValueError(f"lengths must be a 1-D sequence of ints (one per batch item), got "
                         f"shape {tuple(lengths.shape)} and dtype {lengths.dtype}")
    if bool(((lengths < 0) | (lengths > T)).any()):
        raise ValueError(f"every length must lie in [0, T={T}], got {lengths.tolist()}")
    return torch.arange(T, device=lengths.device) < lengths[:, None]


def key_padding_mask(
    lengths: Sequence[int] | torch.Tensor,
    T_k: int,
    *,
    ndim: int = 3,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Key-padding mask shaped to broadcast against attention scores.

    ndim=3: (B, 1, T_k) for scores (B, T_q, T_k); ndim=4: (B, 1, 1, T_k) for (B, H, T_q, T_k).
    """
    if ndim not in (3, 4):
        raise ValueError(f"ndim must be 3 (B, T_q, T_k) or 4 (B, H, T_q, T_k), got {ndim!r}")
    m = padding_mask(lengths, T_k, device=device)  # (B, T_k)
    return m[:, None, :] if ndim == 3 else m[:, None, None, :]
