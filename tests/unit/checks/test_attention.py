"""scaled_dot_product_attention: correct implementations in many styles pass; each known mistake,

written the way a student would write it (not taken from the checker's own catalogue), is
named; garbage gets a clear verdict."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from attn_course.checks import SCALED_DOT_PRODUCT_ATTENTION_CHECK as ATTENTION
from attn_course.checks import (
    CheckFailed,
    check_scaled_dot_product_attention,
)
from attn_course.reference import (
    scaled_dot_product_attention,
)
from attn_course.reference import scaled_dot_product_attention as reference_sdpa
from tests.unit.checks.students import sdpa as ref

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


def test_cases_are_deterministic_and_seeded():
    a, b, c = ATTENTION.cases(0), ATTENTION.cases(0), ATTENTION.cases(1)
    assert [x.name for x in a] == [x.name for x in c[:len(a)]]  # seed 1 adds drawn cases
    assert all(torch.equal(x.inputs["q"], y.inputs["q"]) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[1].inputs["q"], c[1].inputs["q"])


def test_judged_cases_have_no_fully_masked_rows():
    for case in ATTENTION.cases(seed=5):
        mask = case.inputs.get("mask")
        if mask is not None:
            full = mask.expand(case.shapes[1])
            assert full.any(dim=-1).all(), case.name
            assert (~full).any(), case.name


def test_large_logit_cases_overflow_a_naive_softmax():
    for case in ATTENTION.cases():
        if "large_logits" in case.flags:
            q, k = case.inputs["q"], case.inputs["k"]
            scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
            assert not torch.isfinite(torch.exp(scores)).all() or (scores < -700).all()




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




class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __float__(self):
        return 0.0

    def __len__(self):
        return 2


class SneakyTensor(torch.Tensor):
    """Claims to equal anything, under == and under torch's own comparisons."""

    def __eq__(self, other):
        return True

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal, torch.Tensor.allclose, torch.Tensor.equal):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


class BadMessage(Exception):
    def __str__(self):
        raise RuntimeError("no message for you")


def exit_now():
    raise SystemExit(1)


def stub(q, k, v, mask=None):
    # YOUR CODE HERE
    raise NotImplementedError()


GARBAGE = [
    (stub, "not implemented yet: replace the `raise NotImplementedError()` line"),
    (lambda q, k, v, mask=None: None, "returned None"),
    (lambda q, k, v, mask=None: ref(q, k, v, mask)[0], "return out, weights"),
    (lambda q, k, v, mask=None: (*ref(q, k, v, mask), 0), "3 items; expected 2"),
    (lambda q, k, v, mask=None: tuple(t.detach().numpy() for t in ref(q, k, v, mask)),
     "numpy array"),
    (lambda q, k, v, mask=None: tuple(t.tolist() for t in ref(q, k, v, mask)), "a list"),
    (lambda q, k, v, mask=None: (ref(q, k, v, mask)[0][None], ref(q, k, v, mask)[1]),
     "extra leading dims"),
    (lambda q, k, v, mask=None: (ref(q, k, v, mask)[0], ref(q, k, v, mask)[1].mT),
     "transposed"),
    (lambda q, k, v, mask=None: tuple(torch.full_like(t, math.nan) for t in ref(q, k, v, mask)),
     "NaN"),
    (lambda q, k, v, mask=None: (AlwaysEqual(), AlwaysEqual()), "AlwaysEqual"),
    (lambda q, k, v, mask=None: tuple(torch.zeros_like(t).as_subclass(SneakyTensor)
                                      for t in ref(q, k, v, mask)), "values differ"),
    (lambda q, k, v, mask=None: (x for x in ref(q, k, v, mask)), "generator"),
    (lambda q, k, v, mask=None: {"out": 1}, "dict"),
    (lambda q, k, v, mask=None: 3.0, "Python float"),
    (lambda q, k, v: ref(q, k, v), "cannot be called as scaled_dot_product_attention(q, k, v"),
    (lambda q, k, v, mask=None: exit_now(), "exit()"),
    (lambda q, k, v, mask=None: (_ for _ in ()).throw(BadMessage()), "BadMessage"),
    (lambda q, k, v, mask=None: (ref(q, k, v, mask)[0], ref(q, k, v, mask)[1].to(torch.complex64)),
     "could not be read"),
]


@pytest.mark.parametrize(("fn", "keyword"), GARBAGE)
def test_garbage_gives_a_clear_verdict(fn, keyword, message):
    assert keyword in message(fn, check_scaled_dot_product_attention)


def test_exception_reports_type_message_and_student_line(message):
    def sdpa(q, k, v, mask=None):
        scores = q @ k.transpose(-2, -1)
        raise ValueError(f"oops {scores.shape[-1]}")

    message = message(sdpa, check_scaled_dot_product_attention)
    assert "ValueError: oops 4" in message
    assert 'raise ValueError(f"oops {scores.shape[-1]}")' in message
    assert "in sdpa" in message


def test_subclass_with_correct_values_is_judged_on_its_data():
    def subclass_out(q, k, v, mask=None):
        return tuple(t.as_subclass(SneakyTensor) for t in ref(q, k, v, mask))

    assert check_scaled_dot_product_attention(subclass_out).passed


@pytest.mark.parametrize(("fn", "used"), [
    (sdpa_torch_out, "F.scaled_dot_product_attention"),
    (lambda q, k, v, mask=None: ref(q, k, v, mask), ""),
    (F.scaled_dot_product_attention, "itself"),
], ids=["torch", "students-own", "the function itself"])
def test_torchs_attention_is_refused_and_the_students_own_helper_is_not(fn, used):
    if not used:  # a helper the student wrote in another cell is their own work
        assert check_scaled_dot_product_attention(fn).passed
        return
    with pytest.raises(CheckFailed) as info:
        check_scaled_dot_product_attention(fn)
    assert used in str(info.value) and "yourself" in str(info.value)


def test_the_courses_reference_is_refused_inside_a_students_function():
    from attn_course import reference

    def delegates(q, k, v, mask=None):
        return reference.scaled_dot_product_attention(q, k, v, mask)

    with pytest.raises(CheckFailed, match="`reference` is the module attn_course.reference"):
        check_scaled_dot_product_attention(delegates)
