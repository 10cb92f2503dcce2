"""A key/value cache: generate one token at a time without recomputing the past.

When a causal model generates, position t's keys and values never change once computed, so a
decoder keeps them and, for each new token, computes only that token's query, key and value:

    out, k_cache, v_cache = attend_with_cache(mha, x_new, k_cache, v_cache)
        x_new (B, 1, D): the newest position's input; k_cache, v_cache (B, H, t, d) or None
        -> out (B, 1, D), and the caches with the new position appended, (B, H, t + 1, d)

`out` equals the last row of `mha(x, causal_mask(t + 1))` over the whole sequence.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from attn_course.reference.mha import merge_heads, split_heads

__all__ = ["attend_with_cache"]


def attend_with_cache(mha: nn.Module, x_new: torch.Tensor, k_cache: torch.Tensor | None,
                      v_cache: torch.Tensor | None
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One decoding step of `mha` (q_proj, k_proj, v_proj, out_proj, num_heads)."""
    H = mha.num_heads
    q = split_heads(mha.q_proj(x_new), H)  # (B, H, 1, d)
    k = split_heads(mha.k_proj(x_new), H)  # (B, H, 1, d)
    v = split_heads(mha.v_proj(x_new), H)  # (B, H, 1, d)
    if k_cache is not None:
        k = torch.cat([k_cache, k], dim=2)  # (B, H, t + 1, d)
        v = torch.cat([v_cache, v], dim=2)  # (B, H, t + 1, d)
    y = F.scaled_dot_product_attention(q, k, v)  # no mask: the newest query sees every key
    return mha.out_proj(merge_heads(y)), k, v  # (B, 1, D), (B, H, t + 1, d) twice
