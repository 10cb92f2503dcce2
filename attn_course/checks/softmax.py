"""Check for the warm-up exercise: a numerically stable softmax.

    check_softmax(fn, *, seed=0)
        fn(x, dim=-1) -> same shape and dtype as x, exp(x) / sum(exp(x)) along dim.

The oracle is torch.softmax in float64.
"""

from __future__ import annotations

import numpy as np
import torch

from attn_course.checks import draw as drawing
from attn_course.checks.check import Check
from attn_course.checks.mistakes import FlagHint, Mistake
from attn_course.checks.records import Case
from attn_course.checks.results import CheckResult
from attn_course.device import tolerances
from attn_course.formatting import dtype_text, shape_text

__all__ = ["SOFTMAX_CHECK", "check_softmax", "softmax_cases"]


def _softmax_oracle(x, dim=-1):
    return torch.softmax(x.to(torch.float64), dim=dim).to(x.dtype)


def softmax_cases(seed: int = 0, *, device: str | torch.device = "cpu") -> list[Case]:
    """Cases for softmax(x, dim), simple -> hard."""
    g = torch.Generator().manual_seed(seed)
    f64, f32 = torch.float64, torch.float32
    specs = [
        # name, shape, dtype, dim (None: not passed), offset, flags
        ("1-D (6,) float64", (6,), f64, None, 0.0, ("1d",)),
        ("2-D (3, 5) float64", (3, 5), f64, None, 0.0, ("2d",)),
        ("2-D square (4, 4) float64", (4, 4), f64, None, 0.0, ("2d", "square")),
        ("3-D (2, 3, 5) float32", (2, 3, 5), f32, -1, 0.0, ("3d", "float32")),
        ("dim=0 on (4, 3) float64", (4, 3), f64, 0, 0.0, ("2d", "dim")),
        ("dim=1 on (2, 5, 3) float64", (2, 5, 3), f64, 1, 0.0, ("3d", "dim")),
        ("dim=-2 on (2, 3, 4, 5) float32", (2, 3, 4, 5), f32, -2, 0.0,
         ("4d", "dim", "float32")),
        ("large values ≈1e3 float64", (3, 5), f64, None, 1e3, ("2d", "large_logits")),
        ("large values ≈1e2 float32", (3, 5), f32, None, 1e2,
         ("2d", "large_logits", "float32")),
        ("rows ≈+1e3 and ≈-1e3 float64", (4, 5), f64, None, "mixed",
         ("2d", "large_logits")),
        ("very negative values ≈-1e4 float64", (3, 5), f64, None, -1e4,
         ("2d", "large_logits")),
    ]
    return [_softmax_case(g, seed, i, *spec, device=device) for i, spec in enumerate(specs)]


def _softmax_case(g, seed, i, name, shape, dtype, dim, offset, flags, *, device) -> Case:
    x = torch.randn(*shape, generator=g, dtype=torch.float64) * 1.5
    if offset == "mixed":
        x = x + torch.tensor([1e3, -1e3, 1e3, -1e3], dtype=torch.float64)[:, None]
    else:
        x = x + offset
    big = float(x.abs().max())
    scale = max(1.0, big / 10)
    atol, rtol = tolerances(dtype, device)
    inputs = {"x": x.to(dtype=dtype, device=device)}
    keywords: tuple[str, ...] = ()
    if dim is not None:
        inputs["dim"] = dim
        keywords = ("dim",)
    return Case(
        name=name,
        inputs=inputs,
        keywords=keywords,
        shapes=(tuple(shape),),
        tolerance=(atol * scale, rtol * scale),
        description=f"x {shape_text(shape)} {dtype_text(dtype)}, "
        f"dim={-1 if dim is None else dim}",
        flags=frozenset(flags),
        key=f"softmax:{seed}:{i}:{name}:{device}",
        scale=scale,
    )


