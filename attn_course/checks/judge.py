"""Judging one record against a reference record (the oracle's, or a known mistake's).

    compare(check, got, want, case) -> list[Problem]     nothing wrong: []
    agrees(check, got, want, case)  -> bool              behaves like `want` on this case

Outputs are compared in order: structure (None, tuple, tensor), shape, device, dtype, values
within the case's tolerance (widened to the lowest float precision involved), inputs changed in
place, then gradients. Value mismatches state the tolerance they used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from attn_course.checks.messages import (
    describe_value,
    number_text,
    shape_message,
    tensor_advice,
    tolerance_text,
)
from attn_course.checks.records import Case, ErrorInfo, Record, Value
from attn_course.checks.results import Problem
from attn_course.device import tolerances
from attn_course.formatting import dtype_text, shape_text

if TYPE_CHECKING:
    from attn_course.checks.check import Check

__all__ = ["agrees", "compare", "compare_data", "raised_problem"]


def compare(check: Check, got: Record, want: Record, case: Case) -> list[Problem]:
    """Problems in `got` measured against `want` (the oracle's or a mistake's record)."""
    if want.status != "returned":
        return [] if got.status == want.status else [Problem("differs", "differs")]
    if got.status == "bad_signature":
        return [
            Problem(
                "signature",
                f"your function cannot be called as {case.call_text(check.name)}: "
                f"{got.error.message}. Keep the signature {check.signature}",
            )
        ]
    if got.status == "raised":
        return [check.raised_problem(got.error)]
    outs, problem = _unpack(check.outputs, got.value, case)
    if problem is not None:
        return [problem]
    problems: list[Problem] = []
    wants = _unpack(check.outputs, want.value, case)[0]
    for name, g, w in zip(check.outputs, outs, wants, strict=True):
        problems += _compare_tensor(check, name, g, w, case)
    if set(got.mutated) != set(want.mutated):
        extra = [m for m in got.mutated if m not in want.mutated]
        if extra:
            names = ", ".join(extra)
            problems.append(
                Problem(
                    "mutated",
                    f"your function changed its input {names} in place; leave inputs "
                    f"untouched (write {extra[0]} = {extra[0]} / … instead of "
                    f"{extra[0]} /= …, avoid in-place methods ending in _ on inputs)",
                )
            )
        else:
            problems.append(Problem("differs", "inputs left unchanged"))
    problems += _compare_grads(check.outputs, got, want, case, outs, wants)
    return problems


def agrees(check: Check, got: Record, want: Record, case: Case) -> bool:
    """Whether `got` behaves like `want` on this case (both raise, or same outputs)."""
    if want.status != "returned" or got.status != "returned":
        # Both failed: only the same failure counts (another bug may fail differently).
        return (
            got.status == want.status
            and got.error is not None
            and want.error is not None
            and (got.error.type_name, got.error.message)
            == (want.error.type_name, want.error.message)
        )
    return not compare(check, got, want, case)


def raised_problem(err: ErrorInfo) -> Problem:
    """The problem of a case in which the student's function raised `err`."""
    where = err.where()
    if err.type_name == "NotImplementedError" and not err.message:
        return Problem(
            "not_implemented",
            "not implemented yet: replace the `raise NotImplementedError()` line in the "
            "exercise cell with your code",
        )
    text = f"raised {err.type_name}" + (f": {err.message}" if err.message else "")
    if err.type_name == "SystemExit":
        text = "called exit() / sys.exit()"
    if where:
        text += f"\n    at {where}"
    return Problem("raised", text)


def _unpack(outputs: tuple[str, ...], value: Value,
            case: Case) -> tuple[list[Value], Problem | None]:
    """The output tensors in `value`, or the problem with its structure."""
    n = len(outputs)
    names = ", ".join(outputs)
    if value.kind == "none":
        ret = f"return {names}"
        return [], Problem("none", f"returned None: did you forget `{ret}` at the end?")
    if n == 1:
        if value.kind == "sequence":
            return [], Problem(
                "type",
                f"returned a {value.type_name} of {value.shape[0]} items; return the "
                f"{outputs[0]} tensor itself",
            )
        items = [value]
    else:
        if value.kind != "sequence":
            if value.kind == "tensor":
                guess = ""
                for name, shape in zip(outputs, case.shapes, strict=True):
                    if value.shape == tuple(shape):
                        guess = f" (it has the shape of {name})"
                return [], Problem(
                    "not_tuple",
                    f"returned a single tensor of shape {shape_text(value.shape)}{guess}; "
                    f"return all {n} results as a tuple: `return {names}`",
                )
            return [], Problem(
                "not_tuple",
                f"returned {describe_value(value)}; expected a tuple ({names}): "
                f"`return {names}`",
            )
        if value.shape[0] != n:
            return [], Problem(
                "length",
                f"returned a {value.type_name} of {value.shape[0]} items; expected {n}: "
                f"`return {names}`",
            )
        items = list(value.items)
    for name, item in zip(outputs, items, strict=True):
        if item.kind != "tensor":
            message = f"{name} is {describe_value(item)}; {tensor_advice(item)}"
            return [], Problem("type", message)
    return items, None


