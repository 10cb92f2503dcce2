"""Multi-head self-attention: the course's reference implementation.

Each of H heads projects the input to its own queries, keys and values of size d = d_model // H,
attends with softmax(q k^T / sqrt(d)) v, and the heads' outputs are concatenated and mixed by an
output projection. The four projections hold 4 d_model^2 (+ 4 d_model bias) parameters, whatever
H is.

    >>> mha = MultiHeadSelfAttention(d_model=64, num_heads=4)
    >>> x = torch.randn(2, 10, 64)                      # (B, T, d_model)
    >>> out, weights = mha(x, mask=causal_mask(10), return_weights=True)
    >>> out.shape, weights.shape                        # (2, 10, 64), (2, 4, 10, 10)

Masks are boolean and True means "may attend", as in `attn_course.reference.attention` (where
`causal_mask` lives). `torch.nn.MultiheadAttention` uses the opposite convention (True = masked
out); `copy_to_torch` / `from_torch` move weights between the two.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from attn_course.formatting import shape_text
from attn_course.reference.arguments import positive_int
from attn_course.reference.attention import scaled_dot_product_attention

__all__ = [
    "MultiHeadSelfAttention",
    "copy_to_torch",
    "divisors",
    "from_torch",
    "merge_heads",
    "split_heads",
]


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, T, D) -> (B, H, T, D // H); head i owns features i*D//H : (i+1)*D//H."""
    if not isinstance(x, torch.Tensor) or x.dim() != 3:
        got = shape_text(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"split_heads expects x of shape (B, T, D), got {got}.")
    B, T, D = x.shape
    if num_heads < 1 or D % num_heads != 0:
        raise ValueError(
            f"split_heads: D={D} must be divisible by num_heads={num_heads}; "
            f"pick num_heads among {divisors(D)}."
        )
    return x.view(B, T, num_heads, D // num_heads).transpose(1, 2)  # (B, H, T, d)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, T, d) -> (B, T, H * d), the exact inverse of `split_heads`."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        got = shape_text(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"merge_heads expects x of shape (B, H, T, d), got {got}.")
    B, H, T, d = x.shape
    return x.transpose(1, 2).reshape(B, T, H * d)  # (B, T, H * d)


def divisors(n: int) -> list[int]:
    """The head counts that split n features evenly, e.g. divisors(12) == [1, 2, 3, 4, 6, 12]."""
    return [h for h in range(1, n + 1) if n % h == 0]


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention over a (B, T, d_model) sequence.

    q_proj, k_proj, v_proj, out_proj: nn.Linear(d_model, d_model, bias=bias).
    forward(x, mask=None, return_weights=False) -> out (B, T, d_model),
        or (out, weights (B, H, T, T)) with per-head weights when return_weights=True.
    mask: bool, broadcastable to (B, H, T, T), True = may attend. A query with no allowed key
        gets zero weights and a zero head output (torch.nn.MultiheadAttention gives NaN there).
    """

    def __init__(self, d_model: int, num_heads: int, bias: bool = True):
        super().__init__()
        for name, value in (("d_model", d_model), ("num_heads", num_heads)):
            positive_int(name, value)
        if d_model % num_heads != 0:
            raise ValueError(
                f"d_model={d_model} is not divisible by num_heads={num_heads}: each head gets "
                f"d_model // num_heads features. Pick num_heads among {divisors(d_model)}."
            )
        self.d_model = d_model
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, num_heads={self.num_heads}, head_dim={self.head_dim}"

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        return_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        self._check_input(x)
        B, T, _ = x.shape
        H = self.num_heads
        if mask is not None:
            self._check_mask(mask, B, T)

        q = split_heads(self.q_proj(x), H)  # (B, H, T, d)
        k = split_heads(self.k_proj(x), H)  # (B, H, T, d)
        v = split_heads(self.v_proj(x), H)  # (B, H, T, d)

        if return_weights:
            y, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, H, T, d), (B, H, T, T)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, T, d)

        out = self.out_proj(merge_heads(y))  # (B, T, d_model)
        return (out, weights) if return_weights else out

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"x must be a torch.Tensor of shape (B, T, {self.d_model}), got {type(x).__name__}."
            )
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            hint = " Add a batch dimension with x.unsqueeze(0)." if x.dim() == 2 else ""
            got = shape_text(x.shape)
            raise ValueError(f"x must have shape (B, T, d_model={self.d_model}), got {got}.{hint}")
        w = self.q_proj.weight
        if x.dtype != w.dtype or x.device != w.device:
            raise TypeError(
                f"x is {x.dtype} on {x.device} but the weights are {w.dtype} on {w.device}; "
                f"convert one, e.g. x.to(mha.q_proj.weight) or mha.to(x.device, x.dtype)."
            )

    def _check_mask(self, mask: torch.Tensor, B: int, T: int) -> None:
        H = self.num_heads
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise TypeError(
                f"mask must be a bool tensor (True = may attend), got {got}. "
                f"Build one with causal_mask(T) or compare, e.g. mask = lengths[:, None] > j."
            )
        # By hand: torch.broadcast_shapes imports sympy the first time (half a second).
        target = (B, H, T, T)
        fits = mask.dim() <= 4 and all(
            m in (1, t) for m, t in zip(reversed(mask.shape), reversed(target), strict=False)
        )
        if not fits:
            raise ValueError(
                f"mask of shape {shape_text(mask.shape)} does not broadcast to (B, H, T, T) = "
                f"({B}, {H}, {T}, {T}); use (T, T), (B, 1, T, T) or (B, H, T, T)."
            )
        if mask.device != self.q_proj.weight.device:
            raise TypeError(
                f"mask is on {mask.device} but the weights are on {self.q_proj.weight.device}; "
                f"move it with mask.to(x.device)."
            )


def copy_to_torch(mha: MultiHeadSelfAttention) -> nn.MultiheadAttention:
    """A `torch.nn.MultiheadAttention(batch_first=True)` holding the same weights.

    Remember its bool attn_mask means the opposite: pass `attn_mask=~mask`.
    """
    if not isinstance(mha, MultiHeadSelfAttention):
        raise TypeError(
            f"copy_to_torch expects a MultiHeadSelfAttention, got {type(mha).__name__}."
        )
    w = mha.q_proj.weight
    bias = mha.q_proj.bias is not None
    torch_mha = nn.MultiheadAttention(
        mha.d_model, mha.num_heads, bias=bias, batch_first=True, device=w.device, dtype=w.dtype
    )
    with torch.no_grad():
        torch_mha.in_proj_weight.copy_(
            torch.cat([mha.q_proj.weight, mha.k_proj.weight, mha.v_proj.weight])  # (3D, D)
        )
        torch_mha.out_proj.weight.copy_(mha.out_proj.weight)
        if bias:
            torch_mha.in_proj_bias.copy_(
                torch.cat([mha.q_proj.bias, mha.k_proj.bias, mha.v_proj.bias])  # (3D,)
            )
            torch_mha.out_proj.bias.copy_(mha.out_proj.bias)
    torch_mha.train(mha.training)
    return torch_mha


def from_torch(torch_mha: nn.MultiheadAttention) -> MultiHeadSelfAttention:
    """A `MultiHeadSelfAttention` holding the weights of a `torch.nn.MultiheadAttention`.

    Only plain self-attention converts: kdim == vdim == embed_dim, no add_bias_kv, no
    add_zero_attn. Dropout is not carried over (the reference has none).
    """
    if not isinstance(torch_mha, nn.MultiheadAttention):
        raise TypeError(
            f"from_torch expects a torch.nn.MultiheadAttention, got {type(torch_mha).__name__}."
        )
    if not torch_mha._qkv_same_embed_dim or torch_mha.bias_k is not None or torch_mha.add_zero_attn:
        raise ValueError(
            "from_torch converts plain self-attention only: build nn.MultiheadAttention without "
            "kdim/vdim, add_bias_kv or add_zero_attn."
        )
    in_bias = torch_mha.in_proj_bias
    if (in_bias is None) != (torch_mha.out_proj.bias is None):
        raise ValueError("from_torch needs biases on both in- and out-projections, or on neither.")
    w = torch_mha.in_proj_weight
    mha = MultiHeadSelfAttention(torch_mha.embed_dim, torch_mha.num_heads, bias=in_bias is not None)
    mha.to(device=w.device, dtype=w.dtype)
    with torch.no_grad():
        wq, wk, wv = w.chunk(3)  # each (D, D)
        mha.q_proj.weight.copy_(wq)
        mha.k_proj.weight.copy_(wk)
        mha.v_proj.weight.copy_(wv)
        mha.out_proj.weight.copy_(torch_mha.out_proj.weight)
        if in_bias is not None:
            bq, bk, bv = in_bias.chunk(3)  # each (D,)
            mha.q_proj.bias.copy_(bq)
            mha.k_proj.bias.copy_(bk)
            mha.v_proj.bias.copy_(bv)
            mha.out_proj.bias.copy_(torch_mha.out_proj.bias)
    mha.train(torch_mha.training)
    return mha
