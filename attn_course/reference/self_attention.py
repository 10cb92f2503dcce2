"""Single-head self-attention: queries, keys and values are projections of the same sequence.

    >>> attn = SelfAttention(d_model=16, d_k=8)          # d_v defaults to d_k
    >>> x = torch.randn(2, 10, 16)                      # (B, T, d_model)
    >>> out, weights = attn(x, mask=causal_mask(10))    # (2, 10, 8), (2, 10, 10)

Masks are boolean, broadcastable to (B, T, T), True = "may attend".
"""

from __future__ import annotations

import torch
import torch.nn as nn

from attn_course.formatting import shape_text
from attn_course.reference.arguments import positive_int
from attn_course.reference.attention import scaled_dot_product_attention

__all__ = ["SelfAttention"]


class SelfAttention(nn.Module):
    """softmax(q kᵀ / √d_k) v with q, k, v = q_proj(x), k_proj(x), v_proj(x).

    q_proj, k_proj: nn.Linear(d_model, d_k); v_proj: nn.Linear(d_model, d_v or d_k).
    forward(x (B, T, d_model), mask=None) -> out (B, T, d_v), weights (B, T, T).
    """

    def __init__(self, d_model: int, d_k: int, d_v: int | None = None, bias: bool = False):
        super().__init__()
        d_v = d_k if d_v is None else d_v
        for name, value in (("d_model", d_model), ("d_k", d_k), ("d_v", d_v)):
            positive_int(name, value)
        self.d_model, self.d_k, self.d_v = d_model, d_k, d_v
        self.q_proj = nn.Linear(d_model, d_k, bias=bias)
        self.k_proj = nn.Linear(d_model, d_k, bias=bias)
        self.v_proj = nn.Linear(d_model, d_v, bias=bias)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, d_k={self.d_k}, d_v={self.d_v}"

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.d_model:
            got = shape_text(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must have shape (B, T, d_model={self.d_model}), got {got}.")
        q = self.q_proj(x)  # (B, T, d_k)
        k = self.k_proj(x)  # (B, T, d_k)
        v = self.v_proj(x)  # (B, T, d_v)
        return scaled_dot_product_attention(q, k, v, mask)  # (B, T, d_v), (B, T, T)