def _compare_tensor(check: Check, name: str, got: Value, want: Value,
                    case: Case) -> list[Problem]:
    problems = []
    if got.shape != want.shape:
        return [Problem("shape", shape_message(name, got.shape, want.shape, check.outputs, case),
                        name)]
    if got.device != want.device:
        problems.append(
            Problem(
                "device",
                f"{name} is on {got.device}, expected {want.device} (the inputs' device): "
                "create new tensors with device=<input>.device",
                name,
            )
        )
    if got.dtype != want.dtype:
        hint = (
            check.dtype_hint(name, got.dtype, want.dtype)
            if check.dtype_hint
            else f"keep the inputs' dtype ({dtype_text(want.dtype)})"
        )
        problems.append(
            Problem("dtype", f"{name} has dtype {dtype_text(got.dtype)}, expected "
                             f"{dtype_text(want.dtype)}: {hint}", name)
        )
    problems += compare_data(name, got.data, want.data, case_tolerance(case, got, want))
    return problems


def _compare_grads(outputs: tuple[str, ...], got: Record, want: Record, case: Case,
                   outs: list[Value], wants: list[Value]) -> list[Problem]:
    """Gradients, at the precision of the outputs they come from.

    A record's reason for having no gradient is not taken at its word: "skipped" is accepted
    only when the outputs it comes with are misshapen (then their problem is reported)."""
    problems, missing = [], []
    misshapen = any(v.shape != tuple(s) for v, s in zip(outs, case.shapes, strict=True))
    for n in case.grad:
        g, w = got.grads.get(n, "skipped"), want.grads.get(n, "skipped")
        if isinstance(w, Value) and isinstance(g, Value):
            tol = case_tolerance(case, g, w, *outs, *wants)
            for p in compare_data(f"the gradient of {n}", g.data, w.data, tol):
                problems.append(Problem("grad_values", p.message, n))
        elif isinstance(w, Value):
            if not misshapen:
                missing.append(n)
        elif g != w:
            problems.append(Problem("differs", f"gradient of {n}: {g} vs {w}", n))
    if missing:
        cut = [o for o, v in zip(outputs, outs, strict=True) if not v.requires_grad]
        detail = f" ({', '.join(cut)}: requires_grad=False)" if cut else ""
        reasons = [got.grads.get(n) for n in missing]
        errors = [r for r in reasons if isinstance(r, str) and r.startswith("error")]
        if errors:
            detail += f"; backward failed: {errors[0][7:]}"
        problems.insert(
            0,
            Problem(
                "no_grad",
                f"gradients do not reach {', '.join(missing)}{detail}: the result is cut "
                "off from autograd. Don't use .detach(), .data, numpy or torch.tensor(...) "
                "round trips, or torch.no_grad() inside the function",
            ),
        )
    return problems


def case_tolerance(case: Case, *values: Value) -> tuple[float, float]:
    """The case's tolerance, widened to the lowest float precision among `values`."""
    tol = case.tolerance
    for v in values:
        dtype = getattr(torch, (v.dtype or "").replace("torch.", ""), None)
        if isinstance(dtype, torch.dtype) and dtype.is_floating_point:
            atol, rtol = tolerances(dtype, v.device or "cpu")
            tol = (max(tol[0], atol * case.scale), max(tol[1], rtol * case.scale))
    return tol


def _grid(arr: np.ndarray) -> list[str]:
    return [" ".join("1" if v else "0" for v in row) for row in arr]


def compare_data(
    name: str, got: np.ndarray | None, want: np.ndarray | None, tol: tuple[float, float]
) -> list[Problem]:
    """Problems with `got`'s values against `want`'s, within `tol` = (atol, rtol)."""
    if want is None:
        return []
    if got is None:  # e.g. an array of strings or objects, or a record stripped of its values
        return [Problem("values", f"{name} holds no numbers that can be compared", name)]
    atol, rtol = tol
    g = got.astype(np.float64)
    w = want.astype(np.float64)
    fin_g, fin_w = np.isfinite(g), np.isfinite(w)
    if not np.array_equal(fin_g, fin_w):
        bad = fin_w & ~fin_g
        if bad.any():
            n_nan, n_inf = int(np.isnan(g[bad]).sum()), int(np.isinf(g[bad]).sum())
            kinds = " and ".join(
                s for s in (f"{n_nan} NaN" if n_nan else "", f"{n_inf} inf" if n_inf else "") if s
            )
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            return [Problem("nonfinite", f"{name} contains {kinds} (of {g.size} values), "
                                         f"first at {list(where)}", name)]
        return [Problem("differs", f"{name} is finite where the reference is not", name)]
    both = fin_g & fin_w
    diff = np.where(both, np.abs(g - w), 0.0)
    excess = diff - (atol + rtol * np.abs(np.where(both, w, 0.0)))
    bad = both & (excess > 0)
    if not bad.any():
        return []
    if got.dtype == np.bool_ or want.dtype == np.bool_:
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        shown_w = want[where] if want.dtype == np.bool_ else w[where]
        shown_g = got[where] if got.dtype == np.bool_ else g[where]
        msg = (f"{name}: {int(bad.sum())} of {g.size} entries differ, first at {list(where)}: "
               f"expected {number_text(shown_w)}, got {number_text(shown_g)}")
        if g.ndim == 2 and max(g.shape) <= 8:
            rows_w, rows_g = _grid(w != 0), _grid(g != 0)
            width = max(8, *(len(r) for r in rows_w)) + 3
            msg += "\n  " + "expected".ljust(width) + "got"
            for a, b in zip(rows_w, rows_g, strict=True):
                msg += "\n  " + a.ljust(width) + b
        return [Problem("values", msg, name)]
    where = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.where(bad, excess, -1))),
                                                   g.shape))
    return [
        Problem(
            "values",
            f"{name}: {int(bad.sum())} of {g.size} values differ; max abs error "
            f"{number_text(diff[where])} at {list(where)}: expected {number_text(w[where])}, "
            f"got {number_text(g[where])} ({tolerance_text(tol)})",
            name,
        )
    ]
