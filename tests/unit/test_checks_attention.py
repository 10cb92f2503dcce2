"""Every known mistake in scaled dot-product attention is recognised and named.

Each buggy implementation is written the way a student would write it (not taken from the
checker's own catalogue), so a test fails if the diagnosis stops matching real code.
"""

import math

import numpy as np
import pytest
import torch

from attn_course.checks import CheckFailed, check_scaled_dot_product_attention
from attn_course.reference import scaled_dot_product_attention as reference_sdpa

NEG_INF = float("-inf")


def _mask(scores, mask, fill=NEG_INF):
    return scores if mask is None else scores.masked_fill(~mask, fill)


# ---- scaling -------------------------------------------------------------------------------
def no_scale(q, k, v, mask=None):
    scores = _mask(q @ k.transpose(-2, -1), mask)
    w = torch.softmax(scores, dim=-1)
    return w @ v, w


def scale_by_dk(q, k, v, mask=None):
    scores = _mask(q @ k.transpose(-2, -1) / q.shape[-1], mask)
    w = torch.softmax(scores, dim=-1)
    return w @ v, w


def scale_by_sqrt_dv(q, k, v, mask=None):
    scores = _mask(q @ k.transpose(-2, -1) / math.sqrt(v.size(-1)), mask)
    w = torch.softmax(scores, dim=-1)
    return w @ v, w


def scale_multiplied(q, k, v, mask=None):
    scores = _mask(q @ k.transpose(-2, -1) * math.sqrt(q.shape[-1]), mask)
    w = torch.softmax(scores, dim=-1)
    return w @ v, w


def scale_by_seq_len(q, k, v, mask=None):
    d_k = k.size(1)  # the sequence length for (B, T, d) inputs
    scores = _mask(q @ k.transpose(-2, -1) / d_k**0.5, mask)
    w = torch.softmax(scores, dim=-1)
    return w @ v, w


def scale_odd(q, k, v, mask=None):
    scores = _mask(q @ k.transpose(-2, -1) * 0.125, mask)
    w = torch.softmax(scores, dim=-1)
    return w @ v, w


def scale_after_softmax(q, k, v, mask=None):
    w = torch.softmax(_mask(q @ k.transpose(-2, -1), mask), dim=-1) / math.sqrt(q.shape[-1])
    return w @ v, w


# ---- softmax axis and form -----------------------------------------------------------------
def _softmax_dim(dim):
    def sdpa(q, k, v, mask=None):
        scores = _mask(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask)
        w = torch.softmax(scores, dim=dim)
        return w @ v, w

    return sdpa


def unstable_softmax(q, k, v, mask=None):
    scores = _mask(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask)
    e = torch.exp(scores)
    w = e / e.sum(dim=-1, keepdim=True)
    return w @ v, w


def weights_before_softmax(q, k, v, mask=None):
    scores = _mask(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask)
    return torch.softmax(scores, dim=-1) @ v, scores


def no_softmax(q, k, v, mask=None):
    scores = _mask(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask, -1e9)
    return scores @ v, scores


# ---- masks ---------------------------------------------------------------------------------
def mask_inverted(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask, NEG_INF)
    w = torch.softmax(scores, dim=-1)
    return w @ v, w


def mask_inverted_where(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = torch.where(mask, torch.full_like(scores, -1e9), scores)
    w = scores.softmax(-1)
    return w @ v, w


def mask_ignored(q, k, v, mask=None):
    w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return w @ v, w


def mask_multiplied_after_softmax(q, k, v, mask=None):
    w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    if mask is not None:
        w = w * mask
    return w @ v, w


def mask_zeroed_after_softmax(q, k, v, mask=None):
    w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    if mask is not None:
        w = w.masked_fill(~mask, 0.0)
    return w @ v, w


def mask_fill_zero(q, k, v, mask=None):
    scores = _mask(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask, 0.0)
    w = torch.softmax(scores, dim=-1)
    return w @ v, w


def _fill(value):
    def sdpa(q, k, v, mask=None):
        scores = _mask(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask, value)
        w = torch.softmax(scores, dim=-1)
        return w @ v, w

    return sdpa


# ---- shapes, orders, batch dims ------------------------------------------------------------
def weights_transposed(q, k, v, mask=None):
    w = torch.softmax(_mask(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask), dim=-1)
    return w @ v, w.transpose(-2, -1)


def swapped(q, k, v, mask=None):
    w = torch.softmax(_mask(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask), dim=-1)
    return w, w @ v


def out_from_k(q, k, v, mask=None):
    w = torch.softmax(_mask(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask), dim=-1)
    return w @ k, w


def out_transposed_weights(q, k, v, mask=None):
    w = torch.softmax(_mask(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask), dim=-1)
    return w.transpose(-2, -1) @ v, w


def three_d_transpose(q, k, v, mask=None):
    scores = _mask(q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), mask)
    w = torch.softmax(scores, dim=-1)
    return w @ v, w


