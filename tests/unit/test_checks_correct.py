"""Correct implementations written in many styles must pass every check."""

import math

import pytest
import torch
import torch.nn.functional as F

from attn_course.checks import check_causal_mask, check_scaled_dot_product_attention, check_softmax
from attn_course.reference import causal_mask, scaled_dot_product_attention, softmax


def sdpa_mT_first(q, k, v, mask=None):
    scores = (q / math.sqrt(q.shape[-1])) @ k.mT
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    return weights @ v, weights


def sdpa_einsum_finfo(q, k, v, mask=None):
    scores = torch.einsum("...qd,...kd->...qk", q, k) / q.size(-1) ** 0.5
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), torch.finfo(scores.dtype).min)
    weights = F.softmax(scores, dim=-1)
    return torch.einsum("...qk,...kd->...qd", weights, v), weights


def sdpa_matmul_minus_1e9(q, k, v, mask=None):
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(k.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask == 0, -1e9)
    weights = torch.softmax(scores, dim=-1)
    return torch.matmul(weights, v), weights


def sdpa_renormalise(q, k, v, mask=None):
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    if mask is not None:
        weights = weights * mask
        weights = weights / weights.sum(dim=-1, keepdim=True)
    return weights @ v, weights


def sdpa_torch_out(q, k, v, mask=None):
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return out, torch.softmax(scores, dim=-1)


def sdpa_float64_inside(q, k, v, mask=None):
    q64, k64, v64 = q.double(), k.double(), v.double()
    scores = q64 @ k64.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return (weights @ v64).to(q.dtype), weights.to(q.dtype)


def sdpa_where(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5
    if mask is not None:
        scores = torch.where(mask, scores, torch.tensor(float("-inf"), dtype=scores.dtype))
    weights = scores.softmax(-1)
    return weights @ v, weights


def sdpa_additive(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores + (~mask).to(scores.dtype) * -1e9
    weights = torch.nn.functional.softmax(scores, dim=-1)
    return weights @ v, weights


def sdpa_expand_mask(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        full = mask.expand_as(scores)
        scores = scores.clone()
        scores[~full] = float("-inf")
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def sdpa_flatten_bmm(q, k, v, mask=None):
    *lead, T_q, d_k = q.shape
    T_k, d_v = k.shape[-2], v.shape[-1]
    q3, k3, v3 = q.reshape(-1, T_q, d_k), k.reshape(-1, T_k, d_k), v.reshape(-1, T_k, d_v)
    scores = torch.bmm(q3, k3.transpose(1, 2)) / math.sqrt(d_k)
    scores = scores.reshape(*lead, T_q, T_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    out = torch.bmm(weights.reshape(-1, T_q, T_k), v3).reshape(*lead, T_q, d_v)
    return out, weights


def sdpa_logsumexp(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.exp(scores - torch.logsumexp(scores, dim=-1, keepdim=True))
    return weights @ v, weights


def sdpa_manual_stable(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    e = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
    weights = e / e.sum(dim=-1, keepdim=True)
    return weights @ v, weights


def sdpa_inplace_on_scores(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    scores /= math.sqrt(q.shape[-1])  # in place on a new tensor: fine
    if mask is not None:
        scores.masked_fill_(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


SDPA = [
    scaled_dot_product_attention,
    sdpa_inplace_on_scores,
    sdpa_mT_first,
    sdpa_einsum_finfo,
    sdpa_matmul_minus_1e9,
    sdpa_renormalise,
    sdpa_torch_out,
    sdpa_float64_inside,
    sdpa_where,
    sdpa_additive,
    sdpa_expand_mask,
    sdpa_flatten_bmm,
    sdpa_logsumexp,
    sdpa_manual_stable,
]


@pytest.mark.parametrize("fn", SDPA, ids=[f.__name__ for f in SDPA])
@pytest.mark.parametrize("seed", [0, 1])
def test_correct_attention_passes(fn, seed):
    result = check_scaled_dot_product_attention(fn, seed=seed)
    assert result.passed
    check_scaled_dot_product_attention(fn, masks=False, seed=seed)


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
    return torch.movedim(torch.softmax(y, dim=-1), -1, dim)


def softmax_logsumexp(x, dim=-1):
    return torch.exp(x - torch.logsumexp(x, dim=dim, keepdim=True))


def softmax_float64(x, dim=-1):
    return torch.softmax(x.double(), dim=dim).to(x.dtype)


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
    lambda x, dim=-1: torch.softmax(x, dim),
    lambda x, dim=-1: F.softmax(x, dim=dim),
    lambda x, dim=-1: x.softmax(dim=dim),
]


@pytest.mark.parametrize("fn", SOFTMAX)
@pytest.mark.parametrize("seed", [0, 3])
def test_correct_softmax_passes(fn, seed):
    assert check_softmax(fn, seed=seed).passed


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
    lambda T: torch.from_numpy(__import__("numpy").tri(T, dtype=bool)),
]


@pytest.mark.parametrize("fn", CAUSAL)
def test_correct_causal_mask_passes(fn):
    assert check_causal_mask(fn).passed
