"""Running the student's function on one case, catching everything, recording plain data.

    run_case(fn, case, n_outputs) -> Record

The function gets fresh clones of the case's inputs (tensors listed in `case.grad` require
grad); its prints, warnings and exceptions are captured; inputs it changed in place are noted;
for gradient cases the gradients of sum(grad_output * output) reach the record as Values.
Nothing here judges: the record goes to `judge`, possibly in another process.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import os
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import torch

from attn_course.checks.records import (
    Case,
    ErrorInfo,
    Frame,
    Record,
    Value,
    safe_str,
    tensor_value,
    to_value_and_tensors,
)

__all__ = ["run_case"]

_CHECKS_DIR = os.path.dirname(os.path.abspath(__file__))


def _is_internal(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_CHECKS_DIR + os.sep)


def _error_info(exc: BaseException) -> ErrorInfo:
    try:
        summary = traceback.extract_tb(exc.__traceback__)
    except Exception:
        summary = []
    frames = [
        Frame(f.filename, f.lineno or 0, f.name, (f.line or "").strip())
        for f in summary
        if not _is_internal(f.filename)
    ]
    message = safe_str(exc)
    if len(message) > 500:
        message = message[:500] + " …"
    return ErrorInfo(type(exc).__name__, message, tuple(frames[-4:]))


class _Capture:
    """A write-only text stream that counts characters and keeps the first few hundred."""

    def __init__(self, keep: int = 400):
        self.keep = keep
        self.count = 0
        self.head: list[str] = []
        self._kept = 0

    def write(self, s: Any) -> int:
        s = safe_str(s)
        self.count += len(s)
        if self._kept < self.keep:
            piece = s[: self.keep - self._kept]
            self.head.append(piece)
            self._kept += len(piece)
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


def _bind_problem(fn: Callable, args: tuple, kwargs: dict) -> str | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    try:
        sig.bind(*args, **kwargs)
    except TypeError as exc:
        return str(exc)
    return None


def _prepare(case: Case) -> tuple[tuple, dict, dict[str, torch.Tensor]]:
    args, kwargs, originals = [], {}, {}
    for name, value in case.inputs.items():
        if isinstance(value, torch.Tensor):
            originals[name] = value.detach().clone()
            value = value.detach().clone().requires_grad_(name in case.grad)
        else:
            value = copy.deepcopy(value)
        if name in case.keywords:
            kwargs[name] = value
        else:
            args.append(value)
    return tuple(args), kwargs, originals


def _passed(case: Case, args: tuple, kwargs: dict) -> dict[str, Any]:
    """The arguments as they were passed, by name."""
    passed = dict(zip([n for n in case.inputs if n not in case.keywords], args, strict=True))
    passed.update(kwargs)
    return passed


def _mutated(case: Case, args: tuple, kwargs: dict, originals: dict) -> tuple[str, ...]:
    passed = _passed(case, args, kwargs)
    changed = []
    for name, orig in originals.items():
        now = passed[name]
        try:
            now = now.detach()
            same = now.dtype == orig.dtype and bool(torch.equal(now, orig))
        except Exception:
            same = False
        if not same:
            changed.append(name)
    return tuple(changed)


def _grads(
    case: Case, value: Value, plains: list, args: tuple, kwargs: dict, n_outputs: int
) -> dict[str, Value | str]:
    names = case.grad
    if not names:
        return {}
    if n_outputs == 1:
        outs, plains = [value], plains[:1]
    else:
        outs = list(value.items) if value.kind == "sequence" else []
    usable = len(outs) == len(plains) == n_outputs and all(
        v.kind == "tensor" and v.shape == tuple(s) and p is not None
        for v, p, s in zip(outs, plains, case.shapes, strict=True)
    )
    if not usable:  # wrong structure or shapes: already reported, no gradient to compare
        return dict.fromkeys(names, "skipped")
    passed = _passed(case, args, kwargs)
    inputs = [passed[n] for n in names]
    pairs = [(p, g) for p, g in zip(plains, case.grad_outputs, strict=True) if p.requires_grad]
    if not pairs:
        return dict.fromkeys(names, "no graph")
    try:
        with torch.enable_grad():
            grads = torch.autograd.grad(
                [p for p, _ in pairs],
                inputs,
                grad_outputs=[g.to(device=p.device, dtype=p.dtype) for p, g in pairs],
                allow_unused=True,
            )
    except Exception as exc:
        return dict.fromkeys(names, f"error: {safe_str(exc)[:200]}")
    result: dict[str, Value | str] = {}
    for name, g in zip(names, grads, strict=True):
        result[name] = "not reached" if g is None else tensor_value(g)[0]
    return result


def run_case(fn: Callable, case: Case, n_outputs: int) -> Record:
    """Call `fn` on fresh clones of the case's inputs and record what happened."""
    args, kwargs, originals = _prepare(case)
    bind = _bind_problem(fn, args, kwargs)
    if bind is not None:
        return Record(case.name, "bad_signature", error=ErrorInfo("TypeError", bind))
    out, err = _Capture(), None
    result = None
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(out))
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        warnings.simplefilter("always")
        stack.enter_context(torch.enable_grad())
        try:
            result = fn(*args, **kwargs)
        except (Exception, SystemExit) as exc:  # every failure becomes a verdict
            err = _error_info(exc)
        warned = tuple(safe_str(w.message)[:200] for w in caught[:5])
    printed = dict(printed=out.count, printed_head="".join(out.head), warnings=warned)
    mutated = _mutated(case, args, kwargs, originals)
    if err is not None:
        return Record(case.name, "raised", error=err, mutated=mutated, **printed)
    value, plains = to_value_and_tensors(result)
    del result
    grads = _grads(case, value, plains, args, kwargs, n_outputs)
    return Record(case.name, "returned", value=value, mutated=mutated, grads=grads, **printed)
