"""SelfAttention: the reference, correct classes, the classic mistakes named, clear messages for
broken contracts."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from attn_course.checks import (
    CHECKS,
    SELF_ATTENTION_CHECK,
    check_self_attention,
)
from attn_course.reference import (
    SelfAttention,
    causal_mask,
)
from tests.unit.checks.students import SelfAttention as StudentSelfAttention

NEG_INF = float("-inf")


# ==== the reference SelfAttention ============================================================
def test_reference_matches_the_formula():
    torch.manual_seed(0)
    attn = SelfAttention(6, 4, 3).double()
    x = torch.randn(2, 5, 6, dtype=torch.float64)
    mask = causal_mask(5)
    out, weights = attn(x, mask=mask)
    q, k, v = x @ attn.q_proj.weight.T, x @ attn.k_proj.weight.T, x @ attn.v_proj.weight.T
    scores = (q @ k.mT / 2.0).masked_fill(~mask, NEG_INF)
    torch.testing.assert_close(weights, scores.softmax(-1))
    torch.testing.assert_close(out, scores.softmax(-1) @ v)
    assert out.shape == (2, 5, 3) and weights.shape == (2, 5, 5)


def test_reference_defaults_and_bias():
    attn = SelfAttention(8, 4)
    assert attn.v_proj.out_features == 4 and attn.q_proj.bias is None
    assert SelfAttention(8, 4, bias=True).k_proj.bias is not None
    assert "d_model=8, d_k=4, d_v=4" in repr(attn)


@pytest.mark.parametrize("args", [(0, 4), (8, 4.0), (8, 4, True)])
def test_reference_rejects_bad_sizes(args):
    with pytest.raises(ValueError, match="must be a positive int"):
        SelfAttention(*args)


def test_reference_rejects_bad_input():
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, d_model=8\), got \(5, 8\)"):
        SelfAttention(8, 4)(torch.randn(5, 8))


# ==== check_self_attention: correct classes ==================================================
class EinsumSelfAttention(nn.Module):
    def __init__(self, d_model, d_k, d_v=None, bias=False):
        super().__init__()
        self.q_proj = nn.Linear(d_model, d_k, bias=bias)
        self.k_proj = nn.Linear(d_model, d_k, bias=bias)
        self.v_proj = nn.Linear(d_model, d_v or d_k, bias=bias)
        self.scale = d_k**-0.5

    def forward(self, x, mask=None):
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        scores = torch.einsum("bqd,bkd->bqk", q, k) * self.scale
        if mask is not None:
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        weights = F.softmax(scores, dim=-1)
        return torch.einsum("bqk,bkd->bqd", weights, v), weights


class SdpaSelfAttention(nn.Module):
    def __init__(self, d_model, d_k, d_v=None, bias=False):
        super().__init__()
        d_v = d_k if d_v is None else d_v
        self.q_proj = nn.Linear(d_model, d_k, bias=bias)
        self.k_proj = nn.Linear(d_model, d_k, bias=bias)
        self.v_proj = nn.Linear(d_model, d_v, bias=bias)
        self.dropout = nn.Dropout(0.2)  # off in eval mode

    def forward(self, x, mask=None):
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        scores = q @ k.transpose(1, 2) / math.sqrt(q.size(-1))
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        return out, self.dropout(scores.softmax(-1))


@pytest.mark.parametrize("cls", [SelfAttention, EinsumSelfAttention, SdpaSelfAttention],
                         ids=lambda c: c.__name__)
def test_correct_classes_pass(cls):
    assert check_self_attention(cls).passed
    assert check_self_attention(cls, seed=5).passed


# ==== check_self_attention: the classic mistakes =============================================
def _buggy(forward):
    """A student's class: the usual __init__ and the given forward(self, x, mask=None)."""

    class StudentSelfAttention(nn.Module):
        def __init__(self, d_model, d_k, d_v=None, bias=False):
            super().__init__()
            self.d_k = d_k
            self.q_proj = nn.Linear(d_model, d_k, bias=bias)
            self.k_proj = nn.Linear(d_model, d_k, bias=bias)
            self.v_proj = nn.Linear(d_model, d_v if d_v is not None else d_k, bias=bias)

    StudentSelfAttention.forward = forward
    return StudentSelfAttention


def _finish(scores, v, mask, dim=-1):
    if mask is not None:
        scores = scores.masked_fill(~mask, NEG_INF)
    w = torch.softmax(scores, dim=dim)
    return w @ v, w


def keys_from_query(self, x, mask=None):
    q, k = self.q_proj(x), self.q_proj(x)
    return _finish(q @ k.transpose(-2, -1) / math.sqrt(self.d_k), self.v_proj(x), mask)


def values_from_x(self, x, mask=None):
    q, k = self.q_proj(x), self.k_proj(x)
    return _finish(q @ k.transpose(-2, -1) / math.sqrt(self.d_k), x, mask)


def no_scale(self, x, mask=None):
    return _finish(self.q_proj(x) @ self.k_proj(x).transpose(-2, -1), self.v_proj(x), mask)


