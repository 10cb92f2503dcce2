"""Fewer key/value heads than query heads, heads switched off, and the K/V cache.

    out = grouped_query_attention(q, k, v, causal=True)   # q (B, H, T, d), k, v (B, G, S, d)
    out = mask_heads(heads, xi, w_o, b_o)                  # (B, H, T, d), (H,) -> (B, T, D)
    attn = GroupedQueryAttention(d_model=64, num_heads=8, kv_heads=2)
    y = attn(x, causal=True, head_mask=xi)                 # (B, T, d_model)
    cache = attn.kv_cache(x)                               # {"k", "v"}: (B, G, T, d) each

Grouped-query attention (Ainslie et al. 2023) splits the H query heads into G groups of H / G
consecutive heads; each group shares one key head and one value head. G = H is multi-head
attention, G = 1 multi-query attention (Shazeer 2019). Query head h reads K/V head h // (H / G):
K/V heads are repeated with `repeat_interleave`, as `F.scaled_dot_product_attention(...,
enable_gqa=True)` does. What a decoder keeps per sequence shrinks by H / G:
2 (K and V) x G x d x T values per layer.

`mask_heads` applies Michel et al.'s (2019) head mask: head h's output is multiplied by xi[h]
before the output projection mixes the heads, so xi[h] = 0 removes the head and d loss / d xi[h]
is its importance.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn as nn

from attn_course.reference.arguments import positive_int
from attn_course.reference.mha import divisors, merge_heads, split_heads

__all__ = ["GroupedQueryAttention", "grouped_query_attention", "kv_cache_bytes", "mask_heads"]


def grouped_query_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                            causal: bool = False) -> torch.Tensor:
    """q (B, H, T, d), k and v (B, G, S, d) with G dividing H -> (B, H, T, d).

    Query head h attends with K/V head h // (H // G); causal: query t sees keys 0 .. t."""
    H, G = q.shape[1], k.shape[1]
    if H % G != 0:
        raise ValueError(f"the {G} K/V heads must divide the {H} query heads evenly.")
    k = k.repeat_interleave(H // G, dim=1)  # (B, H, S, d): each K/V head serves H / G queries
    v = v.repeat_interleave(H // G, dim=1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, T, S)
    if causal:
        T, S = scores.shape[-2:]
        keep = torch.ones(T, S, dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    return scores.softmax(-1) @ v  # (B, H, T, d)


def mask_heads(heads: torch.Tensor, xi: torch.Tensor, w_o: torch.Tensor,
               b_o: torch.Tensor) -> torch.Tensor:
    """heads (B, H, T, d) per-head outputs, xi (H,), the output projection w_o (D, H d) and
    b_o (D,) -> (B, T, D): each head scaled by its xi, then merged and projected."""
    scaled = heads * xi.view(1, -1, 1, 1).to(heads.dtype)  # (B, H, T, d)
    return merge_heads(scaled) @ w_o.T + b_o  # (B, T, D)


def kv_cache_bytes(layers: int, kv_heads: int, head_dim: int, seq_len: int,
                   bytes_per_value: int = 2) -> int:
    """What a decoder caches per sequence: K and V, per layer and K/V head, d values per
    position (bytes_per_value 2 for float16 or bfloat16, 4 for float32)."""
    return 2 * layers * kv_heads * head_dim * seq_len * bytes_per_value


class GroupedQueryAttention(nn.Module):
    """Causal self-attention with H query heads and G K/V heads of size d = d_model // H.

    q_proj: d_model -> H d, k_proj and v_proj: d_model -> G d, out_proj: H d -> d_model.
    forward(x (B, T, d_model), causal=True, head_mask=None, return_weights=False,
            mask_fn=mask_heads) -> (B, T, d_model), or (out, weights (B, H, T, T)); head_mask (H,)
        scales each head, through mask_fn (another function with mask_heads' signature, e.g. a
        student's).
    kv_cache(x) -> {"k": (B, G, T, d), "v": (B, G, T, d)}: what a decoder keeps.
    """

    def __init__(self, d_model: int, num_heads: int, kv_heads: int | None = None):
        super().__init__()
        kv_heads = num_heads if kv_heads is None else kv_heads
        for name, value in (("d_model", d_model), ("num_heads", num_heads),
                            ("kv_heads", kv_heads)):
            positive_int(name, value)
        if d_model % num_heads != 0:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}; "
                             f"pick num_heads among {divisors(d_model)}.")
        if num_heads % kv_heads != 0:
            raise ValueError(f"kv_heads={kv_heads} must divide num_heads={num_heads}; pick "
                             f"kv_heads among {divisors(num_heads)}.")
        self.d_model, self.num_heads, self.kv_heads = d_model, num_heads, kv_heads
        self.head_dim = d = d_model // num_heads
        self.q_proj = nn.Linear(d_model, num_heads * d)
        self.k_proj = nn.Linear(d_model, kv_heads * d)
        self.v_proj = nn.Linear(d_model, kv_heads * d)
        self.out_proj = nn.Linear(num_heads * d, d_model)

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, num_heads={self.num_heads}, kv_heads={self.kv_heads}, "
                f"head_dim={self.head_dim}")

    def kv_cache(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x (B, T, d_model) -> the keys and values a decoder caches, (B, G, T, d) each."""
        return {"k": split_heads(self.k_proj(x), self.kv_heads),
                "v": split_heads(self.v_proj(x), self.kv_heads)}

    def forward(self, x: torch.Tensor, causal: bool = True, head_mask: torch.Tensor | None = None,
                return_weights: bool = False, mask_fn: Callable = mask_heads):
        q = split_heads(self.q_proj(x), self.num_heads)  # (B, H, T, d)
        cache = self.kv_cache(x)  # (B, G, T, d) each
        k = cache["k"].repeat_interleave(self.num_heads // self.kv_heads, dim=1)  # (B, H, T, d)
        v = cache["v"].repeat_interleave(self.num_heads // self.kv_heads, dim=1)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, H, T, T)
        if causal:
            T = x.shape[1]
            keep = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            scores = scores.masked_fill(~keep, float("-inf"))
        weights = scores.softmax(-1)  # (B, H, T, T)
        heads = weights @ v  # (B, H, T, d)
        xi = torch.ones(self.num_heads, device=x.device) if head_mask is None else head_mask
        out = mask_fn(heads, xi, self.out_proj.weight, self.out_proj.bias)  # (B, T, d_model)
        return (out, weights) if return_weights else out
