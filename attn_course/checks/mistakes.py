"""Known mistakes and hints, as data.

    Mistake        a named mistake: buggy variants of the oracle (one deliberate bug each) and/or
                   a `detect` predicate; `title` names it, `fix` says what to change
    ExceptionHint  shown when the student's exception matches a pattern
    FlagHint       shown when exactly the cases with some flags fail

Detect predicates take (records, cases, oracle_records, results) and return a bool; the ones
several exercises use live here (`fails_exactly_with`, `hard_coded_heads`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from attn_course.checks.records import Case

__all__ = [
    "COMMON_EXCEPTION_HINTS",
    "ExceptionHint",
    "FlagHint",
    "Mistake",
    "fails_exactly_with",
    "hard_coded_heads",
]


@dataclass(frozen=True)
class Mistake:
    """A known mistake: buggy variants of the oracle (each with one deliberate bug) and/or a
    `detect(records, cases, oracle_records, results) -> bool` predicate for mistakes that have
    no single buggy output. `title` names the mistake, `fix` says what to change."""

    name: str
    title: str
    fix: str
    variants: tuple[Callable, ...] = ()
    detect: Callable[..., bool] | None = None


@dataclass(frozen=True)
class ExceptionHint:
    """A hint shown when the student's exception ("Type: message") matches `pattern`."""

    pattern: str
    hint: str


@dataclass(frozen=True)
class FlagHint:
    """Shown when the failing cases are exactly those carrying any of `flags`."""

    flags: frozenset[str]
    hint: str


def fails_exactly_with(*flags: str) -> Callable[..., bool]:
    """A `Mistake.detect` predicate: the failing cases are exactly those carrying any of
    `flags` (and at least one case passes)."""
    wanted = frozenset(flags)

    def detect(records, cases, oracle, results) -> bool:
        has = [bool(wanted & c.flags) for c in cases]
        fails = [not r.passed for r in results]
        return any(fails) and not all(fails) and has == fails

    return detect


def hard_coded_heads(heads_of: Callable[[Case], int]) -> Callable[..., bool]:
    """A `Mistake.detect` predicate: every passing case has the same head count (>= 2) and
    every case with another head count fails."""

    def detect(records, cases, oracle, results) -> bool:
        passing = {heads_of(c) for c, r in zip(cases, results, strict=True) if r.passed}
        if len(passing) != 1:
            return False
        (h,) = passing
        return h >= 2 and all(not r.passed for c, r in zip(cases, results, strict=True)
                              if heads_of(c) != h)

    return detect


COMMON_EXCEPTION_HINTS: tuple[ExceptionHint, ...] = (
    ExceptionHint(
        r"leaf Variable that requires grad is being used in an in-place operation",
        "you change an input in place (e.g. q /= …, x -= …, .div_()): compute a new tensor "
        "instead (q = q / …) and leave the inputs untouched",
    ),
    ExceptionHint(
        r"^RecursionError",
        "your function calls itself without end: did a helper get the same name as the "
        "function (e.g. calling softmax(...) inside softmax)? Call torch's version explicitly",
    ),
    ExceptionHint(
        r"^NameError",
        "a name is not defined: run the cells above (imports such as `import math`) and "
        "check the spelling",
    ),
    ExceptionHint(
        r"batch1 must be a 3D tensor|batch2 must be a 3D tensor|bmm",
        "torch.bmm only takes 3-D tensors: use @ (torch.matmul), which handles any number of "
        "batch dims",
    ),
    ExceptionHint(
        r"Dimension out of range",
        "a dim index does not exist for these inputs: count dims from the end (-1, -2) so "
        "the code works for any number of batch dims",
    ),
    ExceptionHint(
        r"cannot be multiplied|must match the size of tensor|size mismatch",
        "the shapes do not line up: print the .shape of each tensor on that line (a missing "
        "transpose or a reduction without keepdim=True are the usual causes)",
    ),
    ExceptionHint(
        r"Can't call numpy\(\) on Tensor that requires grad",
        "stay in torch: converting to numpy breaks gradients (use torch.exp, torch.softmax, @)",
    ),
    ExceptionHint(
        r"expected scalar type|to have the same dtype|(Float|Double) but found (Float|Double)",
        "float32 and float64 tensors are mixed: create new tensors with dtype=x.dtype",
    ),
    ExceptionHint(
        r"same device|Expected all tensors to be on",
        "tensors on different devices: create new tensors with device=x.device",
    ),
    ExceptionHint(
        r"^SystemExit",
        "your function called exit() / sys.exit(): return a value instead",
    ),
)
