"""MultiHeadSelfAttention: correct classes in many styles pass; each classic mistake, written as a

student would write it, is named; a broken contract gets a message that says what to change."""

import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from attn_course.checks import (
    CHECKS,
    Record,
    check_multi_head_self_attention,
)
from attn_course.checks import MULTI_HEAD_SELF_ATTENTION_CHECK as MHA
from attn_course.reference import (
    MultiHeadSelfAttention,
)
from tests.unit.checks.students import MultiHeadSelfAttention as StudentMHA

NEG_INF = float("-inf")


# ==== MultiHeadSelfAttention: correct implementations ========================================
class Projections(nn.Module):
    """The __init__ every student writes; the forwards below differ."""

    def __init__(self, d_model, num_heads, bias=True):
        super().__init__()
        assert d_model % num_heads == 0
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)


class EinsumMHA(Projections):
    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        H, d = self.num_heads, self.head_dim
        q = self.q_proj(x).reshape(B, T, H, d)
        k = self.k_proj(x).reshape(B, T, H, d)
        v = self.v_proj(x).reshape(B, T, H, d)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / d**0.5
        if mask is not None:
            scores = scores.masked_fill(~mask, NEG_INF)
        weights = scores.softmax(dim=-1)
        y = torch.einsum("bhqk,bkhd->bqhd", weights, v).reshape(B, T, D)
        out = self.out_proj(y)
        return (out, weights) if return_weights else out


class SdpaMHA(Projections):
    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        q, k, v = (p(x).view(B, T, self.num_heads, -1).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = self.out_proj(y.transpose(1, 2).reshape(B, T, D))
        if not return_weights:
            return out
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
        if mask is not None:
            scores = scores.masked_fill(mask.logical_not(), NEG_INF)
        return out, torch.softmax(scores, dim=-1)


class PackedQKV(Projections):
    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        w = torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight])  # (3D, D)
        b = None
        if self.q_proj.bias is not None:
            b = torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias])
        qkv = F.linear(x, w, b).view(B, T, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, T, d)
        scores = q @ k.mT * self.head_dim**-0.5
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        weights = F.softmax(scores, dim=-1)
        out = self.out_proj((weights @ v).transpose(1, 2).reshape(B, T, D))
        return (out, weights) if return_weights else out


class LoopOverHeads(Projections):
    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        H, d = self.num_heads, self.head_dim
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        if mask is not None:
            mask = torch.broadcast_to(mask, (B, H, T, T))
        outs, all_weights = [], []
        for h in range(H):
            part = slice(h * d, (h + 1) * d)
            scores = q[..., part] @ k[..., part].transpose(1, 2) / math.sqrt(d)
            if mask is not None:
                scores = scores.masked_fill(~mask[:, h], torch.finfo(scores.dtype).min)
            w = torch.softmax(scores, dim=-1)
            outs.append(w @ v[..., part])
            all_weights.append(w)
        out = self.out_proj(torch.cat(outs, dim=-1))
        return (out, torch.stack(all_weights, dim=1)) if return_weights else out


class UnflattenWithDropout(Projections):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__(d_model, num_heads, bias)
        self.dropout = nn.Dropout(0.1)  # off in eval mode

    def forward(self, x, mask=None, return_weights=False):
        H = self.num_heads
        q = self.q_proj(x).unflatten(-1, (H, -1)).transpose(1, 2)
        k = self.k_proj(x).unflatten(-1, (H, -1)).transpose(1, 2)
        v = self.v_proj(x).unflatten(-1, (H, -1)).transpose(1, 2)
        scores = (q / math.sqrt(q.shape[-1])) @ k.transpose(-2, -1)
        if mask is not None:
            scores = torch.where(mask, scores, torch.full_like(scores, NEG_INF))
        weights = self.dropout(scores.softmax(-1))
        out = self.out_proj((weights @ v).transpose(1, 2).flatten(2))
        if return_weights:
            return out, weights
        return out


