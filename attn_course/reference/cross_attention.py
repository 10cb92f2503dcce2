"""Cross-attention: the queries come from one sequence, the keys and values from another.

    x (..., T_q, d_model)       the sequence that asks (a decoder's tokens)
    memory (..., T_k, d_model)  the sequence it reads (an encoder's outputs)
    w_q, w_k (d_model, d_k), w_v (d_model, d_v)

    q = x @ w_q,  k = memory @ w_k,  v = memory @ w_v
    out, weights = scaled_dot_product_attention(q, k, v)    (..., T_q, d_v), (..., T_q, T_k)

The attention itself is unchanged; T_q and T_k may differ.
"""

from __future__ import annotations

import torch

from attn_course.reference.attention import scaled_dot_product_attention

__all__ = ["cross_attention"]


def cross_attention(
    x: torch.Tensor,
    memory: torch.Tensor,
    w_q: torch.Tensor,
    w_k: torch.Tensor,
    w_v: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Queries from x (..., T_q, d_model), keys and values from memory (..., T_k, d_model).

    Returns out (..., T_q, d_v) and weights (..., T_q, T_k); mask as for
    scaled_dot_product_attention (bool, True = may attend), e.g. the memory's key padding.
    """
    return scaled_dot_product_attention(x @ w_q, memory @ w_k, memory @ w_v, mask)
