"""Cases and records: the plain data that travels between the run and the judge.

    Case    one call of the student's function: inputs, expected shapes, tolerance, flags
    Record  what happened on one case: the returned Value, or the ErrorInfo raised; gradients,
            inputs changed in place, what was printed
    Value   a plain description of any returned object (tensors keep a float64 copy of their data)

Records never hold the student's objects, so a grader can run the student's code in one process
and judge in another: `Record.to_dict` / `Record.from_dict` give a JSON-safe form, and
`from_dict` validates every field. `to_value` describes an object without calling its methods.
"""

from __future__ import annotations

import base64
import math
import os
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from attn_course.compare import plain_tensor

__all__ = ["Case", "ErrorInfo", "Frame", "Record", "Value", "output_arrays", "safe_str", "to_value"]


# --------------------------------------------------------------------------------------------
# Cases
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
            shown = name if isinstance(value, torch.Tensor | torch.nn.Module) else repr(value)
            parts.append(f"{name}={shown}" if name in self.keywords else shown)
        return f"{fn_name}({', '.join(parts)})"


# --------------------------------------------------------------------------------------------
# Values, errors, records
# --------------------------------------------------------------------------------------------
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


_LIBRARY_DIRS = tuple(
    {
        os.path.dirname(os.path.abspath(torch.__file__)),
        os.path.dirname(os.path.abspath(np.__file__)),
        os.path.abspath(sysconfig.get_paths()["stdlib"]),
        os.path.abspath(sysconfig.get_paths()["purelib"]),
        os.path.abspath(sysconfig.get_paths()["platlib"]),
    }
)


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


# --------------------------------------------------------------------------------------------
# JSON-safe form, validated on the way back
# --------------------------------------------------------------------------------------------
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


def safe_str(obj: Any) -> str:
    """str(obj), or "<unprintable>" when that fails or is not a str."""
    try:
        s = str(obj)
        return s if isinstance(s, str) else "<unprintable>"
    except Exception:
        return "<unprintable>"


def tensor_value(obj: torch.Tensor) -> tuple[Value, torch.Tensor]:
    """(its Value, the tensor as a plain torch.Tensor with its autograd history)."""
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
    return to_value_and_tensors(obj)[0]


def to_value_and_tensors(obj: Any, depth: int = 0) -> tuple[Value, list]:
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
            value, plain = tensor_value(obj)
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
                    v, p = to_value_and_tensors(base.__getitem__(obj, i), depth + 1)
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
        return Value("unreadable", type_name, note=safe_str(exc)[:200]), [None]


def output_arrays(record: Record, n: int = 2) -> list[np.ndarray] | None:
    """The `n` returned tensors of a record as float64 arrays (one tensor when n == 1), or None
    when the record has no such outputs."""
    v = record.value
    if record.status != "returned" or v is None:
        return None
    items = list(v.items) if n > 1 else [v]
    if n > 1 and (v.kind != "sequence" or len(items) != n):
        return None
    if any(i.kind != "tensor" or i.data is None for i in items):
        return None
    return [i.data.astype(np.float64) for i in items]
