"""causal_mask: correct masks in many styles pass; each known mistake is named."""


import numpy as np
import pytest
import torch

from attn_course.checks import (
    CheckFailed,
    check_causal_mask,
)
from attn_course.reference import (
    causal_mask,
)
from attn_course.reference import causal_mask as reference_causal_mask

CORRECT = [
    reference_causal_mask,
    lambda T: torch.tril(torch.ones(T, T, dtype=torch.bool)),
    lambda T: torch.ones(T, T).tril() == 1,
    lambda T: ~torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1),
    lambda T: torch.arange(T)[None, :] <= torch.arange(T)[:, None],
    lambda T: torch.tensor([[j <= i for j in range(T)] for i in range(T)]),
]


@pytest.mark.parametrize("fn", CORRECT)
def test_correct_masks_pass(fn):
    assert "causal_mask: 4/4" in str(check_causal_mask(fn))


DIAGNOSES = [
    (lambda T: torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1), "inverted"),
    (lambda T: torch.ones(T, T, dtype=torch.bool).tril(-1), "diagonal is excluded"),
    (lambda T: torch.arange(T)[None, :] < torch.arange(T)[:, None], "diagonal is excluded"),
    (lambda T: torch.ones(T, T, dtype=torch.bool).triu(), "transposed"),
    (lambda T: torch.tril(torch.ones(T, T)), "torch.tril(torch.ones(T, T, dtype=torch.bool))"),
    (lambda T: torch.tril(torch.ones(T, T, dtype=torch.int64)), "not bool"),
    (lambda T: torch.zeros(T, T).masked_fill(torch.ones(T, T).triu(1) == 1, float("-inf")),
     "additive"),
    (lambda T: torch.ones(T, T, dtype=torch.bool).tril()[None], "extra leading dims"),
    (lambda T: torch.ones(T, T, dtype=torch.bool).tril().squeeze(), "T=1"),
    (lambda T: torch.ones(T, T - 1 if T > 1 else 0, dtype=torch.bool), "shape"),
    (lambda T: np.tril(np.ones((T, T), dtype=bool)), "numpy array"),
    (lambda T: torch.tril(torch.ones(T, T, dtype=torch.bool)).tolist(), "list"),
]


@pytest.mark.parametrize(("fn", "keyword"), DIAGNOSES)
def test_mistake_is_named(fn, keyword):
    with pytest.raises(CheckFailed) as info:
        check_causal_mask(fn)
    assert keyword in str(info.value), str(info.value)


def test_wrong_values_show_both_grids():
    with pytest.raises(CheckFailed) as info:
        check_causal_mask(lambda T: torch.ones(T, T, dtype=torch.bool).triu())
    message = str(info.value)
    assert "expected" in message and "got" in message
    assert "1 0 0 0" in message and "1 1 1 1" in message


def causal_loop(T):
    m = torch.zeros(T, T, dtype=torch.bool)
    for i in range(T):
        m[i, : i + 1] = True
    return m


CAUSAL = [
    causal_mask,
    causal_loop,
    lambda T: torch.tril(torch.ones(T, T, dtype=torch.bool)),
    lambda T: torch.tril(torch.ones(T, T)).bool(),
    lambda T: torch.ones(T, T).tril() == 1,
    lambda T: torch.ones(T, T).triu(1) == 0,
    lambda T: ~torch.ones(T, T, dtype=torch.bool).triu(diagonal=1),
    lambda T: torch.arange(T)[:, None] >= torch.arange(T)[None, :],
    lambda T: torch.arange(T).unsqueeze(1) - torch.arange(T).unsqueeze(0) >= 0,
    lambda T: torch.tensor([[j <= i for j in range(T)] for i in range(T)]),
    lambda T: torch.from_numpy(np.tri(T, dtype=bool)),
]


@pytest.mark.parametrize("fn", CAUSAL)
def test_correct_causal_mask_passes(fn):
    assert check_causal_mask(fn).passed
