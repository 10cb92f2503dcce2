"""Scores that find heads by what they attend to, on sequences that repeat themselves.

On tokens where token t equals token t - period (a random segment repeated), an **induction
head** at query t attends to key t - period + 1: the token that followed the previous occurrence
of the current token, which is the one to predict (Elhage et al. 2021, Olsson et al. 2022). A
**previous-token head** attends to key t - 1.

    induction_score(weights, period)   weights (B, H, T, T) -> (H,), in [0, 1]
    previous_token_score(weights)      weights (B, H, T, T) -> (H,), in [0, 1]
"""

from __future__ import annotations

import torch

__all__ = ["induction_score", "previous_token_score"]


def induction_score(weights: torch.Tensor, period: int) -> torch.Tensor:
    """(B, H, T, T) -> (H,): the mean weight that queries t >= period put on key t - period + 1."""
    T = weights.shape[-1]
    t = torch.arange(period, T, device=weights.device)  # the queries in the repeats
    return weights[:, :, t, t - period + 1].mean(dim=(0, 2))  # (H,)


def previous_token_score(weights: torch.Tensor) -> torch.Tensor:
    """(B, H, T, T) -> (H,): the mean weight that queries t >= 1 put on key t - 1."""
    T = weights.shape[-1]
    t = torch.arange(1, T, device=weights.device)
    return weights[:, :, t, t - 1].mean(dim=(0, 2))  # (H,)
