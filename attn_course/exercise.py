"""Run a student's function in a demo cell, falling back to the reference until it works.

Demo cells after an exercise should run even before the exercise is done:

    >>> out, weights = try_student(scaled_dot_product_attention, q, k, v,
    ...                            fallback=reference.scaled_dot_product_attention)

returns the student's result when it matches the reference, else the reference's result and a
one-line note saying why. ``try_student_module`` does the same for an ``nn.Module`` class: it
builds the student's class with the reference's weights and uses it when it computes the same.
``try_student_checked`` uses the student's object once its exercise's check passes (a Triton
kernel, which only the check runs safely: it fences the kernel's memory in).
"""

from __future__ import annotations

import contextlib
import inspect
import io
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn

from attn_course.compare import same_result

NOTE = "Showing the reference until your exercise passes"
PROBE_BATCH, PROBE_LEN = 2, 5


def _name(fn: Callable) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def _student_or_reference(
    name: str, attempt: Callable[[], tuple[Any, bool]], expected: Any, quiet: bool
) -> Any:
    """attempt() -> (result, agrees): the student's result when it agrees, else ``expected``.

    Prints a one-line note (unless quiet) saying why the reference is shown: the exercise is not
    written yet, it raised an error, or its result differs from the reference.
    """
    try:
        got, agrees = attempt()
    except NotImplementedError:
        reason = f"`{name}` is not written yet"
    except Exception as e:  # any student error: the demo must still run
        first_line = (str(e).splitlines() or [""])[0][:160]
        reason = f"`{name}` raised {type(e).__name__}: {first_line}"
    else:
        if agrees:
            return got
        reason = f"`{name}` gives a different result from the reference"
    if not quiet:
        print(f"{NOTE}: {reason}.")
    return expected


def try_student(
    fn: Callable,
    *args: Any,
    fallback: Callable,
    atol: float = 1e-4,
    rtol: float = 1e-4,
    quiet: bool = False,
    **kwargs: Any,
) -> Any:
    """fn(*args, **kwargs) if it runs and agrees with fallback(*args, **kwargs), else the latter."""
    expected = fallback(*args, **kwargs)

    def attempt() -> tuple[Any, bool]:
        got = fn(*args, **kwargs)
        return got, same_result(got, expected, (atol, rtol))

    return _student_or_reference(_name(fn), attempt, expected, quiet)


def try_student_function(
    fn: Callable,
    *args: Any,
    fallback: Callable,
    atol: float = 1e-4,
    rtol: float = 1e-4,
    quiet: bool = False,
    **kwargs: Any,
) -> Callable:
    """fn itself if fn(*args, **kwargs) runs and agrees with fallback(*args, **kwargs), else
    fallback (with the note saying why): for demos that call the function several times."""
    expected = fallback(*args, **kwargs)

    def attempt() -> tuple[Callable, bool]:
        return fn, same_result(fn(*args, **kwargs), expected, (atol, rtol))

    return _student_or_reference(_name(fn), attempt, fallback, quiet)


def _input_width(module: nn.Module) -> int:
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            return layer.in_features
    raise TypeError(f"{type(module).__name__} has no nn.Linear layer to read d_model from.")


def try_student_module(
    cls: type, fallback: type, *args: Any, seed: int = 0, quiet: bool = False, **kwargs: Any
) -> nn.Module:
    """cls(*args, **kwargs) holding fallback's weights if it agrees with fallback, else fallback's.

    Both modules are built with the same seeded initialisation; the student's module gets the
    reference's parameters (load_state_dict, so the parameter names must match) and must give the
    same outputs on a seeded probe input (B, T, d_model), with and without a causal mask (and
    with return_weights=True too, when the reference's forward takes it).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        expected = fallback(*args, **kwargs)
    expected.eval()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(PROBE_BATCH, PROBE_LEN, _input_width(expected), generator=gen)
    mask = torch.ones(PROBE_LEN, PROBE_LEN, dtype=torch.bool).tril()
    probes = [((x,), {}), ((x, mask), {})]
    if "return_weights" in inspect.signature(expected.forward).parameters:
        probes += [((x,), {"return_weights": True}), ((x, mask), {"return_weights": True})]

    def attempt() -> tuple[nn.Module, bool]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = cls(*args, **kwargs)
        module.load_state_dict(expected.state_dict())
        module.eval()
        with torch.no_grad():
            agrees = all(
                same_result(module(*a, **kw), expected(*a, **kw), (1e-4, 1e-4)) for a, kw in probes
            )
        return module, agrees

    return _student_or_reference(_name(cls), attempt, expected, quiet)


def try_student_checked(obj: Any, check: Callable[[Any], Any], *, fallback: Any,
                        quiet: bool = False) -> Any:
    """obj if check(obj) passes, else fallback, with a one-line note saying why (the check's
    first line: which cases failed, or why it was skipped)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            result = check(obj)
        if getattr(result, "passed", False):
            return obj
        reason = f"`{_name(obj)}` was not checked: {str(result).split('. ', 1)[-1][:160]}"
    except NotImplementedError:
        reason = f"`{_name(obj)}` is not written yet"
    except Exception as e:  # CheckFailed, or anything the check could not catch
        diagnosis = getattr(getattr(e, "verdict", None), "diagnosis", None)
        first = (str(e).splitlines() or [""])[0].split(": ", 1)[-1].rstrip(".")
        reason = (f"`{_name(obj)}` is not written yet"
                  if diagnosis is not None and diagnosis.title.startswith("not implemented")
                  else f"`{_name(obj)}` does not pass its check yet ({first[:160]})")
    if not quiet:
        print(f"{NOTE}: {reason}.")
    return fallback