CORRECT = [MultiHeadSelfAttention, EinsumMHA, SdpaMHA, PackedQKV, LoopOverHeads,
           UnflattenWithDropout]


@pytest.mark.parametrize("cls", CORRECT, ids=lambda c: c.__name__)
def test_correct_classes_pass(cls):
    result = check_multi_head_self_attention(cls)
    assert result.passed and len(result.cases) == len(MHA.cases())


def test_other_seeds_pass_too():
    assert check_multi_head_self_attention(EinsumMHA, seed=11).passed


# ==== MultiHeadSelfAttention: the classic mistakes ===========================================
def _heads(self, t, B, T):  # the correct split, shared by the buggy classes below
    return t.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)


def _attend(q, k, v, mask, scale):
    scores = q @ k.transpose(-2, -1) / scale
    if mask is not None:
        scores = scores.masked_fill(~mask, NEG_INF)
    w = torch.softmax(scores, dim=-1)
    return w @ v, w


class ScaleByDModel(Projections):
    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        q, k, v = (_heads(self, p(x), B, T) for p in (self.q_proj, self.k_proj, self.v_proj))
        y, w = _attend(q, k, v, mask, math.sqrt(D))  # d_model, not d_head
        out = self.out_proj(y.transpose(1, 2).reshape(B, T, D))
        return (out, w) if return_weights else out


class ViewWithoutTranspose(Projections):
    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        H, d = self.num_heads, self.head_dim
        q = self.q_proj(x).view(B, H, T, d)
        k = self.k_proj(x).view(B, H, T, d)
        v = self.v_proj(x).view(B, H, T, d)
        y, w = _attend(q, k, v, mask, math.sqrt(d))
        out = self.out_proj(y.view(B, T, D))
        return (out, w) if return_weights else out


