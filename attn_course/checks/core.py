"""The check machinery: cases -> run -> judge -> diagnose.

A `Check` is mostly data:
    cases(seed)           -> list[Case]     inputs chosen to expose mistakes
    run(fn, cases)        -> list[Record]   call the student's function on each case, catching
                                            everything; records are plain and picklable
    judge(records, cases) -> Verdict        compare with the oracle; on failure compare with
                                            the catalogue of known mistakes to name the one made
    check(fn, seed=...)   -> CheckResult    all of the above; raises CheckFailed on failure

`run` and `judge` never share objects, so a grader can run student code in one process and
judge the records in another (`Record.to_dict` / `Record.from_dict` give a JSON-safe form).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import html
import inspect
import math
import os
import re
import sysconfig
import traceback
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from attn_course.compare import plain_tensor
from attn_course.device import tolerances, torch_threads

__all__ = [
    "Case",
    "Check",
    "CheckFailed",
    "CheckResult",
    "Diagnosis",
    "ErrorInfo",
    "fails_exactly_with",
    "ExceptionHint",
    "FlagHint",
    "Frame",
    "Mistake",
    "Problem",
    "CaseResult",
    "Record",
    "Value",
    "Verdict",
    "to_value",
]


# --------------------------------------------------------------------------------------------
# Results shown to the student
# --------------------------------------------------------------------------------------------
class CheckFailed(AssertionError):
    """A check failed. The message says what is wrong and what to change.

    `verdict` holds the full `Verdict` (per-case problems, diagnosis) when available.
    """

    def __init__(self, message: str, verdict: Verdict | None = None):
        super().__init__(message)
        self.verdict = verdict

    def __reduce__(self):
        return (type(self), (str(self), self.verdict))


@dataclass(frozen=True)
class CheckResult:
    """A passed check: renders as a green card in Jupyter and one line in a terminal."""

    name: str
    cases: tuple[str, ...]

    passed = True

    def __bool__(self) -> bool:
        return True

    def __str__(self) -> str:
        n = len(self.cases)
        return f"✓ {self.name}: {n}/{n} cases passed"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        n = len(self.cases)
        items = " · ".join(f"{html.escape(c)} ✓" for c in self.cases)
        return (
            '<div class="attn-check attn-check-passed" style="border-left:4px solid #2e7d32;'
            "background:#f1f8e9;padding:6px 10px;margin:4px 0;border-radius:3px;"
            'font-family:system-ui,sans-serif;font-size:13px;line-height:1.4">'
            f'<span style="color:#2e7d32;font-weight:bold">✓ {html.escape(self.name)}</span>'
            f" — {n}/{n} cases passed"
            f'<div style="color:#555;font-size:12px">{items}</div></div>'
        )


# --------------------------------------------------------------------------------------------
# Cases and records
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Case:
    """One call of the student's function.

    inputs: argument name -> value, in call order; names in `keywords` are passed by keyword.
    shapes: expected shape of each output. tolerance: (atol, rtol) for float outputs.
    flags: tags such as "4d", "masked", "large_logits" (used to explain failure patterns).
    scale: how much `tolerance` was widened for large logits (applied again when a result
    comes back in a lower precision than the inputs).
    grad: inputs that get requires_grad=True; grad_outputs: one random tensor per output,
    the linear functional sum(g * output) whose gradients are compared.
    """

    name: str
    inputs: dict[str, Any]
    shapes: tuple[tuple[int, ...], ...]
    tolerance: tuple[float, float]
    description: str = ""
    keywords: tuple[str, ...] = ()
    flags: frozenset[str] = frozenset()
    grad: tuple[str, ...] = ()
    grad_outputs: tuple[torch.Tensor, ...] = ()
    key: str = ""
    scale: float = 1.0

    def call_text(self, fn_name: str) -> str:
        """The call as the student would write it, e.g. `softmax(x, dim=0)`."""
        parts = []
        for name, value in self.inputs.items():
            shown = name if isinstance(value, torch.Tensor) else repr(value)
            parts.append(f"{name}={shown}" if name in self.keywords else shown)
        return f"{fn_name}({', '.join(parts)})"


@dataclass(frozen=True)
class Value:
    """A plain, picklable description of whatever the student's function returned.

    kind: "tensor", "ndarray", "sequence", "none", "scalar", "other" or "unreadable".
    Tensors and arrays keep a float64 (or bool) numpy copy of their data in `data`.
    """

    kind: str
    type_name: str
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    device: str | None = None
    data: np.ndarray | None = None
    items: tuple[Value, ...] = ()
    requires_grad: bool = False
    note: str = ""


@dataclass(frozen=True)
class Frame:
    filename: str
    lineno: int
    function: str
    line: str


@dataclass(frozen=True)
class ErrorInfo:
    """An exception raised by the student's code: its type, message and the student's frames."""

    type_name: str
    message: str
    frames: tuple[Frame, ...] = ()

    def where(self) -> str:
        """'line 4 in f: code' for the innermost frame in the student's own code."""
        frame = _user_frame(self.frames)
        if frame is None:
            return ""
        place = f"line {frame.lineno} in {frame.function}"
        if not _is_notebook_file(frame.filename):
            place = f"{os.path.basename(frame.filename)}, {place}"
        return f"{place}: {frame.line}" if frame.line else place


