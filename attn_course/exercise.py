"""Run a student's function in a demo cell, falling back to the reference until it works.

Demo cells after an exercise should run even before the exercise is done:

    >>> out, weights = try_student(scaled_dot_product_attention, q, k, v,
    ...                            fallback=reference.scaled_dot_product_attention)

returns the student's result when it matches the reference, else the reference's result and a
one-line note saying why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

NOTE = "Showing the reference until your exercise passes"


def _name(fn: Callable) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def _same(student: Any, reference: Any, atol: float, rtol: float) -> bool:
    """True when two results (tensors, or tuples/lists of them) match in shape and values."""
    if isinstance(reference, torch.Tensor):
        if not isinstance(student, torch.Tensor) or student.shape != reference.shape:
            return False
        if student.dtype == torch.bool or reference.dtype == torch.bool:
            return student.dtype == reference.dtype and bool(torch.equal(student, reference))
        return bool(
            torch.allclose(
                student.detach().to(reference.device, torch.float64),
                reference.detach().to(torch.float64),
                atol=atol,
                rtol=rtol,
                equal_nan=True,
            )
        )
    if isinstance(reference, tuple | list):
        return (
            isinstance(student, tuple | list)
            and len(student) == len(reference)
            and all(_same(s, r, atol, rtol) for s, r in zip(student, reference, strict=True))
        )
    return student == reference


def try_student(
    fn: Callable,
    *args: Any,
    fallback: Callable,
    atol: float = 1e-4,
    rtol: float = 1e-4,
    quiet: bool = False,
    **kwargs: Any,
) -> Any:
    """fn(*args, **kwargs) if it runs and agrees with fallback(*args, **kwargs), else the latter.

    Prints a short note (unless quiet) when the fallback is used: the exercise is not written
    yet, it raised an error, or its result differs from the reference.
    """
    expected = fallback(*args, **kwargs)
    name = _name(fn)
    try:
        got = fn(*args, **kwargs)
    except NotImplementedError:
        reason = f"`{name}` is not written yet"
    except Exception as e:  # any student error: the demo must still run
        first_line = (str(e).splitlines() or [""])[0][:160]
        reason = f"`{name}` raised {type(e).__name__}: {first_line}"
    else:
        if _same(got, expected, atol, rtol):
            return got
        reason = f"`{name}` gives a different result from the reference"
    if not quiet:
        print(f"{NOTE}: {reason}.")
    return expected
