"""Flash attention in PyTorch: exact attention, tile by tile, without the N x N weights.

    p = online_softmax(x)                                   # softmax in one pass over blocks
    out = flash_attention(q, k, v)                          # (B, H, N, d), as F.sdpa computes
    out, lse = flash_attention(q, k, v, causal=True, return_lse=True)   # lse (B, H, N)

Attention's weights for one head are an N x N matrix; for N = 4096 and 8 heads that is 512 MiB
in float32. FlashAttention (Dao et al. 2022; FlashAttention-2, Dao 2023) never holds them: for
each tile of queries it walks over the tiles of keys and values and keeps, per query, a running
maximum m, a running sum l of exp(score - m) and an accumulator acc of exp(score - m) @ v. When
a new tile raises the maximum, what was summed so far is rescaled by exp(m_old - m_new): the
online softmax of Milakov & Gimelshein (2018). At the end, out = acc / l and the log-sum-exp of
each query's scores is m + log l (what the backward pass needs). With a causal mask, key tiles
entirely after a query tile are skipped: they would only add zeros.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "BLOCK_SIZE",
    "flash_attention",
    "flash_attention_lse",
    "online_softmax",
    "online_softmax_steps",
]

BLOCK_SIZE = 256  # queries and keys per tile: 8 heads x 256 x 256 float32 scores = 2 MiB


def online_softmax(x: torch.Tensor, block_size: int = BLOCK_SIZE) -> torch.Tensor:
    """softmax(x, dim=-1), reading x once, block by block, for its maximum and its sum.

    The running maximum m and sum l of exp(x - m) are updated per block of the last dimension;
    when a block raises m, the sum so far is rescaled by exp(m_old - m_new). Then one last
    elementwise pass writes exp(x - m) / l.
    """
    _positive("block_size", block_size)
    N = x.shape[-1]
    m = torch.full(x.shape[:-1], -math.inf, dtype=x.dtype, device=x.device)  # (...,)
    l = torch.zeros(x.shape[:-1], dtype=x.dtype, device=x.device)  # (...,)
    for j in range(0, N, block_size):
        block = x[..., j : j + block_size]  # (..., b)
        m_new = torch.maximum(m, block.amax(-1))  # (...,)
        l = l * _exp_diff(m, m_new) + torch.exp(block - _finite(m_new).unsqueeze(-1)).sum(-1)
        m = m_new
    return torch.exp(x - m.unsqueeze(-1)) / l.unsqueeze(-1)


def online_softmax_steps(row: torch.Tensor, block_size: int = 4) -> list[dict]:
    """The running maximum and sum of `online_softmax` on one row (N,), block after block:
    [{"block": (start, end), "block_max", "m", "rescale", "l"}, ...] as Python floats."""
    _positive("block_size", block_size)
    if row.dim() != 1:
        raise ValueError(f"row must be one row (N,), got shape {tuple(row.shape)}.")
    steps, m, l = [], -math.inf, 0.0
    for j in range(0, row.shape[0], block_size):
        block = row[j : j + block_size].double()
        m_new = max(m, float(block.max()))
        rescale = math.exp(m - m_new) if m != -math.inf else 0.0
        l = l * rescale + float(torch.exp(block - m_new).sum())
        steps.append({"block": (j, j + block.shape[0]), "block_max": float(block.max()),
                      "m": m_new, "rescale": rescale, "l": l})
        m = m_new
    return steps


def flash_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool = False,
    block_size: int = BLOCK_SIZE,
    return_lse: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(d)) v, computed a (block_size x block_size) tile at a time.

    q (B, H, N, d), k (B, H, M, d), v (B, H, M, d_v) -> out (B, H, N, d_v), and with
    return_lse the log-sum-exp of each query's scaled scores, (B, H, N), in float32 (or
    float64 for float64 inputs). causal: query i sees keys j <= i (the top-left alignment of
    F.scaled_dot_product_attention's is_causal). Half-precision inputs accumulate in float32.
    """
    _check(q, k, v, block_size)
    B, H, N, d = q.shape
    M = k.shape[-2]
    acc_dtype = torch.float64 if q.dtype == torch.float64 else torch.float32
    scale = 1.0 / math.sqrt(d)
    out = torch.empty(B, H, N, v.shape[-1], dtype=q.dtype, device=q.device)
    lse = torch.empty(B, H, N, dtype=acc_dtype, device=q.device)
    for i in range(0, N, block_size):
        qi = q[:, :, i : i + block_size].to(acc_dtype) * scale  # (B, H, bq, d)
        rows = qi.shape[2]
        m = torch.full((B, H, rows), -math.inf, dtype=acc_dtype, device=q.device)
        l = torch.zeros(B, H, rows, dtype=acc_dtype, device=q.device)
        acc = torch.zeros(B, H, rows, v.shape[-1], dtype=acc_dtype, device=q.device)
        last = min(M, i + rows) if causal else M  # causal: no key after the tile's last query
        for j in range(0, last, block_size):
            kj = k[:, :, j : j + block_size].to(acc_dtype)  # (B, H, bk, d)
            vj = v[:, :, j : j + block_size].to(acc_dtype)  # (B, H, bk, d_v)
            s = qi @ kj.transpose(-2, -1)  # (B, H, bq, bk)
            if causal and j + kj.shape[2] - 1 > i:  # the tile crosses the diagonal
                query = torch.arange(i, i + rows, device=q.device).view(-1, 1)
                key = torch.arange(j, j + kj.shape[2], device=q.device).view(1, -1)
                s = s.masked_fill(key > query, -math.inf)
            m_new = torch.maximum(m, s.amax(-1))  # (B, H, bq)
            p = torch.exp(s - _finite(m_new).unsqueeze(-1))  # (B, H, bq, bk)
            alpha = _exp_diff(m, m_new)  # (B, H, bq): rescales what was summed so far
            l = alpha * l + p.sum(-1)
            acc = alpha.unsqueeze(-1) * acc + p @ vj  # (B, H, bq, d_v)
            m = m_new
        out[:, :, i : i + rows] = (acc / l.unsqueeze(-1)).to(q.dtype)
        lse[:, :, i : i + rows] = m + torch.log(l)
    return (out, lse) if return_lse else out


def flash_attention_lse(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool = False,
    block_size: int = BLOCK_SIZE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(out, lse): `flash_attention` with the notebook exercise's signature."""
    return flash_attention(q, k, v, causal=causal, block_size=block_size, return_lse=True)


def _exp_diff(m_old: torch.Tensor, m_new: torch.Tensor) -> torch.Tensor:
    """exp(m_old - m_new), and 0 where both are -inf (nothing seen yet: nothing to rescale)."""
    return torch.exp(torch.where(torch.isinf(m_old) & (m_old < 0), -math.inf, m_old - m_new))


def _finite(m: torch.Tensor) -> torch.Tensor:
    """m with -inf (a row whose keys so far are all masked) as 0, so exp(-inf - m) stays 0."""
    return torch.where(torch.isinf(m) & (m < 0), 0.0, m)


def _positive(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")


def _check(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_size: int) -> None:
    _positive("block_size", block_size)
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(
            "q, k and v must be (B, H, N, d); got shapes "
            f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}."
        )
    if k.shape[:2] != q.shape[:2] or v.shape[:3] != k.shape[:3] or k.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"shapes do not fit: q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}; "
            "k needs q's (B, H) and d, v needs k's (B, H, M)."
        )