def softmax_draw(seed: int, *, start: int, device: str | torch.device = "cpu") -> list[Case]:
    """Three cases drawn from `seed`: 2-D to 4-D, the softmax dim of 7 to 12 values (the public
    cases have at most 6), float64, float32, and float32 on `device`."""
    g = drawing.generator(seed)
    cases = []
    for dtype, where in ((torch.float64, "cpu"), (torch.float32, "cpu"), (torch.float32, device)):
        ndim = drawing.integer(g, 2, 4)
        dim = drawing.pick(g, (None, *range(-ndim, 0)))
        shape = [drawing.integer(g, 2, 5) for _ in range(ndim)]
        shape[-1 if dim is None else dim] = drawing.integer(g, 7, 12)
        offset = drawing.pick(g, (0.0, 50.0, -50.0))
        flags = {f"{ndim}d"} | ({"dim"} if dim not in (None, -1) else set())
        flags |= {"float32"} if dtype == torch.float32 else set()
        flags |= {"large_logits"} if offset else set()
        name = (f"drawn: {'dim=' + str(dim) + ' on ' if dim is not None else ''}"
                f"{shape_text(shape)} {dtype_text(dtype)}"
                + (f", values ≈{offset:+g}" if offset else "")
                + drawing.on(where))
        cases.append(_softmax_case(g, seed, start + len(cases), name, tuple(shape), dtype, dim,
                                   offset, tuple(sorted(flags)), device=where))
    return cases


# ---- the known mistakes' variants: softmax(x, dim=-1) with one bug each ----------------------
def _normalised(e, dim):
    return e / e.sum(dim=dim, keepdim=True)


def _stable(x, dim):
    return _normalised(torch.exp(x - x.amax(dim=dim, keepdim=True)), dim)


def last_axis_only(x, dim=-1):
    return _stable(x, -1)


def over_dim_0(x, dim=-1):
    return _stable(x, 0)


def over_dim_minus_2(x, dim=-1):
    return _stable(x, -2)


def over_all_elements(x, dim=-1):
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum()


def over_all_elements_global_max(x, dim=-1):
    e = torch.exp(x - x.max())
    return e / e.sum()


def max_over_last_axis(x, dim=-1):
    return _normalised(torch.exp(x - x.amax(dim=-1, keepdim=True)), dim)


def unstable(x, dim=-1):
    return _normalised(torch.exp(x), dim)


def global_max(x, dim=-1):
    return _normalised(torch.exp(x - x.max()), dim)


def exp_shifted(x, dim=-1):
    return torch.exp(x - x.amax(dim=dim, keepdim=True))


def exp_only(x, dim=-1):
    return torch.exp(x)


def sum_without_keepdim(x, dim=-1):
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim)


def max_without_keepdim(x, dim=-1):
    return _normalised(torch.exp(x - x.amax(dim=dim)), dim)


def no_keepdim(x, dim=-1):
    e = torch.exp(x - x.amax(dim=dim))
    return e / e.sum(dim=dim)


def log_of_softmax(x, dim=-1):
    return torch.log(_stable(x, dim))


def in_place(x, dim=-1):
    x.sub_(x.amax(dim=dim, keepdim=True))
    return _normalised(x.exp_(), dim)


def in_float32(x, dim=-1):
    return _stable(x, dim).to(torch.float32)


