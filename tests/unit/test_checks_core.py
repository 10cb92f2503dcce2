"""The check machinery: results, records, run/judge separation, the mistake catalogue."""

import json
import pickle
import subprocess
import sys
import textwrap

import pytest
import torch

from attn_course.checks import (
    CAUSAL_MASK_CHECK,
    SDPA_CHECK,
    SOFTMAX_CHECK,
    Case,
    Check,
    CheckFailed,
    CheckResult,
    Record,
    check_causal_mask,
    check_scaled_dot_product_attention,
    check_softmax,
)
from attn_course.checks.records import to_value
from attn_course.reference import causal_mask, scaled_dot_product_attention, softmax


def no_scale(q, k, v, mask=None):
    s = q @ k.transpose(-2, -1)
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    w = s.softmax(-1)
    return w @ v, w


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


def test_check_functions_hide_their_frames():
    for fn in (check_softmax, check_scaled_dot_product_attention, check_causal_mask, Check.check):
        assert "__tracebackhide__" in fn.__code__.co_varnames


# ---- run / judge separation ----------------------------------------------------------------
def test_records_pickle_and_are_judged_by_a_fresh_check():
    cases = SDPA_CHECK.cases(seed=3)
    records = SDPA_CHECK.run(no_scale, cases)
    restored = pickle.loads(pickle.dumps(records))
    fresh = Check(
        SDPA_CHECK.name,
        check_function=SDPA_CHECK.check_function,
        outputs=SDPA_CHECK.outputs,
        signature=SDPA_CHECK.signature,
        make_cases=SDPA_CHECK._make_cases,
        oracle=SDPA_CHECK.oracle,
        mistakes=SDPA_CHECK.mistakes,
    )
    verdict = fresh.judge(restored, fresh.cases(seed=3))
    assert not verdict.passed
    assert verdict.diagnosis.mistake == "no_scale"


def test_records_survive_json_and_match_the_direct_verdict():
    cases = SOFTMAX_CHECK.cases()
    records = SOFTMAX_CHECK.run(lambda x, dim=-1: torch.exp(x) / torch.exp(x).sum(dim, True), cases)
    text = json.dumps([r.to_dict() for r in records])
    restored = [Record.from_dict(d) for d in json.loads(text)]
    direct, via_json = SOFTMAX_CHECK.judge(records, cases), SOFTMAX_CHECK.judge(restored, cases)
    assert via_json.message == direct.message
    assert via_json.diagnosis.mistake == "unstable"


