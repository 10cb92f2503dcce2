"""The Check: results shown to the student, and a new check built from the parts."""

import pickle

import pytest
import torch

from attn_course.checks import (
    Case,
    Check,
    CheckFailed,
    CheckResult,
    check_scaled_dot_product_attention,
    check_softmax,
)
from attn_course.reference import (
    scaled_dot_product_attention,
    softmax,
)
from tests.unit.checks.students import sdpa_without_scale as no_scale


# ---- CheckResult ---------------------------------------------------------------------------
def test_result_renders_as_text_and_html():
    result = check_scaled_dot_product_attention(scaled_dot_product_attention)
    n = len(result.cases)
    assert repr(result) == str(result) == f"✓ scaled_dot_product_attention: {n}/{n} cases passed"
    html = result._repr_html_()
    assert "✓ scaled_dot_product_attention" in html
    assert "3-D (2, 5, 8) float64 ✓" in html
    assert html.count("✓") == n + 1
    assert isinstance(result, CheckResult) and result.passed and bool(result)


def test_result_text_is_deterministic():
    a = check_softmax(softmax)
    b = check_softmax(softmax)
    assert (repr(a), a._repr_html_()) == (repr(b), b._repr_html_())


def test_html_escapes_names():
    html = CheckResult("x<script>", ("a & b",))._repr_html_()
    assert "<script>" not in html and "a &amp; b" in html


def test_check_failed_is_an_assertion_error_and_pickles():
    with pytest.raises(AssertionError) as info:
        check_scaled_dot_product_attention(no_scale)
    err = info.value
    assert isinstance(err, CheckFailed)
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.verdict.diagnosis.mistake == "no_scale"


# ---- building a new check from the core ----------------------------------------------------
def _double_cases(seed=0, device="cpu"):

    g = torch.Generator().manual_seed(seed)
    cases = []
    for i, (shape, flags) in enumerate([((3,), {"1d"}), ((2, 3), {"2d"}), ((2, 2, 3), {"3d"})]):
        x = torch.randn(*shape, generator=g, dtype=torch.float64)
        cases.append(Case(f"{len(shape)}-D", {"x": x}, (shape,), (1e-9, 1e-9),
                          flags=frozenset(flags | {"grad"}), grad=("x",),
                          grad_outputs=(torch.randn(*shape, generator=g, dtype=torch.float64),),
                          key=f"double:{seed}:{i}"))
    return cases


def _double_check():
    from attn_course.checks import Mistake
    from attn_course.checks.mistakes import fails_exactly_with

    return Check(
        "double",
        check_function="check_double",
        outputs=("y",),
        signature="def double(x): ... return y",
        make_cases=_double_cases,
        oracle=lambda x: 2 * x,
        mistakes=(
            Mistake("triple", "you multiply by 3", "multiply by 2", (lambda x: 3 * x,)),
            Mistake("only_1d", "it only works for 1-D input", "use x * 2",
                    detect=fails_exactly_with("2d", "3d")),
        ),
    )


def test_a_new_check_built_from_the_core():
    check = _double_check()
    assert check.check(lambda x: x + x).passed
    with pytest.raises(CheckFailed, match="Likely mistake: you multiply by 3"):
        check.check(lambda x: 3 * x)
    with pytest.raises(CheckFailed, match="gradients do not reach x"):
        check.check(lambda x: (2 * x).detach())
    with pytest.raises(CheckFailed, match="Likely mistake: it only works for 1-D input"):
        check.check(lambda x: 2 * x if x.ndim == 1 else x)
    with pytest.raises(CheckFailed, match="check_double\\(double\\)"):
        check.check(None)


