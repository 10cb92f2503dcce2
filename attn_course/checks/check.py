"""The Check: one exercise's cases, oracle and known mistakes, and the four steps on them.

    cases(seed)           -> list[Case]     inputs chosen to expose mistakes   (the exercise's);
                                            a seed other than 0 adds cases drawn from it (draw.py)
    run(fn, cases)        -> list[Record]   call the student's function on each case  (run.py)
    judge(records, cases) -> Verdict        compare with the oracle (judge.py); on failure name
                                            the mistake (diagnose.py) and write the message
                                            (messages.py)
    check(fn, seed=...)   -> CheckResult    all of the above; raises CheckFailed on failure

`run` and `judge` never share objects, so a grader can run student code in one process and
judge the records in another (`Record.to_dict` / `Record.from_dict` give a JSON-safe form).
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from attn_course.checks import diagnose as diagnosing
from attn_course.checks import draw as drawing
from attn_course.checks import judge as judging
from attn_course.checks.messages import failure_message
from attn_course.checks.mistakes import COMMON_EXCEPTION_HINTS, ExceptionHint, FlagHint, Mistake
from attn_course.checks.own_code import delegation
from attn_course.checks.records import Case, ErrorInfo, Record, to_value
from attn_course.checks.results import (
    CaseResult,
    CheckFailed,
    CheckResult,
    Diagnosis,
    Problem,
    Verdict,
)
from attn_course.checks.run import run_case
from attn_course.device import torch_threads
from attn_course.formatting import shape_text

__all__ = ["Check"]


class Check:
    """A configurable check: cases, oracle, output names and the catalogue of known mistakes.

    name: the exercise (function or class) name. check_function: the name of the function
    students call, `check_<exercise>`; `CHECKS` is keyed by what follows `check_`.
    outputs: names of the returned values (one name: the function returns that tensor;
    several: a tuple in that order). signature: the expected `def` line, shown when the
    student's function cannot be called with the case's arguments.
    make_cases(seed, **options) -> list[Case]: the public cases (their values vary with the
    seed, their sizes do not). draw(seed, *, start, device, **options) -> list[Case]: the
    cases any other seed adds (other sizes, both dtypes; `device` for one of them), numbered
    from `start` (see draw.py). oracle: the correct function.
    explain(records, cases, oracle_records, results) -> list of generic hints.
    dtype_hint(output, got, expected) -> message for a wrong dtype.
    forbidden: dotted paths of what the exercise asks students to write themselves (e.g.
    torch.nn.functional.scaled_dot_product_attention): an answer that uses them fails, here
    (self-study) and in the grader (`attn_course.policy`).
    """

    def __init__(
        self,
        name: str,
        *,
        check_function: str,
        outputs: tuple[str, ...],
        signature: str,
        make_cases: Callable[..., list[Case]],
        oracle: Callable,
        draw: Callable[..., list[Case]] | None = None,
        mistakes: Sequence[Mistake] = (),
        exception_hints: Sequence[ExceptionHint] = (),
        flag_hints: Sequence[FlagHint] = (),
        explain: Callable[..., list[str]] | None = None,
        dtype_hint: Callable[[str, str, str], str] | None = None,
        forbidden: Sequence[str] = (),
    ):
        if not check_function.startswith("check_"):
            raise ValueError(f"check_function must start with 'check_', got {check_function!r}")
        self.name = name
        self.check_function = check_function
        self.outputs = tuple(outputs)
        self.signature = signature
        self._make_cases = make_cases
        self._draw = draw
        self.oracle = oracle
        self.mistakes = tuple(mistakes)
        self.exception_hints = tuple(exception_hints) + COMMON_EXCEPTION_HINTS
        self.flag_hints = tuple(flag_hints)
        self.explain = explain
        self.dtype_hint = dtype_hint
        self.forbidden = tuple(forbidden)
        self._cache: OrderedDict[tuple, list[Record]] = OrderedDict()

    @property
    def registry_name(self) -> str:
        """The key of this check in `CHECKS`: the student's check function without `check_`."""
        return self.check_function.removeprefix("check_")

    def __repr__(self) -> str:
        return f"<Check {self.name}: {len(self.mistakes)} known mistakes>"

    # ---- the four steps ------------------------------------------------------------------
    def cases(self, seed: int = 0, *, accelerator: str | None = None,
              **options: Any) -> list[Case]:
        """The cases for `seed`, ordered simple -> hard: the public ones, then (for a seed other
        than 0) those drawn from the seed, one of them on `accelerator` (None: the CPU)."""
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__} ({seed!r})")
        cases = self._make_cases(seed, **options)
        if seed != drawing.PUBLIC_SEED and self._draw is not None:
            cases += self._draw(seed, start=len(cases), device=accelerator or "cpu", **options)
        return cases

    def run(self, fn: Callable, cases: Sequence[Case]) -> list[Record]:
        """Call `fn` on every case; never raises for anything `fn` does."""
        with torch_threads(1):
            return [run_case(fn, case, len(self.outputs)) for case in cases]

    def judge(self, records: Sequence[Record | dict], cases: Sequence[Case]) -> Verdict:
        """Compare records with the oracle on the same cases; name the mistake on failure."""
        with np.errstate(all="ignore"), warnings.catch_warnings(), torch_threads(1):
            warnings.simplefilter("ignore")
            return self._judge(records, cases)

    def _judge(self, records: Sequence[Record | dict], cases: Sequence[Case]) -> Verdict:
        records = [r if isinstance(r, Record) else Record.from_dict(r) for r in records]
        if [r.case for r in records] != [c.name for c in cases]:
            raise ValueError(
                f"records do not belong to these cases: expected {[c.name for c in cases]}, "
                f"got {[r.case for r in records]}"
            )
        oracle = self.records_of(("oracle",), self.oracle, cases)
        broken = [r for r in oracle if r.status != "returned"]
        if broken:  # a fault in the check itself, never the student's
            err = broken[0].error
            raise RuntimeError(f"the {self.name} oracle failed on case {broken[0].case!r}: "
                               f"{err.type_name if err else '?'}: {err.message if err else ''}")
        results = tuple(
            CaseResult(c.name, tuple(self.compare(r, o, c)))
            for r, o, c in zip(records, oracle, cases, strict=True)
        )
        if all(r.passed for r in results):
            return Verdict(self.name, results)
        try:
            diagnosis = self.diagnose(records, cases, oracle, results)
        except Exception:  # a diagnosis must never hide the verdict
            diagnosis = None
        message = failure_message(self, records, cases, results, diagnosis)
        return Verdict(self.name, results, diagnosis, message)

    def check(self, fn: Any, *, seed: int = 0, **options: Any) -> CheckResult:
        """Generate, run, judge; return a CheckResult or raise CheckFailed."""
        __tracebackhide__ = True
        options.setdefault("accelerator", drawing.accelerator())
        cases = self.cases(seed, **options)
        problem = self.not_a_function(fn) or delegation(self, self.own_code(fn))
        if problem:
            raise CheckFailed(f"{self.name}: {problem}")
        verdict = self.judge(self.run(fn, cases), cases)
        if not verdict.passed:
            raise CheckFailed(verdict.message, verdict) from None
        return verdict.result()

    # ---- hooks a kind of check may change -------------------------------------------------
    def not_a_function(self, fn: Any) -> str | None:
        """Why `fn` cannot be checked (not a function), or None."""
        if callable(fn) and not isinstance(fn, torch.Tensor | np.ndarray):
            return None
        got = to_value(fn)
        what = got.type_name if got.kind != "none" else "None"
        if got.kind == "tensor":
            what = f"a tensor of shape {shape_text(got.shape)}"
        return (
            f"expected your function, got {what}. Pass the function itself, without calling "
            f"it: {self.check_function}({self.name})"
        )

    def call_text(self, case: Case) -> str:
        """How the student's object was called on `case`, as they would write it."""
        return case.call_text(self.name)

    def own_code(self, fn: Any) -> Any:
        """The object whose source the answer policy reads in self-study (fn itself)."""
        return fn

    def compare(self, got: Record, want: Record, case: Case) -> list[Problem]:
        """Problems in `got` measured against `want` (the oracle's or a mistake's record)."""
        return judging.compare(self, got, want, case)

    def agrees(self, got: Record, want: Record, case: Case) -> bool:
        """Whether `got` behaves like `want` on this case (both raise, or same outputs)."""
        return judging.agrees(self, got, want, case)

    def raised_problem(self, err: ErrorInfo) -> Problem:
        """The problem of a case in which the student's code raised `err`."""
        return judging.raised_problem(err)

    def diagnose(self, records: Sequence[Record], cases: Sequence[Case],
                 oracle: Sequence[Record], results: Sequence[CaseResult]) -> Diagnosis:
        """The named mistake behind a failure (see diagnose.py)."""
        return diagnosing.diagnose(self, records, cases, oracle, results)

    # ---- records of the oracle and the mistakes, cached ---------------------------------
    def records_of(self, key: tuple, fn: Callable, cases: Sequence[Case]) -> list[Record]:
        """Records of a trusted function (the oracle, a mistake's variant) on `cases`, cached
        when every case has a key."""
        full_key = (*key, tuple(c.key or id(c) for c in cases))
        if full_key in self._cache:
            self._cache.move_to_end(full_key)
            return self._cache[full_key]
        with torch.random.fork_rng(devices=[]):
            records = self.run(fn, cases)
        if all(c.key for c in cases):
            self._cache[full_key] = records
            while len(self._cache) > 256:
                self._cache.popitem(last=False)
        return records