def three_d_bmm(q, k, v, mask=None):
    scores = _mask(torch.bmm(q, k.transpose(1, 2)) / math.sqrt(q.shape[-1]), mask)
    w = torch.softmax(scores, dim=2)
    return torch.bmm(w, v), w


def dot_T(q, k, v, mask=None):
    scores = _mask(q @ k.T / math.sqrt(q.shape[-1]), mask)
    w = torch.softmax(scores, dim=-1)
    return w @ v, w


def assumes_dk_equals_dv(q, k, v, mask=None):
    w = torch.softmax(_mask(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask), dim=-1)
    out = torch.zeros_like(q)  # (..., T_q, d_k): only right when d_k == d_v
    for i in range(q.shape[-2]):
        out[..., i, :] = (w[..., i : i + 1, :] @ v)[..., 0, :]
    return out, w


def assumes_tq_equals_tk(q, k, v, mask=None):
    T = q.shape[-2]
    scores = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).reshape(*q.shape[:-2], T, T)
    w = torch.softmax(_mask(scores, mask), dim=-1)
    return w @ v, w


# ---- side effects, dtype, autograd ---------------------------------------------------------
def inplace_q(q, k, v, mask=None):
    q /= math.sqrt(q.shape[-1])
    w = torch.softmax(_mask(q @ k.transpose(-2, -1), mask), dim=-1)
    return w @ v, w


def dtype_float(q, k, v, mask=None):
    q, k, v = q.float(), k.float(), v.float()
    w = torch.softmax(_mask(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask), dim=-1)
    return w @ v, w


def detached(q, k, v, mask=None):
    w = torch.softmax(_mask(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask), dim=-1)
    return (w @ v).detach(), w.detach()


def uses_data(q, k, v, mask=None):
    q, k, v = q.data, k.data, v.data
    w = torch.softmax(_mask(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask), dim=-1)
    return w @ v, w


def under_no_grad(q, k, v, mask=None):
    with torch.no_grad():
        w = torch.softmax(_mask(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask), dim=-1)
        return w @ v, w


def numpy_round_trip(q, k, v, mask=None):
    qn, kn = q.detach().numpy(), k.detach().numpy()
    scores = torch.from_numpy(qn @ np.swapaxes(kn, -1, -2) / math.sqrt(q.shape[-1]))
    w = torch.softmax(_mask(scores, mask), dim=-1)
    return w @ v, w


DIAGNOSES = [
    (no_scale, "not scaled"),
    (scale_by_dk, "divided by d_k instead of √d_k"),
    (scale_by_sqrt_dv, "wrong size"),
    (scale_multiplied, "multiplied by √d_k"),
    (scale_by_seq_len, "wrong size"),
    (scale_odd, "scaled by ≈0.125, but 1/√d_k"),
    (scale_after_softmax, "after the softmax"),
    (_softmax_dim(-2), "softmax runs over the wrong dim"),
    (_softmax_dim(0), "softmax runs over the wrong dim"),
    (_softmax_dim(1), "softmax runs over the wrong dim"),
    (unstable_softmax, "numerically unstable"),
    (weights_before_softmax, "scores before the softmax"),
    (no_softmax, "no softmax"),
    (mask_inverted, "mask is inverted"),
    (mask_inverted_where, "mask is inverted"),
    (mask_ignored, "mask is ignored"),
    (mask_multiplied_after_softmax, "applied after the softmax"),
    (mask_zeroed_after_softmax, "applied after the softmax"),
    (mask_fill_zero, "set to 0 instead of -inf"),
    (_fill(-1e4), "not negative enough"),
    (_fill(-1e5), "not negative enough"),
    (_fill(-3e3), "not negative enough"),
    (weights_transposed, "weights are transposed"),
    (swapped, "wrong order"),
    (out_from_k, "from k instead of v"),
    (out_transposed_weights, "transposed weights"),
    (three_d_transpose, "only works for 3-D"),
    (three_d_bmm, "only works for 3-D"),
    (dot_T, "k.T"),
    (assumes_dk_equals_dv, "d_k ≠ d_v"),
    (assumes_tq_equals_tk, "T_q ≠ T_k"),
    (inplace_q, "modified in place"),
    (dtype_float, "float64 inputs came back as float32"),
    (detached, "gradients do not reach q, k, v"),
    (uses_data, "gradients do not reach"),
    (under_no_grad, "gradients do not reach"),
    (numpy_round_trip, "numpy"),
]


