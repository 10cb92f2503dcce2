"""What the student reads: the failure message, and the phrases problems are written with.

    failure_message(check, records, cases, results, diagnosis) -> str
        "<name>: 3 of 14 cases failed." / the likely mistake and its fix / the first failing
        case, its call and its problems / hints / which cases passed and failed

Every message says what was expected, what came, and what to change.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from attn_course.checks.records import Case, Record, Value
from attn_course.checks.results import CaseResult, Diagnosis
from attn_course.formatting import shape_text

if TYPE_CHECKING:
    from attn_course.checks.check import Check

__all__ = [
    "describe_value",
    "failure_message",
    "number_text",
    "shape_message",
    "tensor_advice",
    "tolerance_text",
]


def describe_value(value: Value) -> str:
    """What a non-tensor value is, in words: 'None', 'a numpy array of shape (2, 3)', ..."""
    if value.kind == "none":
        return "None"
    if value.kind == "ndarray":
        return f"a numpy array of shape {shape_text(value.shape)}"
    if value.kind == "sequence":
        return f"a {value.type_name} of {value.shape[0]} items"
    if value.kind == "scalar":
        return f"a Python {value.type_name}"
    if value.kind == "unreadable":
        return f"an object of type {value.type_name} that could not be read as a tensor"
    return f"an object of type {value.type_name}"


def tensor_advice(value: Value) -> str:
    """What to return instead of `value`, which is not a tensor."""
    if value.kind == "ndarray":
        return "return a torch tensor: stay in torch (torch.exp, torch.softmax, @) instead of numpy"
    if value.kind == "sequence":
        return "return a torch tensor, not a Python list (torch.stack / torch.tensor build one)"
    if value.kind == "scalar":
        return "return a tensor with all the values, not a single number"
    return "return a torch.Tensor"


def shape_message(name: str, got, want, outputs: tuple[str, ...], case: Case) -> str:
    """'<name> has shape (…), expected (…)' and, when the shapes suggest one, the likely cause."""
    msg = f"{name} has shape {shape_text(got)}, expected {shape_text(want)}"
    guess = ""
    if len(got) == len(want) >= 2 and got[:-2] == want[:-2] and got[-2:] == want[-2:][::-1]:
        guess = "its last two dims are swapped: did you transpose it?"
    elif len(got) > len(want) and got[len(got) - len(want):] == want:
        guess = "it has extra leading dims: drop the unsqueeze / view that adds them"
    elif len(got) < len(want) and want[len(want) - len(got):] == got:
        guess = "it lost leading dims: avoid squeeze() and keep the batch dims"
    elif math.prod(got) == math.prod(want) and sorted(got) == sorted(want):
        guess = "same numbers of elements in another order: check transposes and views"
    for other, shape in zip(outputs, case.shapes, strict=True):
        if other != name and tuple(shape) == got:
            guess = f"that is the shape {other} should have: are the results swapped?"
    return f"{msg}; {guess}" if guess else msg


def number_text(x: float | bool) -> str:
    if isinstance(x, bool | np.bool_):
        return str(bool(x))
    return f"{float(x):.6g}"


def tolerance_text(tol: tuple[float, float]) -> str:
    """How close the values had to be, as torch.testing says it."""
    atol, rtol = tol
    if atol == 0 and rtol == 0:
        return "they must be equal"
    return f"allowed: |got - expected| <= {atol:.3g} + {rtol:.3g} * |expected|"


def _names(names: list[str], limit: int = 6) -> str:
    shown = "; ".join(names[:limit])
    return shown + (f"; … (+{len(names) - limit})" if len(names) > limit else "")


def failure_message(check: Check, records: list[Record], cases: list[Case],
                    results: tuple[CaseResult, ...], diagnosis: Diagnosis | None) -> str:
    """The message of a failed check (see the module docstring)."""
    failing = [i for i, r in enumerate(results) if not r.passed]
    n = len(results)
    first = failing[0]
    lines = [f"{check.name}: {len(failing)} of {n} cases failed."]
    if diagnosis is not None and diagnosis.title:
        label = {"match": "Likely mistake", "partial": "Possible mistake"}.get(
            diagnosis.confidence, "Problem"
        )
        lines.append(f"{label}: {diagnosis.title}.")
        if diagnosis.fix:
            lines.append(f"  Fix: {diagnosis.fix}")
    case = cases[first]
    desc = f" — {case.description}" if case.description else ""
    lines.append(f"First failing case: {case.name}{desc}")
    lines.append(f"  call: {check.call_text(case)}")
    shown = [p for p in results[first].problems if p.code != "differs"][:3]
    for p in shown:
        lines.append("  " + p.message.replace("\n", "\n  "))
    hints = [] if diagnosis is None else list(diagnosis.hints)
    if diagnosis is not None and diagnosis.confidence in ("match", "structural"):
        hints = []
    if hints:
        lines.append("Hints:")
        lines += [f"  - {h}" for h in hints[:4]]
    passed = [r.name for r in results if r.passed]
    failed = [results[i].name for i in failing]
    if passed:
        lines.append(f"Passed ({len(passed)}): {_names(passed)}")
    lines.append(f"Failed ({len(failed)}): {_names(failed)}")
    printed = sum(r.printed for r in records)
    if printed:
        lines.append(f"(Your function printed {printed} characters during the checks; "
                     "they are not shown.)")
    return "\n".join(lines)
