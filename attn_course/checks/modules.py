"""Checks for exercises that are nn.Module classes (the student passes the class itself).

A `ModuleCheck` is a `Check` whose `run` wraps the class in a runner. For each case the runner
    1. builds the class with the case's constructor arguments (inputs["init"] = (args, kwargs)),
    2. verifies the contract: an nn.Module with the named nn.Linear projections, their shapes and
       biases, and no parameters besides them,
    3. copies the case's weights (inputs["state"], e.g. {"q_proj.weight": ...}) into those
       projections by name, converts the module to x's dtype and calls .eval(),
    4. calls the exercise's `forward(check, module, x, mask)`, which makes the calls (twice, to
       catch randomness left on in eval mode) and returns the outputs to judge.

Anything wrong before the numbers is a `ModuleContractError` whose message says what to change;
it is shown as it is, never as a traceback. The oracle and the known mistakes are classes too
and go through the same runner, so their records compare like for like.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from attn_course.checks.check import Check
from attn_course.checks.messages import describe_value
from attn_course.checks.mistakes import ExceptionHint, FlagHint
from attn_course.checks.records import Case, ErrorInfo, to_value
from attn_course.checks.results import Diagnosis, Problem
from attn_course.compare import plain_tensor, same_result

__all__ = [
    "NONDETERMINISTIC",
    "SUPER_INIT_HINT",
    "ModuleCase",
    "ModuleCheck",
    "ModuleContractError",
    "call_twice",
    "describe",
]


class ModuleContractError(Exception):
    """The module breaks the exercise's contract; the message says what to change."""


@dataclass(frozen=True, eq=False)
class ModuleCase(Case):
    """A `Case` for a module.

    call: the code shown to the student for this case. probe: data for property hints, e.g.
    ("isolation", base_case_index, head) or ("causal", base_case_index, last_kept_position).
    """

    call: str = ""
    probe: tuple = ()

    def call_text(self, fn_name: str) -> str:
        return self.call or super().call_text(fn_name)


def describe(obj: Any) -> str:
    """A short description of any object, without calling its own methods."""
    value = to_value(obj)
    if value.kind == "tensor":
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(obj, type):
        return f"the class {getattr(obj, '__name__', '?')}"
    if callable(obj) and hasattr(obj, "__code__"):
        return f"the function {getattr(obj, '__name__', '?')}"
    return describe_value(value)


NONDETERMINISTIC = (
    "two identical calls in eval mode gave different results: something random is active "
    "after model.eval(). Use an nn.Dropout module (model.eval() turns it off) or "
    "F.dropout(w, p, training=self.training); F.dropout(w, p) alone is always on"
)


def call_twice(module: nn.Module, x: torch.Tensor, **kwargs: Any) -> Any:
    """module(x, **kwargs), called twice: the inputs must stay untouched and the two results
    agree (eval mode has no randomness). Returns the first result."""
    inputs = {"x": x, **{k: v for k, v in kwargs.items() if isinstance(v, torch.Tensor)}}
    before = {k: plain_tensor(v).detach().clone() for k, v in inputs.items()}
    first = module(x, **kwargs)
    for name, value in inputs.items():
        if not same_result(value, before[name]):
            raise ModuleContractError(
                f"forward changed its input {name} in place; leave inputs untouched (write "
                f"{name} = {name} * … instead of {name} *= …, avoid in-place methods ending "
                "in _ on inputs)"
            )
    if not same_result(first, module(x, **kwargs)):
        raise ModuleContractError(NONDETERMINISTIC)
    return first


SUPER_INIT_HINT = ExceptionHint(
    r"cannot assign module before Module.__init__\(\)|has no attribute '_modules'|"
    r"Module.__init__\(\) call",
    "call super().__init__() as the first line of __init__",
)


