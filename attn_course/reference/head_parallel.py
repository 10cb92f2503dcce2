"""Heads across processes: Megatron-LM's tensor parallelism for multi-head self-attention.

    part = shard(state, num_heads, rank, world_size)   # this rank's heads' weights
    out = head_parallel_attention(x, part, all_reduce)  # (B, T, D), the same on every rank
    out = full_attention(x, state, num_heads)           # the unsharded layer, for comparison

Heads are independent until the output projection. With W ranks and H heads, rank r owns the
h = H / W heads r·h .. (r+1)·h - 1: the rows of q_proj, k_proj and v_proj that compute them
(column-parallel: each rank computes its own slice of the projections' outputs) and the columns
of out_proj that read them (row-parallel: each rank computes a partial sum of the output). The
partial outputs are summed by exactly one all-reduce; out_proj's bias is added once, after it.
No communication before the all-reduce: x is the same on every rank (Shoeybi et al. 2019).

`state` holds a `MultiHeadSelfAttention`'s weights by their state_dict names (q_proj.weight,
q_proj.bias, ..., out_proj.bias); `all_reduce(t)` returns the sum of t over the ranks (in a
process group, `torch.distributed.nn.functional.all_reduce`, which gradients pass through).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.func import functional_call

from attn_course.reference.mha import MultiHeadSelfAttention, merge_heads, split_heads

__all__ = ["NAMES", "full_attention", "head_parallel_attention", "shard"]

NAMES = ("q_proj.weight", "q_proj.bias", "k_proj.weight", "k_proj.bias", "v_proj.weight",
         "v_proj.bias", "out_proj.weight", "out_proj.bias")


def shard(state: dict[str, torch.Tensor], num_heads: int, rank: int,
          world_size: int) -> dict[str, torch.Tensor | int]:
    """Rank `rank`'s part of the layer: w_q, w_k, w_v (h d, D) and b_q, b_k, b_v (h d,), the
    rows for its h = num_heads / world_size heads; w_o (D, h d), the matching columns of
    out_proj; b_o (D,), out_proj's bias (added once, after the all-reduce); heads = h."""
    D = state["q_proj.weight"].shape[1]
    if num_heads % world_size:
        raise ValueError(f"{num_heads} heads cannot be split evenly over {world_size} ranks.")
    h, d = num_heads // world_size, D // num_heads
    rows = slice(rank * h * d, (rank + 1) * h * d)  # this rank's heads' features
    part: dict[str, torch.Tensor | int] = {"heads": h}
    for name in "qkv":
        part[f"w_{name}"] = state[f"{name}_proj.weight"][rows]  # (h d, D)
        part[f"b_{name}"] = state[f"{name}_proj.bias"][rows]  # (h d,)
    part["w_o"] = state["out_proj.weight"][:, rows]  # (D, h d)
    part["b_o"] = state["out_proj.bias"]  # (D,)
    return part


def head_parallel_attention(x: torch.Tensor, part: dict, all_reduce: Callable) -> torch.Tensor:
    """x (B, T, D) on every rank, this rank's `shard` -> (B, T, D), the full layer's output."""
    h = part["heads"]
    q = split_heads(x @ part["w_q"].T + part["b_q"], h)  # (B, h, T, d): this rank's heads
    k = split_heads(x @ part["w_k"].T + part["b_k"], h)
    v = split_heads(x @ part["w_v"].T + part["b_v"], h)
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    partial = merge_heads(weights @ v) @ part["w_o"].T  # (B, T, D): these heads' share
    return all_reduce(partial) + part["b_o"]  # every head's share, then the bias once


def full_attention(x: torch.Tensor, state: dict[str, torch.Tensor],
                   num_heads: int) -> torch.Tensor:
    """The unsharded `MultiHeadSelfAttention` with these weights (gradients reach them)."""
    D = state["q_proj.weight"].shape[1]
    with torch.device("meta"):
        layer = MultiHeadSelfAttention(D, num_heads)
    return functional_call(layer, dict(state), (x,))