def test_judge_in_another_process():
    cases = SDPA_CHECK.cases(seed=1)
    payload = json.dumps([r.to_dict() for r in SDPA_CHECK.run(scaled_dot_product_attention,
                                                             cases)])
    code = textwrap.dedent(
        """
        import json, sys
        from attn_course.checks import SDPA_CHECK, Record
        records = [Record.from_dict(d) for d in json.loads(sys.stdin.read())]
        verdict = SDPA_CHECK.judge(records, SDPA_CHECK.cases(seed=1))
        print("PASSED" if verdict.passed else verdict.message)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.stdout.strip() == "PASSED", done.stderr


def test_judge_rejects_foreign_records():
    records = SDPA_CHECK.run(scaled_dot_product_attention, SDPA_CHECK.cases())
    with pytest.raises(ValueError, match="do not belong"):
        SDPA_CHECK.judge(records, SDPA_CHECK.cases(masks=False))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda d: d.update(status="passed"),
        lambda d: d["value"]["items"][0]["data"].update(shape=[99]),
        lambda d: d.update(printed="lots"),
        lambda d: d.pop("case"),
    ],
)
def test_from_dict_rejects_malformed_records(mangle):
    case = SDPA_CHECK.cases()[0]
    d = SDPA_CHECK.run(scaled_dot_product_attention, [case])[0].to_dict()
    mangle(d)
    with pytest.raises(ValueError, match="malformed record"):
        Record.from_dict(d)


# ---- the mistake catalogue -----------------------------------------------------------------
CATALOGUES = [
    (SDPA_CHECK, check_scaled_dot_product_attention),
    (SOFTMAX_CHECK, check_softmax),
    (CAUSAL_MASK_CHECK, check_causal_mask),
]


@pytest.mark.parametrize(("check", "run_check"), CATALOGUES, ids=lambda c: getattr(c, "name", ""))
def test_every_catalogue_variant_fails_and_is_named(check, run_check):
    for mistake in check.mistakes:
        for variant in mistake.variants:
            with pytest.raises(CheckFailed) as info:
                run_check(variant)
            diagnosis = info.value.verdict.diagnosis
            assert diagnosis.mistake == mistake.name, (mistake.name, str(info.value))
            assert diagnosis.confidence == "match"


@pytest.mark.parametrize(("check", "correct"), [
    (SDPA_CHECK, scaled_dot_product_attention),
    (SOFTMAX_CHECK, softmax),
    (CAUSAL_MASK_CHECK, causal_mask),
])
def test_oracle_and_reference_agree(check, correct):
    cases = check.cases()
    assert check.judge(check.run(correct, cases), cases).passed
    assert check.judge(check.run(check.oracle, cases), cases).passed


def test_cases_are_deterministic_and_seeded():
    a, b, c = SDPA_CHECK.cases(0), SDPA_CHECK.cases(0), SDPA_CHECK.cases(1)
    assert [x.name for x in a] == [x.name for x in c]
    assert all(torch.equal(x.inputs["q"], y.inputs["q"]) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[1].inputs["q"], c[1].inputs["q"])


def test_judged_cases_have_no_fully_masked_rows():
    for case in SDPA_CHECK.cases(seed=5):
        mask = case.inputs.get("mask")
        if mask is not None:
            full = mask.expand(case.shapes[1])
            assert full.any(dim=-1).all(), case.name
            assert (~full).any(), case.name


def test_large_logit_cases_overflow_a_naive_softmax():
    for case in SDPA_CHECK.cases():
        if "large_logits" in case.flags:
            q, k = case.inputs["q"], case.inputs["k"]
            scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
            assert not torch.isfinite(torch.exp(scores)).all() or (scores < -700).all()


def test_call_text():
    case = Case("c", {"x": torch.ones(2), "dim": 0}, ((2,),), (0, 0), keywords=("dim",))
    assert case.call_text("softmax") == "softmax(x, dim=0)"
    assert Case("c", {"T": 4}, ((4, 4),), (0, 0)).call_text("causal_mask") == "causal_mask(4)"


def test_to_value_never_trusts_the_object():
    class Liar:
        @property
        def __class__(self):
            return torch.Tensor

    v = to_value(Liar())
    assert v.kind == "other" and v.type_name == "Liar"
    assert to_value(None).kind == "none"
    assert to_value(torch.ones(2, dtype=torch.complex64)).kind == "unreadable"
    assert to_value([torch.ones(1)] * 20).note == "20 items"


# ---- building a new check from the core ----------------------------------------------------
def _double_cases(seed=0, device="cpu"):
    from attn_course.checks import Case

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
    from attn_course.checks import Check, Mistake
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


def test_registry_is_keyed_by_the_names_students_call(monkeypatch):
    import attn_course.checks as checks

    public = {name for name in checks.__all__ if name.startswith("check_")}
    assert {f"check_{key}" for key in checks.CHECKS} == public
    for key, check in checks.CHECKS.items():
        assert check.check_function == f"check_{key}" and check.registry_name == key
        # the function students call runs exactly the registered check
        calls: list = []
        monkeypatch.setattr(check, "check", lambda fn, calls=calls, **kw: calls.append(fn))
        getattr(checks, f"check_{key}")("the answer")
        assert calls == ["the answer"], key
    assert set(checks.CHECKS) == {"softmax", "scaled_dot_product_attention", "causal_mask",
                                  "self_attention", "positional_encoding", "split_heads",
                                  "merge_heads", "multi_head_self_attention"}


def test_a_record_stripped_of_its_values_fails():
    cases = SDPA_CHECK.cases()
    dicts = [r.to_dict() for r in SDPA_CHECK.run(scaled_dot_product_attention, cases)]
    for d in dicts:
        for item in d["value"]["items"]:
            item["data"] = None  # forged: right shapes and dtypes, no numbers
    verdict = SDPA_CHECK.judge([Record.from_dict(d) for d in dicts], cases)
    assert not verdict.passed
    assert "no numbers" in verdict.message