SOFTMAX_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "ignores_dim",
        "the dim argument is ignored (always the last axis)",
        "use dim everywhere: x.amax(dim=dim, keepdim=True) and e.sum(dim=dim, keepdim=True)",
        (last_axis_only,),
    ),
    Mistake(
        "wrong_axis",
        "the softmax normalises over the wrong axis",
        "normalise along dim: e / e.sum(dim=dim, keepdim=True)",
        (over_dim_0, over_dim_minus_2, over_all_elements, over_all_elements_global_max),
    ),
    Mistake(
        "max_wrong_dim",
        "the max is taken over a different dim than the sum",
        "subtract the max along the same dim: x - x.amax(dim=dim, keepdim=True)",
        (max_over_last_axis,),
    ),
    Mistake(
        "unstable",
        "the softmax is numerically unstable: exp overflows (or underflows) for large values",
        "subtract the max first: e = torch.exp(x - x.amax(dim=dim, keepdim=True))",
        (unstable,),
    ),
    Mistake(
        "global_max",
        "the max is taken over the whole tensor, so rows far below it underflow to 0/0",
        "subtract the max along dim: x.amax(dim=dim, keepdim=True)",
        (global_max,),
    ),
    Mistake(
        "not_normalised",
        "the result is exp(x) without dividing by the sum",
        "divide by the sum along dim: e / e.sum(dim=dim, keepdim=True)",
        (exp_shifted, exp_only),
    ),
    Mistake(
        "missing_keepdim",
        "keepdim=True is missing, so the max / sum broadcast against the wrong axis",
        "keep the reduced dim: x.amax(dim=dim, keepdim=True), e.sum(dim=dim, keepdim=True)",
        (sum_without_keepdim, max_without_keepdim, no_keepdim),
    ),
    Mistake(
        "log_softmax",
        "the result is the log of the softmax",
        "return the probabilities themselves, not their log",
        (log_of_softmax,),
    ),
    Mistake(
        "inplace_input",
        "x is modified in place (x -= …, x.exp_())",
        "compute new tensors (x = x - m, e = torch.exp(x)); never change the input",
        (in_place,),
    ),
    Mistake(
        "dtype_change",
        "the result comes back in another dtype",
        "your float64 inputs came back as float32: avoid torch.tensor(...) / .float(); keep "
        "the input's dtype",
        (in_float32,),
    ),
)


def _softmax_explain(records, cases, oracle, results) -> list[str]:
    for i, r in enumerate(results):
        if r.passed:
            continue
        rec, case = records[i], cases[i]
        v = rec.value
        if rec.status != "returned" or v is None or v.kind != "tensor" or v.data is None:
            continue
        y = v.data
        if y.shape != tuple(case.shapes[0]) or not np.isfinite(y).all():
            continue
        dim = case.inputs.get("dim", -1)
        sums = y.sum(axis=dim)
        if np.abs(sums - 1).max() > 1e-4:
            for other in range(-y.ndim, 0):
                if other != dim % y.ndim - y.ndim and np.abs(y.sum(axis=other) - 1).max() < 1e-6:
                    return [f"your output sums to 1 along dim={other}, but this case asks for "
                            f"dim={dim}"]
            return [f"your output does not sum to 1 along dim={dim} (sums from "
                    f"{sums.min():.4g} to {sums.max():.4g})"]
        return []
    return []


def _float_dtype_hint(output: str, got: str, want: str) -> str:
    if want == "torch.float64" and got == "torch.float32":
        return "your float64 inputs came back as float32: avoid torch.tensor(...) / .float()"
    return f"keep the input's dtype ({want.replace('torch.', '')})"


SOFTMAX_CHECK = Check(
    "softmax",
    check_function="check_softmax",
    forbidden=("torch.softmax", "torch.nn.functional.softmax", "torch.Tensor.softmax",
               "torch.special.softmax", "torch.nn.Softmax", "torch.log_softmax",
               "torch.nn.functional.log_softmax", "torch.Tensor.log_softmax",
               "torch.special.log_softmax", "torch.nn.LogSoftmax"),
    outputs=("result",),
    signature="def softmax(x, dim=-1): ... return result  # same shape as x",
    make_cases=softmax_cases,
    draw=softmax_draw,
    oracle=_softmax_oracle,
    mistakes=SOFTMAX_MISTAKES,
    flag_hints=(
        FlagHint(frozenset({"dim"}),
                 "it fails only when dim is not the last axis: use dim in every reduction, "
                 "with keepdim=True"),
        FlagHint(frozenset({"large_logits"}),
                 "it fails only for large values: subtract the max along dim before exp"),
        FlagHint(frozenset({"square"}),
                 "it fails only for a square input: a reduction without keepdim=True "
                 "broadcasts against the wrong axis"),
        FlagHint(frozenset({"float32"}),
                 "it fails only for float32 inputs: don't hard-code dtypes"),
    ),
    explain=_softmax_explain,
    dtype_hint=_float_dtype_hint,
)


def check_softmax(fn, *, seed: int = 0) -> CheckResult:
    """Check `fn(x, dim=-1)`: a numerically stable softmax over `dim`, same dtype as x."""
    __tracebackhide__ = True
    return SOFTMAX_CHECK.check(fn, seed=seed)
