"""Scaled dot-product attention with one deliberate bug each: the known mistakes' variants.

Every function has the oracle's signature, (q, k, v, mask=None) -> (out, weights), with
q (..., T_q, d_k), k (..., T_k, d_k), v (..., T_k, d_v), a bool mask broadcastable to
(..., T_q, T_k) (True = may attend), out (..., T_q, d_v), weights (..., T_q, T_k). They read
like the code a student writes. The self-attention and multi-head checks reuse them for the
attention inside their modules (`catalogue.py`), so a mistake is written once.
"""

from __future__ import annotations

import math

import torch

NEG_INF = float("-inf")


# ---- the correct steps ------------------------------------------------------------------------
def raw_scores(q, k):
    """q kᵀ, unscaled."""
    return q @ k.transpose(-2, -1)  # (..., T_q, T_k)


def _scaled(q, k):
    return raw_scores(q, k) / math.sqrt(q.shape[-1])


def _hide(scores, mask, fill=NEG_INF):
    """Scores where the mask is False set to `fill` (no mask: unchanged)."""
    return scores if mask is None else scores.masked_fill(~mask, fill)


def _softmax(scores):
    return torch.softmax(scores, dim=-1)


def attention(q, k, v, mask=None):
    """The correct computation, in the inputs' dtype."""
    w = _softmax(_hide(_scaled(q, k), mask))
    return w @ v, w


def from_scores(scores, v, mask):
    """Everything after the scores: mask, softmax over the keys, weighted sum of v."""
    w = _softmax(_hide(scores, mask))
    return w @ v, w


# ---- the scale ------------------------------------------------------------------------------
def unscaled(q, k, v, mask=None):
    return from_scores(raw_scores(q, k), v, mask)


def scaled_by_d_k(q, k, v, mask=None):
    return from_scores(raw_scores(q, k) / q.shape[-1], v, mask)


def scale_multiplied(q, k, v, mask=None):
    return from_scores(raw_scores(q, k) * math.sqrt(q.shape[-1]), v, mask)


def scaled_by_d_v(q, k, v, mask=None):
    return from_scores(raw_scores(q, k) / math.sqrt(v.shape[-1]), v, mask)


def scaled_by_T_k(q, k, v, mask=None):
    return from_scores(raw_scores(q, k) / math.sqrt(k.shape[-2]), v, mask)


def scaled_by_T_q(q, k, v, mask=None):
    return from_scores(raw_scores(q, k) / math.sqrt(q.shape[-2]), v, mask)


def scaled_by_dim_1_of_k(q, k, v, mask=None):
    return from_scores(raw_scores(q, k) / math.sqrt(k.shape[1]), v, mask)


def scaled_after_softmax(q, k, v, mask=None):
    w = _softmax(_hide(raw_scores(q, k), mask)) / math.sqrt(q.shape[-1])
    return w @ v, w


# ---- the softmax ----------------------------------------------------------------------------
def _softmax_over(dim: int):
    def softmax_over_wrong_dim(q, k, v, mask=None):
        w = torch.softmax(_hide(_scaled(q, k), mask), dim=dim)
        return w @ v, w

    softmax_over_wrong_dim.__name__ = f"softmax_over_dim_{dim}"
    return softmax_over_wrong_dim


softmax_over_queries = _softmax_over(-2)
softmax_over_dim_0 = _softmax_over(0)
softmax_over_dim_1 = _softmax_over(1)
softmax_over_dim_2 = _softmax_over(2)


def naive_softmax(q, k, v, mask=None):
    e = torch.exp(_hide(_scaled(q, k), mask))
    w = e / e.sum(dim=-1, keepdim=True)
    return w @ v, w


def naive_softmax_times_mask(q, k, v, mask=None):
    e = torch.exp(_scaled(q, k))
    if mask is not None:
        e = e * mask
    w = e / e.sum(dim=-1, keepdim=True)
    return w @ v, w


def no_softmax(q, k, v, mask=None, fill=NEG_INF):
    w = _hide(_scaled(q, k), mask, fill)
    return w @ v, w


def no_softmax_fill_1e9(q, k, v, mask=None):
    return no_softmax(q, k, v, mask, fill=-1e9)


# ---- shapes: code that only works for (B, T, d) ---------------------------------------------
def transpose_1_2(q, k, v, mask=None):
    return from_scores(q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), v, mask)


def bmm(q, k, v, mask=None):
    w = _softmax(_hide(torch.bmm(q, k.transpose(-2, -1)) / math.sqrt(q.shape[-1]), mask))
    return torch.bmm(w, v), w


def dot_T(q, k, v, mask=None):
    return from_scores(q @ k.T / math.sqrt(q.shape[-1]), v, mask)


# ---- the mask -------------------------------------------------------------------------------
def mask_inverted(q, k, v, mask=None, fill=NEG_INF):
    return from_scores(_hide(_scaled(q, k), None if mask is None else ~mask, fill), v, None)


def mask_inverted_fill_1e9(q, k, v, mask=None):
    return mask_inverted(q, k, v, mask, fill=-1e9)


def mask_ignored(q, k, v, mask=None):
    return attention(q, k, v)


def mask_after_softmax(q, k, v, mask=None):
    w = _softmax(_scaled(q, k))
    if mask is not None:
        w = w * mask
    return w @ v, w


def _filled_with(fill: float):
    def masked_with_finite_fill(q, k, v, mask=None):
        return from_scores(_hide(_scaled(q, k), mask, fill), v, None)

    masked_with_finite_fill.__name__ = f"masked_with_{fill:g}"
    return masked_with_finite_fill


masked_with_zero = _filled_with(0.0)
masked_with_minus_1e2 = _filled_with(-1e2)
masked_with_minus_1e3 = _filled_with(-1e3)
masked_with_minus_1e4 = _filled_with(-1e4)


# ---- what is returned -----------------------------------------------------------------------
def returns_scores(q, k, v, mask=None, fill=NEG_INF):
    s = _hide(_scaled(q, k), mask, fill)
    return _softmax(s) @ v, s


def returns_scores_fill_1e9(q, k, v, mask=None):
    return returns_scores(q, k, v, mask, fill=-1e9)


def weights_transposed(q, k, v, mask=None):
    out, w = attention(q, k, v, mask)
    return out, w.transpose(-2, -1)


def swapped(q, k, v, mask=None):
    out, w = attention(q, k, v, mask)
    return w, out


def out_from_k(q, k, v, mask=None):
    w = _softmax(_hide(_scaled(q, k), mask))
    return w @ k, w


def out_from_transposed_weights(q, k, v, mask=None):
    w = _softmax(_hide(_scaled(q, k), mask))
    return w.transpose(-2, -1) @ v, w


# ---- inputs, dtypes, autograd ---------------------------------------------------------------
def scales_q_in_place(q, k, v, mask=None):
    q.div_(math.sqrt(q.shape[-1]))
    return from_scores(raw_scores(q, k), v, mask)


def inputs_to_float32(q, k, v, mask=None):
    return attention(q.float(), k.float(), v.float(), mask)


def results_to_float32(q, k, v, mask=None):
    return tuple(t.float() for t in attention(q, k, v, mask))


def under_no_grad(q, k, v, mask=None):
    with torch.no_grad():
        return attention(q, k, v, mask)


def k_detached(q, k, v, mask=None):
    return attention(q, k.detach(), v, mask)