class HeadIndexLast(Projections):
    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        H, d = self.num_heads, self.head_dim
        q, k, v = (p(x).view(B, T, d, H).permute(0, 3, 1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        y, w = _attend(q, k, v, mask, math.sqrt(d))
        out = self.out_proj(y.permute(0, 2, 3, 1).reshape(B, T, D))
        return (out, w) if return_weights else out


class MergeWithoutTranspose(Projections):
    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        q, k, v = (_heads(self, p(x), B, T) for p in (self.q_proj, self.k_proj, self.v_proj))
        y, w = _attend(q, k, v, mask, math.sqrt(self.head_dim))
        out = self.out_proj(y.reshape(B, T, D))
        return (out, w) if return_weights else out


class MergeWrongOrder(Projections):
    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        q, k, v = (_heads(self, p(x), B, T) for p in (self.q_proj, self.k_proj, self.v_proj))
        y, w = _attend(q, k, v, mask, math.sqrt(self.head_dim))
        out = self.out_proj(y.permute(0, 2, 3, 1).reshape(B, T, D))
        return (out, w) if return_weights else out


class NoOutputProjection(Projections):
    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        q, k, v = (_heads(self, p(x), B, T) for p in (self.q_proj, self.k_proj, self.v_proj))
        y, w = _attend(q, k, v, mask, math.sqrt(self.head_dim))
        out = y.transpose(1, 2).reshape(B, T, D)
        return (out, w) if return_weights else out


class KeysFromQuery(Projections):
    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        q = _heads(self, self.q_proj(x), B, T)
        k = _heads(self, self.q_proj(x), B, T)
        v = _heads(self, self.v_proj(x), B, T)
        y, w = _attend(q, k, v, mask, math.sqrt(self.head_dim))
        out = self.out_proj(y.transpose(1, 2).reshape(B, T, D))
        return (out, w) if return_weights else out


class TimeFirst(Projections):
    def forward(self, x, mask=None, return_weights=False):
        T, B, D = x.shape  # as in nn.MultiheadAttention without batch_first
        H, d = self.num_heads, self.head_dim
        q, k, v = (p(x).view(T, B, H, d).permute(1, 2, 0, 3)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        y, w = _attend(q, k, v, mask, math.sqrt(d))
        out = self.out_proj(y.permute(2, 0, 1, 3).reshape(T, B, D))
        return (out, w) if return_weights else out


class SoftmaxOverHeads(Projections):
    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        q, k, v = (_heads(self, p(x), B, T) for p in (self.q_proj, self.k_proj, self.v_proj))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
        if mask is not None:
            scores = scores.masked_fill(~mask, NEG_INF)
        w = F.softmax(scores, dim=1)
        out = self.out_proj((w @ v).transpose(1, 2).reshape(B, T, D))
        return (out, w) if return_weights else out


class SoftmaxOverQueries(Projections):
    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        q, k, v = (_heads(self, p(x), B, T) for p in (self.q_proj, self.k_proj, self.v_proj))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
        if mask is not None:
            scores = scores.masked_fill(~mask, NEG_INF)
        w = scores.softmax(dim=2)
        out = self.out_proj((w @ v).transpose(1, 2).reshape(B, T, D))
        return (out, w) if return_weights else out


class EightHeads(Projections):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__(d_model, 1, bias)
        self.num_heads = 8

    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        d = D // self.num_heads
        q, k, v = (p(x).view(B, T, self.num_heads, d).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        y, w = _attend(q, k, v, mask, math.sqrt(d))
        out = self.out_proj(y.transpose(1, 2).reshape(B, T, D))
        return (out, w) if return_weights else out


class AveragedWeights(Projections):
    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        q, k, v = (_heads(self, p(x), B, T) for p in (self.q_proj, self.k_proj, self.v_proj))
        y, w = _attend(q, k, v, mask, math.sqrt(self.head_dim))
        out = self.out_proj(y.transpose(1, 2).reshape(B, T, D))
        return (out, w.mean(dim=1)) if return_weights else out


class MaskIgnored(Projections):
    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        q, k, v = (_heads(self, p(x), B, T) for p in (self.q_proj, self.k_proj, self.v_proj))
        y, w = _attend(q, k, v, None, math.sqrt(self.head_dim))
        out = self.out_proj(y.transpose(1, 2).reshape(B, T, D))
        return (out, w) if return_weights else out


class MaskInverted(Projections):
    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        q, k, v = (_heads(self, p(x), B, T) for p in (self.q_proj, self.k_proj, self.v_proj))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
        if mask is not None:
            scores = scores.masked_fill(mask, -1e9)
        w = scores.softmax(-1)
        out = self.out_proj((w @ v).transpose(1, 2).reshape(B, T, D))
        return (out, w) if return_weights else out


@pytest.mark.parametrize(("cls", "mistake", "words"), [
    (ScaleByDModel, "scale_d_model", "√d_head"),
    (ViewWithoutTranspose, "heads_mixed_view",
     "each head must own a contiguous slice of features: x.view(B, T, H, d).transpose(1, 2)"),
    (HeadIndexLast, "split_order", "every H-th feature"),
    (MergeWithoutTranspose, "merge_no_transpose", "y.transpose(1, 2).reshape(B, T, d_model)"),
    (MergeWrongOrder, "merge_order", "(d, H) instead of (H, d)"),
    (NoOutputProjection, "no_out_proj", "self.out_proj"),
    (KeysFromQuery, "keys_from_query", "k = self.k_proj(x)"),
    (TimeFirst, "time_first", "batch_first"),
    (SoftmaxOverHeads, "softmax_over_heads", "dim=1"),
    (SoftmaxOverQueries, "softmax_wrong_dim", "dim=-1"),
    (EightHeads, "hard_coded_heads", "self.num_heads = num_heads"),
    (AveragedWeights, "averaged_weights", "(B, H, T, T)"),
    (MaskIgnored, "mask_ignored", "masked_fill(~mask"),
    (MaskInverted, "mask_inverted", "True means 'may attend'"),
], ids=lambda x: x.__name__ if isinstance(x, type) else None)
def test_classic_mistakes_are_named(cls, mistake, words, named):
    assert words in named(cls, mistake, check_multi_head_self_attention)


class KeysMixedOnly(Projections):
    """Only the keys are split without the transpose: no catalogue entry is exactly this."""

    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        q = _heads(self, self.q_proj(x), B, T)
        k = self.k_proj(x).view(B, self.num_heads, T, self.head_dim)
        v = _heads(self, self.v_proj(x), B, T)
        y, w = _attend(q, k, v, mask, math.sqrt(self.head_dim))
        out = self.out_proj(y.transpose(1, 2).reshape(B, T, D))
        return (out, w) if return_weights else out


class LeaksTheFuture(Projections):
    """Adds the mean value over all positions: later tokens reach earlier outputs."""

    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        q, k, v = (_heads(self, p(x), B, T) for p in (self.q_proj, self.k_proj, self.v_proj))
        y, w = _attend(q, k, v, mask, math.sqrt(self.head_dim))
        y = y + 0.1 * v.mean(dim=2, keepdim=True)
        out = self.out_proj(y.transpose(1, 2).reshape(B, T, D))
        return (out, w) if return_weights else out


class MaskAfterSoftmax(Projections):
    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        q, k, v = (_heads(self, p(x), B, T) for p in (self.q_proj, self.k_proj, self.v_proj))
        w = (q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)).softmax(-1)
        if mask is not None:
            w = w * mask
        out = self.out_proj((w @ v).transpose(1, 2).reshape(B, T, D))
        return (out, w) if return_weights else out


def test_head_isolation_probe_names_mixed_heads(failure):
    err = failure(KeysMixedOnly, check_multi_head_self_attention)
    diagnosis = err.verdict.diagnosis
    assert (diagnosis.mistake, diagnosis.confidence) == ("heads_mixed", "match"), str(err)
    assert "contiguous slice" in str(err)
    assert any("changed the weights of head(s) [0, 2]" in h for h in diagnosis.hints)


def test_causality_probe_names_the_leak(failure):
    err = failure(LeaksTheFuture, check_multi_head_self_attention)
    assert err.verdict.diagnosis.mistake == "future_leak", str(err)
    assert any("changing the tokens after position 2" in h for h in err.verdict.diagnosis.hints)


class WeightsBeforeMasking(Projections):
    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        q, k, v = (_heads(self, p(x), B, T) for p in (self.q_proj, self.k_proj, self.v_proj))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
        weights = scores.softmax(-1)  # kept for plotting, before the mask
        if mask is not None:
            scores = scores.masked_fill(~mask, NEG_INF)
        out = self.out_proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D))
        return (out, weights) if return_weights else out


def test_mask_after_softmax_and_failing_only_with_masks_are_named(named):
    check = check_multi_head_self_attention
    assert "before the softmax" in named(MaskAfterSoftmax, "mask_after_softmax", check)
    assert "True = may attend" in named(WeightsBeforeMasking, "masked_only", check)


class DropoutAlwaysOn(Projections):
    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        q, k, v = (_heads(self, p(x), B, T) for p in (self.q_proj, self.k_proj, self.v_proj))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
        if mask is not None:
            scores = scores.masked_fill(~mask, NEG_INF)
        w = F.dropout(scores.softmax(-1), p=0.1)  # training=True by default
        out = self.out_proj((w @ v).transpose(1, 2).reshape(B, T, D))
        return (out, w) if return_weights else out


def test_dropout_active_in_eval_is_named(failure):
    message = str(failure(DropoutAlwaysOn, check_multi_head_self_attention))
    assert "two identical calls in eval mode gave different results" in message
    assert "training=self.training" in message


# ==== MultiHeadSelfAttention: contract and garbage ==========================================
class Stub(nn.Module):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError()

    def forward(self, x, mask=None, return_weights=False):
        raise NotImplementedError()


class ForwardStub(Projections):
    def forward(self, x, mask=None, return_weights=False):
        # YOUR CODE HERE
        raise NotImplementedError()


class ConstructorRaises(Projections):
    def __init__(self, d_model, num_heads, bias=True):
        raise ValueError(f"no {num_heads} heads today")


class ReturnsNone(Projections):
    def forward(self, x, mask=None, return_weights=False):
        self.out_proj(x)


class AlwaysTuple(StudentMHA):
    def forward(self, x, mask=None, return_weights=False):
        return super().forward(x, mask, return_weights=True)


class NeverWeights(StudentMHA):
    def forward(self, x, mask=None, return_weights=False):
        return super().forward(x, mask)


class UnmergedOut(Projections):
    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        q, k, v = (_heads(self, p(x), B, T) for p in (self.q_proj, self.k_proj, self.v_proj))
        y, w = _attend(q, k, v, mask, math.sqrt(self.head_dim))
        return (y, w) if return_weights else y


class OtherNames(nn.Module):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__()
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.W_o = nn.Linear(d_model, d_model, bias=bias)


class PerHeadSizes(Projections):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__(d_model, num_heads, bias)
        self.q_proj = nn.Linear(d_model, d_model // num_heads, bias=bias)


class ForgotSuperInit(nn.Module):
    def __init__(self, d_model, num_heads, bias=True):
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)


class BiasIgnored(StudentMHA):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__(d_model, num_heads)


class ExtraPerHeadLayers(StudentMHA):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__(d_model, num_heads, bias)
        self.heads = nn.ModuleList(nn.Linear(d_model, d_model) for _ in range(num_heads))


class SharedKeyProjection(Projections):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__(d_model, num_heads, bias)
        self.k_proj = self.q_proj


class NoMaskArgument(StudentMHA):
    def forward(self, x, return_weights=False):
        return super().forward(x, None, return_weights)


class OnlyFloat32(EinsumMHA):
    def forward(self, x, mask=None, return_weights=False):
        if return_weights:
            return tuple(t.float() for t in super().forward(x, mask, True))
        return super().forward(x, mask).float()


class ChangesOut(StudentMHA):
    def forward(self, x, mask=None, return_weights=False):
        out = super().forward(x, mask)
        return (out + 1, super().forward(x, mask, True)[1]) if return_weights else out


class ScalesInputInPlace(StudentMHA):
    def forward(self, x, mask=None, return_weights=False):
        x.mul_(2.0)
        return super().forward(x, mask, return_weights)


class NotAModule:
    def __init__(self, d_model, num_heads, bias=True):
        pass


GARBAGE = [
    (Stub, "not implemented yet"),
    (ForwardStub, "not implemented yet"),
    (ConstructorRaises, "raised ValueError: no 3 heads today"),
    (ReturnsNone, "forward(x) returned None"),
    (AlwaysTuple, "without return_weights=True it must return out alone"),
    (NeverWeights, "it must return the tuple (out, weights)"),
    (UnmergedOut, "out has shape (2, 3, 5, 4), expected (2, 5, 12)"),
    (OtherNames, "MultiHeadSelfAttention needs nn.Linear attributes q_proj, k_proj, v_proj, "
                 "out_proj; missing: q_proj, k_proj, v_proj, out_proj"),
    (PerHeadSizes, "q_proj maps 12 → 4 features, expected 12 → 12"),
    (ForgotSuperInit, "super().__init__()"),
    (BiasIgnored, "q_proj has a bias but bias=False"),
    (ExtraPerHeadLayers, "whatever num_heads is; extra: heads.0.weight"),
    (SharedKeyProjection, "q_proj and k_proj are the same nn.Linear"),
    (NoMaskArgument, "forward must accept the mask"),
    (OnlyFloat32, "out has dtype float32, expected float64"),
    (ChangesOut, "returned another out than forward(x)"),
    (ScalesInputInPlace, "forward changed its input x in place"),
    (NotAModule, "NotAModule is a class but not an nn.Module"),
    (MultiHeadSelfAttention(12, 3), "got an instance of MultiHeadSelfAttention"),
    (lambda d_model, num_heads: None, "expected the class MultiHeadSelfAttention, got the "
                                      "function"),
    (None, "expected the class MultiHeadSelfAttention, got None"),
]


@pytest.mark.parametrize(("obj", "words"), GARBAGE,
                         ids=lambda x: getattr(x, "__name__", None) if not isinstance(x, str)
                         else None)
def test_garbage_gets_a_clear_message(obj, words, failure):
    assert words in str(failure(obj, check_multi_head_self_attention))


def test_constructor_error_points_at_the_student_line(failure):
    message = str(failure(ConstructorRaises, check_multi_head_self_attention))
    assert 'raise ValueError(f"no {num_heads} heads today")' in message


def test_missing_projection_says_what_it_does(failure):
    class NoOut(nn.Module):
        def __init__(self, d_model, num_heads, bias=True):
            super().__init__()
            self.q_proj = nn.Linear(d_model, d_model, bias=bias)
            self.k_proj = nn.Linear(d_model, d_model, bias=bias)
            self.v_proj = nn.Linear(d_model, d_model, bias=bias)

    message = str(failure(NoOut, check_multi_head_self_attention))
    assert "missing: out_proj (out_proj: nn.Linear(d_model, d_model) mixes the merged heads)" \
        in message
    assert "Found nn.Linear q_proj (12 → 12)" in message


# ==== cases, oracle, run / judge separation =================================================
def test_cases_cover_the_contract():
    cases = MHA.cases()
    pairs = {c.inputs["init"][0] for c in cases}
    assert {(12, 3), (24, 6), (32, 4), (16, 16), (8, 1), (16, 8)} <= pairs
    assert any(c.inputs["init"][1] == {"bias": False} for c in cases)
    assert {torch.float32, torch.float64} == {c.inputs["x"].dtype for c in cases}
    assert any(c.grad for c in cases)
    for c in cases:  # no empty query rows, batch and time differ (to expose (T, B, D) mix-ups)
        B, T, _ = c.inputs["x"].shape
        assert B != T
        if "mask" in c.inputs:
            assert c.inputs["mask"].expand(c.shapes[1]).any(dim=-1).all(), c.name


def test_reference_oracle_and_torch_agree():
    cases = MHA.cases(seed=4)
    assert MHA.judge(MHA.run(MultiHeadSelfAttention, cases), cases).passed
    assert MHA.judge(MHA.run(MHA.oracle, cases), cases).passed


def test_probes_hold_for_the_reference():
    cases = MHA.cases()
    records = MHA.run(MultiHeadSelfAttention, cases)
    from attn_course.checks.mha import _future_hint, _isolation_hint

    assert _isolation_hint(records, cases) is None and _future_hint(records, cases) is None
    iso = next(i for i, c in enumerate(cases) if c.probe[:1] == ("isolation",))
    _, base, head = cases[iso].probe
    w0, w1 = (records[i].value.items[1].data for i in (base, iso))
    changed = np.abs(w0 - w1).max(axis=(0, 2, 3)) > 1e-9
    assert changed.tolist() == [h == head for h in range(len(changed))]


def test_parameter_count_does_not_depend_on_the_head_count():
    counts = {sum(p.numel() for p in MultiHeadSelfAttention(24, h).parameters())
              for h in (1, 2, 3, 4, 6, 8, 12, 24)}
    assert counts == {4 * 24 * 24 + 4 * 24}


def test_records_go_through_json_and_a_fresh_process():
    cases = MHA.cases(seed=2)
    payload = json.dumps([r.to_dict() for r in MHA.run(ScaleByDModel, cases)])
    restored = [Record.from_dict(d) for d in json.loads(payload)]
    assert CHECKS["multi_head_self_attention"].judge(restored, cases).diagnosis.mistake == \
        "scale_d_model"
    code = textwrap.dedent(
        """
        import json, sys
        from attn_course.checks import CHECKS, Record
        check = CHECKS["multi_head_self_attention"]
        records = [Record.from_dict(d) for d in json.loads(sys.stdin.read())]
        print(check.judge(records, check.cases(seed=2)).diagnosis.mistake)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.stdout.strip() == "scale_d_model", done.stderr