@dataclass(frozen=True, eq=False)
class Record:
    """What happened when the function ran on one case (plain data, picklable).

    status: "returned", "raised" or "bad_signature".
    grads: input name -> Value of its gradient, or a reason string ("no graph", "not reached",
    "skipped", "error: ...") when there is none.
    """

    case: str
    status: str
    value: Value | None = None
    error: ErrorInfo | None = None
    mutated: tuple[str, ...] = ()
    grads: dict[str, Value | str] = field(default_factory=dict)
    printed: int = 0
    printed_head: str = ""
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """A JSON-safe dict (arrays as base64 float64/bool bytes)."""
        return {
            "case": self.case,
            "status": self.status,
            "value": _value_to_dict(self.value),
            "error": None
            if self.error is None
            else {
                "type_name": self.error.type_name,
                "message": self.error.message,
                "frames": [
                    [f.filename, f.lineno, f.function, f.line] for f in self.error.frames
                ],
            },
            "mutated": list(self.mutated),
            "grads": {
                k: (v if isinstance(v, str) else _value_to_dict(v)) for k, v in self.grads.items()
            },
            "printed": self.printed,
            "printed_head": self.printed_head,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Record:
        """Rebuild a Record from `to_dict` output, validating every field."""
        try:
            _expect(isinstance(d, dict), "a record must be a dict")
            status = d["status"]
            _expect(status in ("returned", "raised", "bad_signature"), f"bad status {status!r}")
            err = d.get("error")
            error = None
            if err is not None:
                frames = tuple(
                    Frame(_str(f[0]), _int(f[1]), _str(f[2]), _str(f[3])) for f in err["frames"]
                )
                error = ErrorInfo(_str(err["type_name"]), _str(err["message"]), frames)
            grads = {}
            for k, v in dict(d.get("grads", {})).items():
                grads[_str(k)] = v if isinstance(v, str) else _value_from_dict(v)
            return cls(
                case=_str(d["case"]),
                status=status,
                value=_value_from_dict(d.get("value")),
                error=error,
                mutated=tuple(_str(m) for m in d.get("mutated", ())),
                grads=grads,
                printed=_int(d.get("printed", 0)),
                printed_head=_str(d.get("printed_head", "")),
                warnings=tuple(_str(w) for w in d.get("warnings", ())),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"malformed record: {exc}") from None


def _expect(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


def _str(x: Any) -> str:
    _expect(isinstance(x, str), f"expected a string, got {type(x).__name__}")
    return x


def _int(x: Any) -> int:
    _expect(isinstance(x, int) and not isinstance(x, bool), f"expected an int, got {x!r}")
    return x


def _value_to_dict(v: Value | None) -> dict | None:
    if v is None:
        return None
    data = None
    if v.data is not None:
        arr = np.ascontiguousarray(v.data)
        kind = "bool" if arr.dtype == np.bool_ else "float64"
        arr = arr.astype(kind)
        data = {
            "dtype": kind,
            "shape": list(arr.shape),
            "b64": base64.b64encode(arr.tobytes()).decode("ascii"),
        }
    return {
        "kind": v.kind,
        "type_name": v.type_name,
        "shape": None if v.shape is None else list(v.shape),
        "dtype": v.dtype,
        "device": v.device,
        "data": data,
        "items": [_value_to_dict(i) for i in v.items],
        "requires_grad": v.requires_grad,
        "note": v.note,
    }


_KINDS = ("tensor", "ndarray", "sequence", "none", "scalar", "other", "unreadable")


def _value_from_dict(d: dict | None) -> Value | None:
    if d is None:
        return None
    _expect(isinstance(d, dict), "a value must be a dict")
    _expect(d["kind"] in _KINDS, f"bad value kind {d['kind']!r}")
    data = None
    if d.get("data") is not None:
        spec = d["data"]
        _expect(spec["dtype"] in ("bool", "float64"), "bad array dtype")
        shape = tuple(_int(s) for s in spec["shape"])
        raw = base64.b64decode(spec["b64"], validate=True)
        itemsize = 1 if spec["dtype"] == "bool" else 8
        _expect(len(raw) == itemsize * math.prod(shape), "array size does not match its shape")
        data = np.frombuffer(raw, dtype=spec["dtype"]).reshape(shape).copy()
    shape = d.get("shape")
    return Value(
        kind=d["kind"],
        type_name=_str(d["type_name"]),
        shape=None if shape is None else tuple(_int(s) for s in shape),
        dtype=None if d.get("dtype") is None else _str(d["dtype"]),
        device=None if d.get("device") is None else _str(d["device"]),
        data=data,
        items=tuple(_value_from_dict(i) for i in d.get("items", ())),
        requires_grad=bool(d.get("requires_grad", False)),
        note=_str(d.get("note", "")),
    )


# --------------------------------------------------------------------------------------------
# Converting whatever came back into plain data, without trusting it
# --------------------------------------------------------------------------------------------
_MAX_ITEMS = 8


def _tensor_value(obj: torch.Tensor) -> tuple[Value, torch.Tensor]:
    plain = plain_tensor(obj)
    shape = tuple(int(s) for s in plain.shape)
    d = plain.detach()
    if d.layout != torch.strided:
        d = d.to_dense()
    if d.is_complex():
        raise TypeError("complex tensor")
    if d.dtype == torch.bool:
        data = d.cpu().numpy().copy()
    else:
        data = d.to("cpu", torch.float64).numpy().copy()
    kind_name = type(obj).__name__ if type(obj) is not torch.Tensor else "Tensor"
    value = Value(
        kind="tensor",
        type_name=kind_name,
        shape=shape,
        dtype=str(plain.dtype),
        device=str(plain.device),
        data=data,
        requires_grad=bool(plain.requires_grad),
    )
    return value, plain


def to_value(obj: Any) -> Value:
    """Describe `obj` as a plain `Value` (never raises, never calls obj's own methods)."""
    return _to_value(obj)[0]


def _to_value(obj: Any, depth: int = 0) -> tuple[Value, list]:
    """(Value, plain tensors by item index) — the tensors keep autograd history for gradients."""
    cls = type(obj)
    try:
        type_name = cls.__name__ if isinstance(cls.__name__, str) else "object"
    except Exception:  # a hostile metaclass
        type_name = "object"
    try:
        if obj is None:
            return Value("none", "NoneType"), [None]
        if issubclass(cls, torch.Tensor):
            value, plain = _tensor_value(obj)
            return value, [plain]
        if issubclass(cls, np.ndarray):
            arr = obj.view(np.ndarray)
            data = None
            if arr.dtype == np.bool_:
                data = arr.copy()
            elif arr.dtype.kind in "iuf":
                data = arr.astype(np.float64)
            return (
                Value("ndarray", type_name, tuple(int(s) for s in arr.shape), str(arr.dtype),
                      None, data),
                [None],
            )
        if issubclass(cls, (tuple, list)):
            base = tuple if issubclass(cls, tuple) else list
            n = base.__len__(obj)
            items, plains = [], []
            if depth < 2:
                for i in range(min(n, _MAX_ITEMS)):
                    v, p = _to_value(base.__getitem__(obj, i), depth + 1)
                    items.append(v)
                    plains.append(p[0] if v.kind == "tensor" else None)
            note = f"{n} items" if n > _MAX_ITEMS else ""
            return (
                Value("sequence", "tuple" if base is tuple else "list", (n,), items=tuple(items),
                      note=note),
                plains,
            )
        if cls in (bool, int, float) or issubclass(cls, np.generic):
            data = np.asarray(obj, dtype=np.float64) if cls is not bool else None
            return Value("scalar", type_name, (), type_name, data=data), [None]
        return Value("other", type_name), [None]
    except Exception as exc:  # anything odd becomes "unreadable"
        return Value("unreadable", type_name, note=_safe_str(exc)[:200]), [None]


def _safe_str(obj: Any) -> str:
    try:
        s = str(obj)
        return s if isinstance(s, str) else "<unprintable>"
    except Exception:
        return "<unprintable>"


# --------------------------------------------------------------------------------------------
# Running the student's function
# --------------------------------------------------------------------------------------------
_CHECKS_DIR = os.path.dirname(os.path.abspath(__file__))
_LIBRARY_DIRS = tuple(
    {
        os.path.dirname(os.path.abspath(torch.__file__)),
        os.path.dirname(os.path.abspath(np.__file__)),
        os.path.abspath(sysconfig.get_paths()["stdlib"]),
        os.path.abspath(sysconfig.get_paths()["purelib"]),
        os.path.abspath(sysconfig.get_paths()["platlib"]),
    }
)


def _is_internal(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_CHECKS_DIR + os.sep)


def _is_library(filename: str) -> bool:
    path = os.path.abspath(filename)
    return any(path.startswith(d + os.sep) for d in _LIBRARY_DIRS) or "site-packages" in path


def _is_notebook_file(filename: str) -> bool:
    return filename.startswith("<") or "ipykernel_" in filename


def _user_frame(frames: Sequence[Frame]) -> Frame | None:
    for f in reversed(frames):
        if not _is_library(f.filename):
            return f
    return frames[-1] if frames else None


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
    message = _safe_str(exc)
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
        s = _safe_str(s)
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


def _mutated(case: Case, args: tuple, kwargs: dict, originals: dict) -> tuple[str, ...]:
    passed = dict(zip([n for n in case.inputs if n not in case.keywords], args, strict=True))
    passed.update(kwargs)
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
    passed = dict(zip([n for n in case.inputs if n not in case.keywords], args, strict=True))
    passed.update(kwargs)
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
        return dict.fromkeys(names, f"error: {_safe_str(exc)[:200]}")
    result: dict[str, Value | str] = {}
    for name, g in zip(names, grads, strict=True):
        result[name] = "not reached" if g is None else _tensor_value(g)[0]
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
        warned = tuple(_safe_str(w.message)[:200] for w in caught[:5])
    printed = dict(printed=out.count, printed_head="".join(out.head), warnings=warned)
    mutated = _mutated(case, args, kwargs, originals)
    if err is not None:
        return Record(case.name, "raised", error=err, mutated=mutated, **printed)
    value, plains = _to_value(result)
    del result
    grads = _grads(case, value, plains, args, kwargs, n_outputs)
    return Record(case.name, "returned", value=value, mutated=mutated, grads=grads, **printed)


# --------------------------------------------------------------------------------------------
# Judging
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One thing wrong in one case. code: e.g. "shape", "dtype", "values", "raised"."""

    code: str
    message: str
    output: str | None = None


@dataclass(frozen=True)
class CaseResult:
    name: str
    problems: tuple[Problem, ...]

    @property
    def passed(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Diagnosis:
    """The named mistake (or best generic explanation) behind a failure.

    confidence: "match" (a known mistake reproduces every case), "partial" (it reproduces the
    first failing case and most others), or "generic" (no catalogue entry fits).
    """

    title: str
    fix: str = ""
    mistake: str | None = None
    confidence: str = "generic"
    hints: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    check: str
    results: tuple[CaseResult, ...]
    diagnosis: Diagnosis | None = None
    message: str = ""

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def n_passed(self) -> int:
        return sum(r.passed for r in self.results)

    def result(self) -> CheckResult:
        """The CheckResult for a passed verdict; raises CheckFailed otherwise."""
        __tracebackhide__ = True
        if not self.passed:
            raise CheckFailed(self.message, self)
        return CheckResult(self.check, tuple(r.name for r in self.results))


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


def fails_exactly_with(*flags: str) -> Callable[..., bool]:
    """A `Mistake.detect` predicate: the failing cases are exactly those carrying any of
    `flags` (and at least one case passes)."""
    wanted = frozenset(flags)

    def detect(records, cases, oracle, results) -> bool:
        has = [bool(wanted & c.flags) for c in cases]
        fails = [not r.passed for r in results]
        return any(fails) and not all(fails) and has == fails

    return detect


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


class Check:
    """A configurable check: cases, oracle, output names and the catalogue of known mistakes.

    name: the exercise (function) name. outputs: names of the returned values (one name: the
    function returns that tensor; several: a tuple in that order). signature: the expected
    `def` line, shown when the student's function cannot be called with the case's arguments.
    make_cases(seed, **options) -> list[Case]. oracle: the correct function.
    explain(records, cases, oracle_records, results) -> list of generic hints.
    dtype_hint(output, got, expected) -> message for a wrong dtype.
    """

    def __init__(
        self,
        name: str,
        *,
        outputs: tuple[str, ...],
        signature: str,
        make_cases: Callable[..., list[Case]],
        oracle: Callable,
        mistakes: Sequence[Mistake] = (),
        exception_hints: Sequence[ExceptionHint] = (),
        flag_hints: Sequence[FlagHint] = (),
        explain: Callable[..., list[str]] | None = None,
        dtype_hint: Callable[[str, str, str], str] | None = None,
    ):
        self.name = name
        self.outputs = tuple(outputs)
        self.signature = signature
        self._make_cases = make_cases
        self.oracle = oracle
        self.mistakes = tuple(mistakes)
        self.exception_hints = tuple(exception_hints) + COMMON_EXCEPTION_HINTS
        self.flag_hints = tuple(flag_hints)
        self._explain = explain
        self._dtype_hint = dtype_hint
        self._cache: OrderedDict[tuple, list[Record]] = OrderedDict()

    def __repr__(self) -> str:
        return f"<Check {self.name}: {len(self.mistakes)} known mistakes>"

    # ---- the four steps ------------------------------------------------------------------
    def cases(self, seed: int = 0, **options: Any) -> list[Case]:
        """The cases for `seed`, ordered simple -> hard."""
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__} ({seed!r})")
        return self._make_cases(seed, **options)

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
        oracle = self._records(("oracle",), self.oracle, cases)
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
        message = self._message(records, cases, results, diagnosis)
        return Verdict(self.name, results, diagnosis, message)

    def check(self, fn: Any, *, seed: int = 0, **options: Any) -> CheckResult:
        """Generate, run, judge; return a CheckResult or raise CheckFailed."""
        __tracebackhide__ = True
        problem = self._not_a_function(fn)
        if problem:
            raise CheckFailed(f"{self.name}: {problem}")
        cases = self.cases(seed, **options)
        verdict = self.judge(self.run(fn, cases), cases)
        if not verdict.passed:
            raise CheckFailed(verdict.message, verdict) from None
        return verdict.result()

    # ---- comparing -------------------------------------------------------------------------
    def _not_a_function(self, fn: Any) -> str | None:
        if callable(fn) and not isinstance(fn, torch.Tensor | np.ndarray):
            return None
        got = to_value(fn)
        what = got.type_name if got.kind != "none" else "None"
        if got.kind == "tensor":
            what = f"a tensor of shape {_shape(got.shape)}"
        return (
            f"expected your function, got {what}. Pass the function itself, without calling "
            f"it: check_{self.name}({self.name})"
        )

    def compare(self, got: Record, want: Record, case: Case) -> list[Problem]:
        """Problems in `got` measured against `want` (the oracle's or a mistake's record)."""
        if want.status != "returned":
            return [] if got.status == want.status else [Problem("differs", "differs")]
        if got.status == "bad_signature":
            return [
                Problem(
                    "signature",
                    f"your function cannot be called as {case.call_text(self.name)}: "
                    f"{got.error.message}. Keep the signature {self.signature}",
                )
            ]
        if got.status == "raised":
            return [self._raised_problem(got.error)]
        outs, problem = self._unpack(got.value, case)
        if problem is not None:
            return [problem]
        problems: list[Problem] = []
        wants = self._unpack(want.value, case)[0]
        for name, g, w in zip(self.outputs, outs, wants, strict=True):
            problems += self._compare_tensor(name, g, w, case)
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
        problems += self._compare_grads(got, want, case, outs, wants)
        return problems

    def _raised_problem(self, err: ErrorInfo) -> Problem:
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

    def _unpack(self, value: Value, case: Case) -> tuple[list[Value], Problem | None]:
        n = len(self.outputs)
        names = ", ".join(self.outputs)
        if value.kind == "none":
            ret = f"return {names}"
            return [], Problem("none", f"returned None: did you forget `{ret}` at the end?")
        if n == 1:
            if value.kind == "sequence":
                return [], Problem(
                    "type",
                    f"returned a {value.type_name} of {value.shape[0]} items; return the "
                    f"{self.outputs[0]} tensor itself",
                )
            items = [value]
        else:
            if value.kind != "sequence":
                if value.kind == "tensor":
                    guess = ""
                    for name, shape in zip(self.outputs, case.shapes, strict=True):
                        if value.shape == tuple(shape):
                            guess = f" (it has the shape of {name})"
                    return [], Problem(
                        "not_tuple",
                        f"returned a single tensor of shape {_shape(value.shape)}{guess}; "
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
        for name, item in zip(self.outputs, items, strict=True):
            if item.kind != "tensor":
                message = f"{name} is {describe_value(item)}; {_tensor_advice(item)}"
                return [], Problem("type", message)
        return items, None

    def _compare_tensor(self, name: str, got: Value, want: Value, case: Case) -> list[Problem]:
        problems = []
        if got.shape != want.shape:
            return [Problem("shape", _shape_message(name, got.shape, want.shape, self, case),
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
                self._dtype_hint(name, got.dtype, want.dtype)
                if self._dtype_hint
                else f"keep the inputs' dtype ({_dt(want.dtype)})"
            )
            problems.append(
                Problem("dtype", f"{name} has dtype {_dt(got.dtype)}, expected "
                                 f"{_dt(want.dtype)}: {hint}", name)
            )
        problems += _compare_data(name, got.data, want.data, _tolerance(case, got, want))
        return problems

    def _compare_grads(
        self, got: Record, want: Record, case: Case, outs: list[Value], wants: list[Value]
    ) -> list[Problem]:
        """Gradients, at the precision of the outputs they come from."""
        problems, missing = [], []
        for n in case.grad:
            g, w = got.grads.get(n, "skipped"), want.grads.get(n, "skipped")
            if isinstance(w, Value) and isinstance(g, Value):
                tol = _tolerance(case, g, w, *outs, *wants)
                for p in _compare_data(f"the gradient of {n}", g.data, w.data, tol):
                    problems.append(Problem("grad_values", p.message, n))
            elif isinstance(w, Value):
                if g != "skipped":  # skipped: outputs already have the wrong shape
                    missing.append(n)
            elif g != w:
                problems.append(Problem("differs", f"gradient of {n}: {g} vs {w}", n))
        if missing:
            cut = [o for o, v in zip(self.outputs, outs, strict=True) if not v.requires_grad]
            detail = f" ({', '.join(cut)}: requires_grad=False)" if cut else ""
            errors = [got.grads[n] for n in missing if got.grads[n].startswith("error")]
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

    # ---- diagnosing ------------------------------------------------------------------------
    def _records(self, key: tuple, fn: Callable, cases: Sequence[Case]) -> list[Record]:
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

    def agrees(self, got: Record, want: Record, case: Case) -> bool:
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
        return not self.compare(got, want, case)

    def diagnose(
        self,
        records: Sequence[Record],
        cases: Sequence[Case],
        oracle: Sequence[Record],
        results: Sequence[CaseResult],
    ) -> Diagnosis:
        failing = [i for i, r in enumerate(results) if not r.passed]
        first = failing[0]
        # 1. The same structural problem everywhere (stub, None, wrong type, same exception).
        structural = self._structural(records, results)
        if structural is not None:
            return structural
        # 2. The catalogue of known mistakes.
        best: tuple | None = None
        for order, mistake in enumerate(self.mistakes):
            for v, variant in enumerate(mistake.variants):
                mrecs = self._records((mistake.name, v), variant, cases)
                if all(self.agrees(m, o, c) for m, o, c in zip(mrecs, oracle, cases,
                                                               strict=True)):
                    continue  # indistinguishable from correct code on these cases
                agree = [self.agrees(s, m, c) for s, m, c in zip(records, mrecs, cases,
                                                                  strict=True)]
                if all(agree):
                    return Diagnosis(mistake.title, mistake.fix, mistake.name, "match",
                                     tuple(self._hints(records, cases, oracle, results)))
                n_fail = sum(agree[i] for i in failing)
                if agree[first] and 2 * n_fail >= len(failing):
                    score = (n_fail, sum(agree), -order)
                    if best is None or score > best[0]:
                        best = (score, mistake)
        for mistake in self.mistakes:
            if mistake.detect is not None and mistake.detect(records, cases, oracle, results):
                return Diagnosis(mistake.title, mistake.fix, mistake.name, "match",
                                 tuple(self._hints(records, cases, oracle, results)))
        hints = self._hints(records, cases, oracle, results)
        if best is not None:
            (n_fail, _, _), mistake = best
            return Diagnosis(mistake.title, mistake.fix, mistake.name, "partial", tuple(hints))
        return Diagnosis("", "", None, "generic", tuple(hints))

    def _structural(
        self, records: Sequence[Record], results: Sequence[CaseResult]
    ) -> Diagnosis | None:
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
                             f"define it as {self.signature}", "signature", "structural")
        if code == "none":
            names = ", ".join(self.outputs)
            return Diagnosis("the function returns None",
                             f"end the function with `return {names}`", "returns_none",
                             "structural")
        if code == "raised":
            errs = {(r.error.type_name, r.error.message) for r in records if r.error}
            if len(errs) == 1:
                err = next(r.error for r in records if r.error)
                hint = self._exception_hint(err)
                return Diagnosis(f"every case raised {err.type_name}", hint or "",
                                 "raises", "structural")
        return None

    def _exception_hint(self, err: ErrorInfo) -> str | None:
        text = f"{err.type_name}: {err.message}"
        for h in self.exception_hints:
            if re.search(h.pattern, text):
                return h.hint
        return None

    def _hints(self, records, cases, oracle, results) -> list[str]:
        hints: list[str] = []
        failing = [i for i, r in enumerate(results) if not r.passed]
        passing = [i for i, r in enumerate(results) if r.passed]
        first_err = records[failing[0]].error
        if records[failing[0]].status == "raised" and first_err is not None:
            h = self._exception_hint(first_err)
            if h:
                hints.append(h)
        if passing:
            for fh in self.flag_hints:
                has = [bool(fh.flags & cases[i].flags) for i in range(len(cases))]
                if all(has[i] for i in failing) and not any(has[i] for i in passing):
                    hints.append(fh.hint)
                    break
        if self._explain is not None:
            try:
                hints += self._explain(records, cases, oracle, results)
            except Exception:  # explanations are best effort
                pass
        seen: list[str] = []
        for h in hints:
            if h not in seen:
                seen.append(h)
        return seen

    # ---- the message -----------------------------------------------------------------------
    def _message(self, records, cases, results, diagnosis: Diagnosis | None) -> str:
        failing = [i for i, r in enumerate(results) if not r.passed]
        n = len(results)
        first = failing[0]
        lines = [f"{self.name}: {len(failing)} of {n} cases failed."]
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
        lines.append(f"  call: {case.call_text(self.name)}")
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


# --------------------------------------------------------------------------------------------
# Formatting helpers
# --------------------------------------------------------------------------------------------
def _tolerance(case: Case, *values: Value) -> tuple[float, float]:
    """The case's tolerance, widened to the lowest float precision among `values`."""
    tol = case.tolerance
    for v in values:
        dtype = getattr(torch, (v.dtype or "").replace("torch.", ""), None)
        if isinstance(dtype, torch.dtype) and dtype.is_floating_point:
            atol, rtol = tolerances(dtype, v.device or "cpu")
            tol = (max(tol[0], atol * case.scale), max(tol[1], rtol * case.scale))
    return tol


def _names(names: list[str], limit: int = 6) -> str:
    shown = "; ".join(names[:limit])
    return shown + (f"; … (+{len(names) - limit})" if len(names) > limit else "")


def _shape(shape: tuple[int, ...] | None) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _dt(dtype: str | None) -> str:
    return (dtype or "?").replace("torch.", "")


def describe_value(value: Value) -> str:
    """What a non-tensor value is, in words: 'None', 'a numpy array of shape (2, 3)', ..."""
    if value.kind == "none":
        return "None"
    if value.kind == "ndarray":
        return f"a numpy array of shape {_shape(value.shape)}"
    if value.kind == "sequence":
        return f"a {value.type_name} of {value.shape[0]} items"
    if value.kind == "scalar":
        return f"a Python {value.type_name}"
    if value.kind == "unreadable":
        return f"an object of type {value.type_name} that could not be read as a tensor"
    return f"an object of type {value.type_name}"


def _tensor_advice(value: Value) -> str:
    if value.kind == "ndarray":
        return "return a torch tensor: stay in torch (torch.exp, torch.softmax, @) instead of numpy"
    if value.kind == "sequence":
        return "return a torch tensor, not a Python list (torch.stack / torch.tensor build one)"
    if value.kind == "scalar":
        return "return a tensor with all the values, not a single number"
    return "return a torch.Tensor"


def _shape_message(name: str, got, want, check: Check, case: Case) -> str:
    msg = f"{name} has shape {_shape(got)}, expected {_shape(want)}"
    guess = ""
    if len(got) == len(want) >= 2 and got[:-2] == want[:-2] and got[-2:] == want[-2:][::-1]:
        guess = "its last two dims are swapped: did you transpose it?"
    elif len(got) > len(want) and got[len(got) - len(want):] == want:
        guess = "it has extra leading dims: drop the unsqueeze / view that adds them"
    elif len(got) < len(want) and want[len(want) - len(got):] == got:
        guess = "it lost leading dims: avoid squeeze() and keep the batch dims"
    elif math.prod(got) == math.prod(want) and sorted(got) == sorted(want):
        guess = "same numbers of elements in another order: check transposes and views"
    for other, shape in zip(check.outputs, case.shapes, strict=True):
        if other != name and tuple(shape) == got:
            guess = f"that is the shape {other} should have: are the results swapped?"
    return f"{msg}; {guess}" if guess else msg


def _fmt(x: float | bool) -> str:
    if isinstance(x, bool | np.bool_):
        return str(bool(x))
    return f"{float(x):.6g}"


def _grid(arr: np.ndarray) -> list[str]:
    return [" ".join("1" if v else "0" for v in row) for row in arr]


def _compare_data(
    name: str, got: np.ndarray | None, want: np.ndarray | None, tol: tuple[float, float]
) -> list[Problem]:
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
               f"expected {_fmt(shown_w)}, got {_fmt(shown_g)}")
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
            f"{_fmt(diff[where])} at {list(where)}: expected {_fmt(w[where])}, got "
            f"{_fmt(g[where])}",
            name,
        )
    ]