class ModuleCheck(Check):
    """A `Check` for an nn.Module class.

    linears: the nn.Linear attributes the class must have (shapes and biases come from the
    case's state). forward(check, module, x, mask) -> outputs, with ModuleContractError for
    broken contracts. notes: linear name -> what it does, shown when it is missing or misshapen.
    parameter_note: appended when the parameter count is off. Other arguments as for `Check`
    (the oracle and the mistakes' variants are classes).
    """

    def __init__(
        self,
        name: str,
        *,
        linears: Sequence[str],
        forward: Callable[..., Any],
        notes: dict[str, str] | None = None,
        parameter_note: str = "",
        **kwargs: Any,
    ):
        super().__init__(name, **kwargs)
        self.linears = tuple(linears)
        self.forward = forward
        self.notes = dict(notes or {})
        self.parameter_note = parameter_note

    # ---- the student's object --------------------------------------------------------------
    def not_a_class(self, obj: Any) -> str | None:
        """Why `obj` is not a usable nn.Module class, or None."""
        usage = f"{self.check_function}({self.name})"
        if isinstance(obj, nn.Module):
            return (f"expected the class {self.name}, got an instance of "
                    f"{type(obj).__name__} (a module already built). Pass the class itself, "
                    f"without calling it: {usage}")
        if isinstance(obj, type):
            if issubclass(obj, nn.Module):
                return None
            return (f"{obj.__name__} is a class but not an nn.Module: define it as "
                    f"class {self.name}(nn.Module) and call super().__init__() first in "
                    "__init__")
        return f"expected the class {self.name}, got {describe(obj)}. Pass the class: {usage}"

    def not_a_function(self, fn: Any) -> str | None:
        return self.not_a_class(fn)

    def run(self, fn: Any, cases: Sequence[Case]) -> list:
        """Build and call the class on every case; never raises for anything it does."""
        return super().run(self.runner(fn), cases)

    def runner(self, cls: Any) -> Callable[..., Any]:
        """A function of the case's inputs that builds `cls` and calls it (see module doc)."""

        def run_module(init, state, x, mask=None):
            module = self._build(cls, init)
            self._load(module, init, state, x)
            grad = contextlib.nullcontext() if x.requires_grad else torch.no_grad()
            with grad:
                return self.forward(self, module, x, mask)

        return run_module

    def constructor(self, init) -> str:
        """The constructor call as code, e.g. `MultiHeadSelfAttention(12, 3, bias=False)`."""
        args, kwargs = init
        parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        return f"{self.name}({', '.join(parts)})"

    def _build(self, cls: Any, init) -> nn.Module:
        problem = self.not_a_class(cls)
        if problem:
            raise ModuleContractError(problem)
        args, kwargs = init
        module = cls(*args, **kwargs)
        if not isinstance(module, nn.Module):
            raise ModuleContractError(f"{self.constructor(init)} gave {describe(module)}, not an "
                                      "nn.Module")
        return module

    def _load(self, module: nn.Module, init, state: dict, x: torch.Tensor) -> None:
        made = self.constructor(init)
        found = {n: getattr(module, n, None) for n in self.linears}
        missing = [n for n in self.linears if not isinstance(found[n], nn.Linear)]
        if missing:
            notes = "; ".join(f"{n}: {self.notes[n]}" for n in missing if n in self.notes)
            text = (f"{self.name} needs nn.Linear attributes {', '.join(self.linears)}; "
                    f"missing: {', '.join(missing)}" + (f" ({notes})" if notes else ""))
            wrong = [f"{n} is {describe(found[n])}" for n in missing if found[n] is not None]
            have = [f"{n} ({m.in_features} → {m.out_features})"
                    for n, m in module.named_modules() if n and isinstance(m, nn.Linear)]
            if wrong:
                text += f". {'; '.join(wrong)}, not an nn.Linear"
            if have:
                text += f". Found nn.Linear {', '.join(have)}"
            raise ModuleContractError(f"{text}. Name them exactly: self.{missing[0]} = "
                                      "nn.Linear(...)")
        for i, a in enumerate(self.linears):
            for b in self.linears[i + 1:]:
                if found[a] is found[b]:
                    raise ModuleContractError(
                        f"{a} and {b} are the same nn.Linear: each projection needs its own "
                        f"weights (self.{b} = nn.Linear(...), not self.{b} = self.{a})"
                    )
        for n in self.linears:
            want_out, want_in = state[f"{n}.weight"].shape
            got_out, got_in = found[n].weight.shape
            if (got_in, got_out) != (want_in, want_out):
                note = f" ({self.notes[n]})" if n in self.notes else ""
                raise ModuleContractError(
                    f"in {made}, {n} maps {got_in} → {got_out} features, expected "
                    f"{want_in} → {want_out}{note}"
                )
            want_bias, has_bias = f"{n}.bias" in state, found[n].bias is not None
            if want_bias != has_bias:
                raise ModuleContractError(
                    f"in {made}, {n} {'has a' if has_bias else 'has no'} bias but bias="
                    f"{want_bias}: create every projection with nn.Linear(..., bias=bias)"
                )
        params = dict(module.named_parameters())
        got = sum(p.numel() for p in params.values())
        want = sum(t.numel() for t in state.values())
        if got != want:
            extra = [n for n in params if n not in state]
            shown = f"; extra: {', '.join(extra[:4])}" if extra else ""
            raise ModuleContractError(
                f"{made} has {got} parameters, expected {want} (those of "
                f"{', '.join(self.linears)} only){self.parameter_note}{shown}"
            )
        module.to(dtype=x.dtype, device=x.device)
        with torch.no_grad():
            for key, value in state.items():
                owner, attr = key.rsplit(".", 1)
                getattr(getattr(module, owner), attr).copy_(value)
        module.eval()

    # ---- judging ---------------------------------------------------------------------------
    def raised_problem(self, err: ErrorInfo) -> Problem:
        if err.type_name == ModuleContractError.__name__:
            return Problem("contract", err.message)
        return super().raised_problem(err)

    def diagnose(self, records, cases, oracle, results) -> Diagnosis:
        first = [r.problems[0] if r.problems else None for r in results]
        if all(p is not None and p.code == "contract" for p in first) and len(
            {p.message for p in first}
        ) == 1:  # the same broken contract everywhere: its message is the diagnosis
            return Diagnosis("", "", "contract", "structural")
        return super().diagnose(records, cases, oracle, results)


# Flag hints every module check shares: failures confined to one kind of case.
MODULE_FLAG_HINTS = (
    FlagHint(frozenset({"t1"}), "it fails only for T=1: keep every dim (no squeeze())"),
    FlagHint(frozenset({"float32"}), "it fails only for float32: don't hard-code dtypes; "
                                     "create new tensors with dtype=x.dtype"),
    FlagHint(frozenset({"grad"}), "only the gradient case fails: no .detach(), .data or "
                                  "torch.no_grad() inside forward"),
)

