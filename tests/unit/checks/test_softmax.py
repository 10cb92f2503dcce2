"""softmax: correct implementations in many styles pass; each known mistake is named."""


import numpy as np
import pytest
import torch
import torch.nn.functional as F

from attn_course.checks import (
    CheckFailed,
    check_causal_mask,
    check_softmax,
)
from attn_course.reference import (
    softmax,
)
from attn_course.reference import softmax as reference_softmax


def stable(x, dim=-1):
    e = torch.exp(x - x.max(dim=dim, keepdim=True).values)
    return e / e.sum(dim=dim, keepdim=True)


def ignores_dim(x, dim=-1):
    e = torch.exp(x - x.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)


def always_dim0(x, dim=-1):
    e = torch.exp(x - x.max(dim=0, keepdim=True).values)
    return e / e.sum(dim=0, keepdim=True)


def over_everything(x, dim=-1):
    e = torch.exp(x - x.max())
    return e / e.sum()


def unstable(x, dim=-1):
    e = torch.exp(x)
    return e / e.sum(dim=dim, keepdim=True)


def global_max(x, dim=-1):
    e = torch.exp(x - x.max())
    return e / e.sum(dim=dim, keepdim=True)


def not_normalised(x, dim=-1):
    return torch.exp(x - x.max(dim=dim, keepdim=True).values)


def no_keepdim(x, dim=-1):
    e = torch.exp(x - x.max(dim=dim, keepdim=True).values)
    return e / e.sum(dim=dim)


def max_over_last_dim(x, dim=-1):
    e = torch.exp(x - x.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=dim, keepdim=True)


def float32_result(x, dim=-1):
    x = x.float()
    e = torch.exp(x - x.max(dim=dim, keepdim=True).values)
    return e / e.sum(dim=dim, keepdim=True)


def modifies_input(x, dim=-1):
    x -= x.max(dim=dim, keepdim=True).values
    x.exp_()
    return x / x.sum(dim=dim, keepdim=True)


def log_probs(x, dim=-1):
    return x - torch.logsumexp(x, dim=dim, keepdim=True)


def forgot_return(x, dim=-1):
    e = torch.exp(x - x.max(dim=dim, keepdim=True).values)
    e / e.sum(dim=dim, keepdim=True)


def squeezed(x, dim=-1):
    return stable(x, dim).squeeze()[None]


def numpy_softmax(x, dim=-1):
    a = x.numpy()
    e = np.exp(a - a.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def raises(x, dim=-1):
    raise ValueError("no idea")


def recursive(x, dim=-1):
    return recursive(x, dim)


DIAGNOSES = [
    (ignores_dim, "dim argument is ignored"),
    (always_dim0, "wrong axis"),
    (over_everything, "wrong axis"),
    (unstable, "numerically unstable"),
    (global_max, "whole tensor"),
    (not_normalised, "without dividing"),
    (no_keepdim, "keepdim=True is missing"),
    (max_over_last_dim, "max is taken over a different dim"),
    (float32_result, "float64 inputs came back as float32"),
    (modifies_input, "modified in place"),
    (log_probs, "log of the softmax"),
    (forgot_return, "returns None"),
    (squeezed, "shape"),
    (numpy_softmax, "numpy array"),
    (raises, "ValueError: no idea"),
    (recursive, "calls itself"),
]


@pytest.mark.parametrize(("fn", "keyword"), DIAGNOSES, ids=[f.__name__ for f, _ in DIAGNOSES])
def test_mistake_is_named(fn, keyword):
    with pytest.raises(CheckFailed) as info:
        check_softmax(fn)
    assert keyword in str(info.value), str(info.value)


@pytest.mark.parametrize(
    "fn",
    [
        reference_softmax,
        stable,
        lambda x, dim=-1: torch.exp(x - torch.logsumexp(x, dim=dim, keepdim=True)),
    ],
)
def test_correct_softmaxes_pass(fn):
    result = check_softmax(fn)
    assert "softmax" in repr(result)


def test_seed_changes_the_inputs_not_the_verdict():
    for seed in (1, 2):
        check_softmax(stable, seed=seed)
        with pytest.raises(CheckFailed, match="numerically unstable"):
            check_softmax(unstable, seed=seed)


def softmax_manual(x, dim=-1):
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)


def softmax_values(x, dim=-1):
    m, _ = torch.max(x, dim=dim, keepdim=True)
    e = (x - m).exp()
    return e / torch.sum(e, dim, keepdim=True)


def softmax_transpose(x, dim=-1):
    y = x.transpose(dim, -1)
    e = torch.exp(y - y.max(-1, keepdim=True).values)
    return (e / e.sum(-1, keepdim=True)).transpose(dim, -1)


def softmax_movedim(x, dim=-1):
    y = torch.movedim(x, dim, -1)
    e = torch.exp(y - y.amax(dim=-1, keepdim=True))
    return torch.movedim(e / e.sum(dim=-1, keepdim=True), -1, dim)


def softmax_logsumexp(x, dim=-1):
    return torch.exp(x - torch.logsumexp(x, dim=dim, keepdim=True))


def softmax_float64(x, dim=-1):
    y = x.double()
    e = torch.exp(y - y.amax(dim=dim, keepdim=True))
    return (e / e.sum(dim=dim, keepdim=True)).to(x.dtype)


def softmax_unsqueeze(x, dim=-1):
    m = x.max(dim=dim).values.unsqueeze(dim)
    e = torch.exp(x - m)
    return e / e.sum(dim=dim).unsqueeze(dim)


SOFTMAX = [
    softmax,
    softmax_manual,
    softmax_values,
    softmax_transpose,
    softmax_movedim,
    softmax_logsumexp,
    softmax_float64,
    softmax_unsqueeze,
]


@pytest.mark.parametrize("fn", SOFTMAX)
@pytest.mark.parametrize("seed", [0, 3])
def test_correct_softmax_passes(fn, seed):
    assert check_softmax(fn, seed=seed).passed


@pytest.mark.parametrize(("fn", "used"), [
    (lambda x, dim=-1: torch.softmax(x, dim), "torch.softmax"),
    (lambda x, dim=-1: F.softmax(x, dim=dim), "F.softmax"),
    (lambda x, dim=-1: x.softmax(dim=dim), ".softmax"),
    (lambda x, dim=-1: torch.log_softmax(x, dim).exp(), "torch.log_softmax"),
    (torch.softmax, "torch.softmax itself"),
], ids=["torch.softmax", "F.softmax", "method", "log_softmax", "the function itself"])
def test_calling_torchs_softmax_is_refused_with_the_reason(fn, used, message):
    text = message(fn, check_softmax)
    assert used in text and "write" in text and "yourself" in text, text




def test_numpy_in_softmax_and_wrong_dtype_in_causal(message):
    assert "numpy array" in message(lambda x, dim=-1: np.exp(x.numpy()), check_softmax)
    assert "dtype=torch.bool" in message(lambda T: torch.ones(T, T).tril(), check_causal_mask)


