"""Toy token embeddings: one seeded vector per distinct word, whatever its position."""

import torch

from attn_course.experiments.embeddings import token_embeddings


def test_token_embeddings_give_equal_words_equal_vectors():
    tokens = ["the", "cat", "sat", "on", "the", "mat"]
    x = token_embeddings(tokens, d_model=8, seed=0)
    assert x.shape == (1, 6, 8) and x.dtype == torch.float32
    assert torch.equal(x[0, 0], x[0, 4])
    distinct = x[0, [0, 1, 2, 3, 5]]
    assert torch.cdist(distinct, distinct).fill_diagonal_(1.0).min() > 0.1
    assert torch.equal(x, token_embeddings(tokens, d_model=8, seed=0))
    assert not torch.equal(x, token_embeddings(tokens, d_model=8, seed=1))
    # a word's vector does not depend on where it stands
    shuffled = token_embeddings(list(reversed(tokens)), d_model=8, seed=0)
    assert torch.equal(shuffled[0].flip(0), x[0])


def test_token_embeddings_leave_the_global_random_state_alone():
    state = torch.random.get_rng_state()
    token_embeddings(["dog", "bites", "man"], d_model=4)
    assert torch.equal(torch.random.get_rng_state(), state)
