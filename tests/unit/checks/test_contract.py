"""The contract every registered check keeps, whatever its exercise.

- The registry: `CHECKS[<name>]` is the check behind the public `check_<name>`, and every public
  check function is registered.
- The course's reference implementation passes (the oracle and the reference agree).
- Every known mistake's every variant fails, and the verdict names that mistake.
- Garbage (not a function, None, an exception, NaNs) gets a verdict, never an internal traceback.
- The check functions hide their own frames from pytest-style tracebacks.
"""

from __future__ import annotations

import math
import sys

import pytest
import torch

import attn_course.checks as checks
from attn_course import reference
from attn_course.checks import CHECKS, Check, CheckFailed
from attn_course.reference import flash_triton, head_parallel

# The course's reference implementation of each exercise.
REFERENCES = {
    "softmax": reference.softmax,
    "scaled_dot_product_attention": reference.scaled_dot_product_attention,
    "causal_mask": reference.causal_mask,
    "cross_attention": reference.cross_attention,
    "self_attention": reference.SelfAttention,
    "positional_encoding": reference.sinusoidal_positional_encoding,
    "split_heads": reference.split_heads,
    "merge_heads": reference.merge_heads,
    "multi_head_self_attention": reference.MultiHeadSelfAttention,
    "offset_profile": reference.offset_profile,
    "online_softmax": reference.online_softmax,
    "flash_attention": reference.flash_attention_lse,
    "flash_kernel": flash_triton.reference_kernel() if flash_triton.triton_available()[0] else None,
    "batched_heads": reference.heads_batched,
    "grouped_query_attention": reference.grouped_query_attention,
    "mask_heads": reference.mask_heads,
    "head_parallel_attention": head_parallel.head_parallel_attention,
    "pre_ln_block": reference.pre_ln_block,
    "attend_with_cache": reference.attend_with_cache,
    "induction_score": reference.induction_score,
}
NAMES = sorted(CHECKS)
VARIANTS = [(name, mistake.name, i) for name in NAMES for mistake in CHECKS[name].mistakes
            for i in range(len(mistake.variants))]


def _cases_module(check: Check) -> str:
    return check._make_cases.__module__


def public_check(name: str):
    return getattr(checks, f"check_{name}")


def test_every_public_check_function_is_registered_under_its_own_name(monkeypatch):
    public = {n for n in dir(checks) if n.startswith("check_") and callable(getattr(checks, n))}
    assert public == {f"check_{name}" for name in CHECKS} == set(checks.__all__) & public
    assert set(REFERENCES) == set(CHECKS)
    for name, check in CHECKS.items():
        assert (check.check_function, check.registry_name) == (f"check_{name}", name)
        # one naming scheme: <NAME>_CHECK, and <NAME>_MISTAKES beside the cases that built it
        assert getattr(checks, f"{name.upper()}_CHECK") is check
        home = sys.modules[_cases_module(check)]
        assert getattr(home, f"{name.upper()}_MISTAKES") == check.mistakes
        calls: list = []  # the public function runs exactly the registered check
        monkeypatch.setattr(check, "check", lambda fn, calls=calls, **kw: calls.append(fn))
        public_check(name)("the answer")
        assert calls == ["the answer"], name


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [0, 1])
def test_the_reference_passes(name, seed):
    result = public_check(name)(REFERENCES[name], seed=seed)
    assert result.passed and str(result).startswith(f"✓ {CHECKS[name].name}:")
    check = CHECKS[name]
    cases = check.cases(seed)
    assert check.judge(check.run(check.oracle, cases), cases).passed


@pytest.mark.parametrize(("name", "mistake", "index"), VARIANTS,
                         ids=[f"{n}-{m}-{i}" for n, m, i in VARIANTS])
def test_every_known_mistake_fails_and_is_named(name, mistake, index, failure):
    variant = next(m for m in CHECKS[name].mistakes if m.name == mistake).variants[index]
    err = failure(variant, public_check(name))
    diagnosis = err.verdict.diagnosis
    assert (diagnosis.mistake, diagnosis.confidence) == (mistake, "match"), str(err)
    assert f"Likely mistake: {diagnosis.title}." in str(err)


class _AnyModule(torch.nn.Module):
    """A module with the wrong everything: no projections, returns None."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, *args, **kwargs):
        return None


def _raises(*args, **kwargs):
    raise ValueError("something broke")


def _stub(*args, **kwargs):
    raise NotImplementedError()


GARBAGE = {
    "None": None,
    "a number": 3,
    "a string": "my answer",
    "a tensor": torch.ones(2, 3),
    "returns None": lambda *args, **kwargs: None,
    "returns NaN": lambda *args, **kwargs: torch.full((2, 3), math.nan),
    "raises": _raises,
    "a stub": _stub,
    "a module that does nothing": _AnyModule,
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("garbage", sorted(GARBAGE))
def test_garbage_gets_a_verdict_not_a_traceback(name, garbage, failure):
    err = failure(GARBAGE[garbage], public_check(name))
    text = str(err)
    assert text.startswith(f"{CHECKS[name].name}:"), text
    assert "File \"" not in text and "site-packages" not in text


@pytest.mark.parametrize("name", NAMES)
def test_check_functions_hide_their_frames(name):
    for fn in (public_check(name), Check.check):
        assert "__tracebackhide__" in fn.__code__.co_varnames


def test_a_failure_is_an_assertion_error():
    assert issubclass(CheckFailed, AssertionError)
