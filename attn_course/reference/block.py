"""A pre-LayerNorm Transformer block: attention and an MLP, each on a normalised copy of the
residual stream, each added back to it (GPT-2's arrangement).

    >>> block = Block(d_model=64, num_heads=4)
    >>> x = torch.randn(2, 10, 64)                       # (B, T, d_model)
    >>> block(x, causal_mask(10)).shape                  # (2, 10, 64)

`pre_ln_block(block, x, mask)` is the forward pass on its own (notebook 10's exercise); a Block
runs whichever function it is given, so a model can be built on a student's. `mlp=False` makes
an attention-only block (Elhage et al. 2021).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from attn_course.reference.mha import MultiHeadSelfAttention

__all__ = ["Block", "pre_ln_block"]


def pre_ln_block(block: nn.Module, x: torch.Tensor, mask: torch.Tensor | None = None
                 ) -> torch.Tensor:
    """x (B, T, D) -> (B, T, D): x + attn(ln1(x), mask), then + mlp(ln2(x)) when the block has
    an MLP (block.mlp is None in an attention-only block)."""
    x = x + block.attn(block.ln1(x), mask)  # (B, T, D)
    if block.mlp is not None:
        x = x + block.mlp(block.ln2(x))  # (B, T, D)
    return x


class Block(nn.Module):
    """ln1, attn (any class with MultiHeadSelfAttention's contract), and unless mlp=False,
    ln2 and mlp (D -> 4D -> D with GELU). forward(x (B, T, D), mask) -> (B, T, D) runs
    `forward_fn(self, x, mask)`, pre_ln_block by default."""

    def __init__(self, d_model: int, num_heads: int, *, mlp: bool = True,
                 attention: type[nn.Module] = MultiHeadSelfAttention,
                 forward_fn: Callable = pre_ln_block):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = attention(d_model, num_heads)
        self.ln2 = nn.LayerNorm(d_model) if mlp else None
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model)
        ) if mlp else None
        self.forward_fn = forward_fn

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_fn(self, x, mask)