def scale_d_model(self, x, mask=None):
    scores = self.q_proj(x) @ self.k_proj(x).transpose(-2, -1) / math.sqrt(x.shape[-1])
    return _finish(scores, self.v_proj(x), mask)


def scale_by_dk(self, x, mask=None):
    scores = self.q_proj(x) @ self.k_proj(x).transpose(-2, -1) / self.d_k
    return _finish(scores, self.v_proj(x), mask)


def softmax_dim_1(self, x, mask=None):
    scores = self.q_proj(x) @ self.k_proj(x).transpose(-2, -1) / math.sqrt(self.d_k)
    return _finish(scores, self.v_proj(x), mask, dim=1)


def mask_ignored(self, x, mask=None):
    scores = self.q_proj(x) @ self.k_proj(x).transpose(-2, -1) / math.sqrt(self.d_k)
    return _finish(scores, self.v_proj(x), None)


def mask_inverted(self, x, mask=None):
    scores = self.q_proj(x) @ self.k_proj(x).transpose(-2, -1) / math.sqrt(self.d_k)
    if mask is not None:
        scores = scores.masked_fill(mask, -1e9)
    w = scores.softmax(-1)
    return w @ self.v_proj(x), w


@pytest.mark.parametrize(("forward", "mistake", "words"), [
    (keys_from_query, "keys_from_query", "k = self.k_proj(x)"),
    (values_from_x, "values_from_x", "v = self.v_proj(x)"),
    (no_scale, "no_scale", "math.sqrt(d_k)"),
    (scale_d_model, "scale_d_model", "1/√d_model instead of 1/√d_k"),
    (scale_by_dk, "scale_by_dk", "divided by d_k instead of √d_k"),
    (softmax_dim_1, "softmax_wrong_dim", "dim=-1"),
    (mask_ignored, "mask_ignored", "masked_fill(~mask"),
    (mask_inverted, "mask_inverted", "True means 'may attend'"),
], ids=lambda x: getattr(x, "__name__", None))
def test_classic_mistakes_are_named(forward, mistake, words, named):
    assert words in named(_buggy(forward), mistake, check_self_attention)


# ==== check_self_attention: contract and garbage =============================================
class NoValueProjection(nn.Module):
    def __init__(self, d_model, d_k, d_v=None, bias=False):
        super().__init__()
        self.q_proj = nn.Linear(d_model, d_k, bias=bias)
        self.k_proj = nn.Linear(d_model, d_k, bias=bias)


class IgnoresDv(StudentSelfAttention):
    def __init__(self, d_model, d_k, d_v=None, bias=False):
        super().__init__(d_model, d_k, None, bias)


class DefaultBias(StudentSelfAttention):
    def __init__(self, d_model, d_k, d_v=None, bias=False):
        super().__init__(d_model, d_k, d_v, bias=True)


class DropoutInForward(StudentSelfAttention):
    def forward(self, x, mask=None):
        out, w = super().forward(x, mask)
        return F.dropout(out, 0.5), w


class Stub(nn.Module):
    def __init__(self, d_model, d_k, d_v=None, bias=False):
        super().__init__()
        raise NotImplementedError()


class OnlyOut(StudentSelfAttention):
    def forward(self, x, mask=None):
        return super().forward(x, mask)[0]


@pytest.mark.parametrize(("obj", "words"), [
    (NoValueProjection, "missing: v_proj (v_proj: nn.Linear(d_model, d_v), with d_v = d_k when "
                        "d_v is None: the values are v_proj(x), not x itself)"),
    (IgnoresDv, "in SelfAttention(6, 3, d_v=5), v_proj maps 6 → 3 features, expected 6 → 5"),
    (DefaultBias, "q_proj has a bias but bias=False"),
    (DropoutInForward, "two identical calls in eval mode gave different results"),
    (Stub, "not implemented yet"),
    (OnlyOut, "return all 2 results as a tuple"),
    (SelfAttention(8, 4), "got an instance of SelfAttention"),
    (lambda x: x, "expected the class SelfAttention, got the function"),
], ids=lambda x: getattr(x, "__name__", None) if not isinstance(x, str) else None)
def test_garbage_gets_a_clear_message(obj, words, failure):
    assert words in str(failure(obj, check_self_attention))


def test_self_attention_cases():
    cases = SELF_ATTENTION_CHECK.cases()
    for c in cases:
        (d_model, d_k), _ = c.inputs["init"]
        assert d_model != d_k, c.name  # so √d_model and √d_k scalings differ
        if "mask" in c.inputs:
            assert c.inputs["mask"].expand(c.shapes[1]).any(dim=-1).all(), c.name
    assert {torch.float32, torch.float64} == {c.inputs["x"].dtype for c in cases}
    assert any(c.inputs["init"][1].get("bias") for c in cases)
    assert any("d_v" in c.inputs["init"][1] for c in cases)
    assert CHECKS["self_attention"] is SELF_ATTENTION_CHECK


