"""Toy token embeddings for the self-attention experiments: one random vector per distinct word.

    >>> x = token_embeddings(["the", "cat", "sat", "on", "the", "mat"], d_model=16)  # (1, 6, 16)
    >>> torch.equal(x[0, 0], x[0, 4])      # both "the": equal words, equal vectors
    True

No positions are encoded, so shuffling the words only shuffles the rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def token_embeddings(tokens: Sequence[str], d_model: int, seed: int = 0) -> torch.Tensor:
    """(1, T, d_model) random embeddings, one vector per distinct token: equal words, equal rows.

    A token's vector depends only on the set of distinct tokens and the seed, not on its position.
    """
    vocab = sorted(set(tokens))
    table = torch.randn(len(vocab), d_model, generator=torch.Generator().manual_seed(seed))
    return table[[vocab.index(t) for t in tokens]].unsqueeze(0)  # (1, T, d_model)