@pytest.mark.parametrize(
    ("fn", "keyword"), DIAGNOSES, ids=[f.__name__ + f"-{i}" for i, (f, _) in enumerate(DIAGNOSES)]
)
def test_mistake_is_named(fn, keyword):
    with pytest.raises(CheckFailed) as info:
        check_scaled_dot_product_attention(fn)
    message = str(info.value)
    assert keyword in message, message
    assert "Traceback" not in message
    assert "attn_course/checks" not in message


def test_reference_passes_with_and_without_masks():
    result = check_scaled_dot_product_attention(reference_sdpa)
    assert str(result).startswith("✓ scaled_dot_product_attention:")
    unmasked = check_scaled_dot_product_attention(reference_sdpa, masks=False)
    assert len(unmasked.cases) < len(result.cases)


def test_masks_false_accepts_a_function_without_mask_argument():
    def sdpa(q, k, v):
        w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
        return w @ v, w

    check_scaled_dot_product_attention(sdpa, masks=False)
    with pytest.raises(CheckFailed, match="cannot be called"):
        check_scaled_dot_product_attention(sdpa)


def test_mask_mistakes_pass_when_masks_are_off():
    # Before masking is taught, code that ignores the mask is correct.
    check_scaled_dot_product_attention(mask_ignored, masks=False)
    check_scaled_dot_product_attention(mask_inverted, masks=False)


def test_diagnosis_is_exposed_on_the_exception():
    with pytest.raises(CheckFailed) as info:
        check_scaled_dot_product_attention(no_scale)
    verdict = info.value.verdict
    assert verdict is not None and not verdict.passed
    assert verdict.diagnosis.mistake == "no_scale"
    assert verdict.diagnosis.confidence == "match"
    assert 0 <= verdict.n_passed < len(verdict.results)


def test_first_failing_case_and_its_call_are_shown():
    with pytest.raises(CheckFailed) as info:
        check_scaled_dot_product_attention(three_d_transpose)
    message = str(info.value)
    assert "First failing case: 2-D" in message
    assert "scaled_dot_product_attention(q, k, v)" in message
    assert "IndexError" in message
    # the student's own line is quoted
    assert "k.transpose(1, 2)" in message


def test_two_mistakes_at_once_get_a_partial_diagnosis():
    def no_scale_and_inverted(q, k, v, mask=None):
        scores = q @ k.transpose(-2, -1)
        if mask is not None:
            scores = scores.masked_fill(mask, NEG_INF)
        w = torch.softmax(scores, dim=-1)
        return w @ v, w

    with pytest.raises(CheckFailed) as info:
        check_scaled_dot_product_attention(no_scale_and_inverted)
    assert "Possible mistake: the scores are not scaled" in str(info.value)


def test_unknown_mistake_gets_generic_hints():
    def rows_do_not_sum_to_one(q, k, v, mask=None):
        scores = _mask(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask)
        w = torch.softmax(scores, dim=-1) * 0.9
        return w @ v, w

    with pytest.raises(CheckFailed) as info:
        check_scaled_dot_product_attention(rows_do_not_sum_to_one)
    assert "rows of weights do not sum to 1" in str(info.value)


def test_out_not_weights_at_v_is_explained():
    def out_wrong(q, k, v, mask=None):
        w = torch.softmax(_mask(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask), dim=-1)
        return w @ v + 0.1, w

    with pytest.raises(CheckFailed) as info:
        check_scaled_dot_product_attention(out_wrong)
    assert "out is not weights @ v" in str(info.value)
