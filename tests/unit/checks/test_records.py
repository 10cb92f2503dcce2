"""Records: plain data that survives pickle, JSON and another process, and is validated on the

way back; values are read without trusting the object."""

import json
import pickle
import subprocess
import sys
import textwrap

import pytest
import torch

from attn_course.checks import SCALED_DOT_PRODUCT_ATTENTION_CHECK as ATTENTION
from attn_course.checks import (
    SOFTMAX_CHECK,
    Case,
    Check,
    Record,
)
from attn_course.checks.records import to_value
from attn_course.reference import (
    scaled_dot_product_attention,
)
from tests.unit.checks.students import sdpa_without_scale as no_scale


# ---- run / judge separation ----------------------------------------------------------------
def test_records_pickle_and_are_judged_by_a_fresh_check():
    cases = ATTENTION.cases(seed=3)
    records = ATTENTION.run(no_scale, cases)
    restored = pickle.loads(pickle.dumps(records))
    fresh = Check(
        ATTENTION.name,
        check_function=ATTENTION.check_function,
        outputs=ATTENTION.outputs,
        signature=ATTENTION.signature,
        make_cases=ATTENTION._make_cases,
        oracle=ATTENTION.oracle,
        mistakes=ATTENTION.mistakes,
        draw=ATTENTION._draw,
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
    cases = ATTENTION.cases(seed=1)
    payload = json.dumps([r.to_dict() for r in ATTENTION.run(scaled_dot_product_attention,
                                                             cases)])
    code = textwrap.dedent(
        """
        import json, sys
        from attn_course.checks import SCALED_DOT_PRODUCT_ATTENTION_CHECK as ATTENTION, Record
        records = [Record.from_dict(d) for d in json.loads(sys.stdin.read())]
        verdict = ATTENTION.judge(records, ATTENTION.cases(seed=1))
        print("PASSED" if verdict.passed else verdict.message)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.stdout.strip() == "PASSED", done.stderr


def test_judge_rejects_foreign_records():
    records = ATTENTION.run(scaled_dot_product_attention, ATTENTION.cases())
    with pytest.raises(ValueError, match="do not belong"):
        ATTENTION.judge(records, ATTENTION.cases(masks=False))


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
    case = ATTENTION.cases()[0]
    d = ATTENTION.run(scaled_dot_product_attention, [case])[0].to_dict()
    mangle(d)
    with pytest.raises(ValueError, match="malformed record"):
        Record.from_dict(d)


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


def test_a_record_stripped_of_its_values_fails():
    cases = ATTENTION.cases()
    dicts = [r.to_dict() for r in ATTENTION.run(scaled_dot_product_attention, cases)]
    for d in dicts:
        for item in d["value"]["items"]:
            item["data"] = None  # forged: right shapes and dtypes, no numbers
    verdict = ATTENTION.judge([Record.from_dict(d) for d in dicts], cases)
    assert not verdict.passed
    assert "no numbers" in verdict.message


@pytest.mark.parametrize("reason", ["skipped", "no graph", "not reached", None])
def test_a_forged_reason_for_a_missing_gradient_fails(reason):
    """An SDPA with no autograd, whose records claim its gradients were merely skipped."""
    cases = ATTENTION.cases()
    dicts = [r.to_dict() for r in ATTENTION.run(scaled_dot_product_attention, cases)]
    for d, case in zip(dicts, cases, strict=True):
        for name in case.grad:
            if reason is None:
                d["grads"].pop(name)
            else:
                d["grads"][name] = reason
    verdict = ATTENTION.judge([Record.from_dict(d) for d in dicts], cases)
    assert not verdict.passed and "gradients do not reach q, k, v" in verdict.message
