"""Naming the mistake behind a failed check.

    diagnose(check, records, cases, oracle, results) -> Diagnosis

1. The same structural problem in every case (a stub, None, a wrong signature, one exception).
2. The catalogue: each known mistake's buggy variants run on the same cases; a variant that the
   student's records agree with everywhere is the mistake ("match"); one that reproduces the
   first failing case and at least half of the others is a "partial" match.
3. Detect predicates, for mistakes that have no single buggy output.
4. Otherwise generic hints: the exception's hint, a flag pattern, the exercise's explanations.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from attn_course.checks.judge import agrees
from attn_course.checks.records import Case, ErrorInfo, Record
from attn_course.checks.results import CaseResult, Diagnosis

if TYPE_CHECKING:
    from attn_course.checks.check import Check

__all__ = ["diagnose", "exception_hint"]


def diagnose(check: Check, records: Sequence[Record], cases: Sequence[Case],
             oracle: Sequence[Record], results: Sequence[CaseResult]) -> Diagnosis:
    """The named mistake, or the best generic explanation (see the module docstring)."""
    failing = [i for i, r in enumerate(results) if not r.passed]
    first = failing[0]
    structural = _structural(check, records, results)
    if structural is not None:
        return structural
    best: tuple | None = None
    for order, mistake in enumerate(check.mistakes):
        for v, variant in enumerate(mistake.variants):
            mrecs = check.records_of((mistake.name, v), variant, cases)
            if all(agrees(check, m, o, c) for m, o, c in zip(mrecs, oracle, cases,
                                                              strict=True)):
                continue  # indistinguishable from correct code on these cases
            agree = [agrees(check, s, m, c) for s, m, c in zip(records, mrecs, cases,
                                                                 strict=True)]
            if all(agree):
                return Diagnosis(mistake.title, mistake.fix, mistake.name, "match",
                                 tuple(_hints(check, records, cases, oracle, results)))
            n_fail = sum(agree[i] for i in failing)
            if agree[first] and 2 * n_fail >= len(failing):
                score = (n_fail, sum(agree), -order)
                if best is None or score > best[0]:
                    best = (score, mistake)
    for mistake in check.mistakes:
        if mistake.detect is not None and mistake.detect(records, cases, oracle, results):
            return Diagnosis(mistake.title, mistake.fix, mistake.name, "match",
                             tuple(_hints(check, records, cases, oracle, results)))
    hints = _hints(check, records, cases, oracle, results)
    if best is not None:
        _, mistake = best
        return Diagnosis(mistake.title, mistake.fix, mistake.name, "partial", tuple(hints))
    return Diagnosis("", "", None, "generic", tuple(hints))


def _structural(check: Check, records: Sequence[Record],
                results: Sequence[CaseResult]) -> Diagnosis | None:
    codes = {r.problems[0].code for r in results if r.problems}
    if len(codes) != 1:
        return None
    code = codes.pop()
    if code == "raised" and not all(r.problems for r in results):
        return None  # some cases pass: the catalogue may know this exception
    if code == "not_implemented":
        return Diagnosis("not implemented yet",
                         "replace the `raise NotImplementedError()` line in the exercise "
                         "cell with your code", "not_implemented", "structural")
    if code == "signature":
        return Diagnosis("the function has the wrong signature",
                         f"define it as {check.signature}", "signature", "structural")
    if code == "none":
        names = ", ".join(check.outputs)
        return Diagnosis("the function returns None",
                         f"end the function with `return {names}`", "returns_none",
                         "structural")
    if code == "raised":
        errs = {(r.error.type_name, r.error.message) for r in records if r.error}
        if len(errs) == 1:
            err = next(r.error for r in records if r.error)
            hint = exception_hint(check, err)
            return Diagnosis(f"every case raised {err.type_name}", hint or "",
                             "raises", "structural")
    return None


def exception_hint(check: Check, err: ErrorInfo) -> str | None:
    """The check's hint for this exception, if one matches."""
    text = f"{err.type_name}: {err.message}"
    for h in check.exception_hints:
        if re.search(h.pattern, text):
            return h.hint
    return None


def _hints(check: Check, records, cases, oracle, results) -> list[str]:
    hints: list[str] = []
    failing = [i for i, r in enumerate(results) if not r.passed]
    passing = [i for i, r in enumerate(results) if r.passed]
    first_err = records[failing[0]].error
    if records[failing[0]].status == "raised" and first_err is not None:
        h = exception_hint(check, first_err)
        if h:
            hints.append(h)
    if passing:
        for fh in check.flag_hints:
            has = [bool(fh.flags & cases[i].flags) for i in range(len(cases))]
            if all(has[i] for i in failing) and not any(has[i] for i in passing):
                hints.append(fh.hint)
                break
    if check.explain is not None:
        try:
            hints += check.explain(records, cases, oracle, results)
        except Exception:  # explanations are best effort
            pass
    seen: list[str] = []
    for h in hints:
        if h not in seen:
            seen.append(h)
    return seen
