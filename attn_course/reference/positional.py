"""Sinusoidal positional encoding (Vaswani et al., 2017).

    PE[pos, 2i]     = sin(pos / base^(2i / d_model))
    PE[pos, 2i + 1] = cos(pos / base^(2i / d_model))        base = 10000

Columns 2i and 2i + 1 share one frequency; the frequencies fall geometrically from 1 (column 0)
to about 1/base. Positions start at 0. An odd d_model ends with a sin column.

    >>> pe = sinusoidal_positional_encoding(10, 16)     # (T, d_model) float32
    >>> x = x + pe                                      # x (B, T, d_model)
"""

from __future__ import annotations

import torch

from attn_course.reference.arguments import positive_int

__all__ = ["sinusoidal_positional_encoding"]


def sinusoidal_positional_encoding(
    T: int,
    d_model: int,
    *,
    base: float = 10000.0,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """(T, d_model): sin in even columns, cos in odd ones, computed in float64 then cast."""
    positive_int("T", T)
    positive_int("d_model", d_model)
    if not base > 1:
        raise ValueError(f"base must be a number > 1, got {base!r}.")
    pos = torch.arange(T, dtype=torch.float64, device=device)[:, None]  # (T, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64, device=device)  # (ceil(d/2),)
    angles = pos / base ** (two_i / d_model)  # (T, ceil(d/2))
    pe = torch.empty(T, d_model, dtype=torch.float64, device=device)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])  # odd d_model: no cos for the last pair
    return pe.to(dtype)
