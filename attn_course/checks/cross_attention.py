"""The check for cross-attention (an encoder–decoder's second attention).

    check_cross_attention(fn, *, seed=0)
        fn(x, memory, w_q, w_k, w_v) -> (out, weights): queries from x (..., T_q, d_model),
        keys and values from memory (..., T_k, d_model); w_q, w_k (d_model, d_k),
        w_v (d_model, d_v); out (..., T_q, d_v), weights (..., T_q, T_k).

The oracle is the reference `cross_attention` in float64. T_q ≠ T_k in every case but one, so
keys or values taken from the wrong sequence show up as a wrong shape; the case with T_q = T_k
shows them as wrong values.
"""

from __future__ import annotations

import math

import torch

from attn_course.checks import attention_variants as av
from attn_course.checks import catalogue
from attn_course.checks import draw as drawing
from attn_course.checks.check import Check
from attn_course.checks.mistakes import ExceptionHint, FlagHint, Mistake
from attn_course.checks.records import Case
from attn_course.checks.results import CheckResult
from attn_course.device import tolerances
from attn_course.formatting import dtype_text, shape_text
from attn_course.reference.cross_attention import cross_attention

__all__ = ["CROSS_ATTENTION_CHECK", "check_cross_attention", "cross_attention_cases"]

F64, F32 = torch.float64, torch.float32


def _oracle(x, memory, w_q, w_k, w_v):
    """The reference in float64, results in x's dtype."""
    out, weights = cross_attention(*(t.to(F64) for t in (x, memory, w_q, w_k, w_v)))
    return out.to(x.dtype), weights.to(x.dtype)


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------
def _cross_case(g, seed, i, name, *, batch, T_q, T_k, D, d_k, d_v, dtype=F64, device="cpu",
                grad=False, flags=()) -> Case:
    x = torch.randn(*batch, T_q, D, generator=g, dtype=F64)
    memory = torch.randn(*batch, T_k, D, generator=g, dtype=F64)
    weights = {n: torch.randn(D, d, generator=g, dtype=F64) / math.sqrt(D)
               for n, d in (("w_q", d_k), ("w_k", d_k), ("w_v", d_v))}
    inputs = {n: t.to(dtype=dtype, device=device)
              for n, t in {"x": x, "memory": memory, **weights}.items()}
    shapes = ((*batch, T_q, d_v), (*batch, T_q, T_k))
    all_flags = set(flags) | {f"{len(batch) + 2}d"}
    all_flags |= {"same_length"} if T_q == T_k else set()
    all_flags |= {"float32"} if dtype == F32 else set()
    all_flags |= {"grad"} if grad else set()
    return Case(
        name=name,
        inputs=inputs,
        shapes=shapes,
        tolerance=tolerances(dtype, device),
        description=f"x {shape_text(x.shape)}, memory {shape_text(memory.shape)}, d_k={d_k}, "
                    f"d_v={d_v} {dtype_text(dtype)}" + (", gradients checked" if grad else ""),
        flags=frozenset(all_flags),
        grad=("x", "memory") if grad else (),
        grad_outputs=tuple(torch.randn(*s, generator=g, dtype=F64).to(dtype) for s in shapes)
        if grad else (),
        key=f"cross:{seed}:{i}:{name}",
    )


def cross_attention_cases(seed: int = 0, *, device: str | torch.device = "cpu") -> list[Case]:
    """Cases for cross_attention, simple -> hard: T_q ≠ T_k but once, d_k ≠ d_v, 2-D to 4-D."""
    g = torch.Generator().manual_seed(seed)
    device = str(torch.device(device))
    specs = [
        ("4 queries over 6 keys", dict(batch=(1,), T_q=4, T_k=6, D=8, d_k=4, d_v=4)),
        ("T_q=3, T_k=7, d_k=4, d_v=5", dict(batch=(2,), T_q=3, T_k=7, D=6, d_k=4, d_v=5)),
        ("T_q=5, T_k=2 float32", dict(batch=(2,), T_q=5, T_k=2, D=8, d_k=6, d_v=3, dtype=F32)),
        ("T_q = T_k = 5", dict(batch=(2,), T_q=5, T_k=5, D=6, d_k=3, d_v=4)),
        ("2-D: T_q=3, T_k=6", dict(batch=(), T_q=3, T_k=6, D=5, d_k=4, d_v=2)),
        ("4-D (2, 2, ...): T_q=4, T_k=3", dict(batch=(2, 2), T_q=4, T_k=3, D=6, d_k=2, d_v=3)),
        ("T_q=1", dict(batch=(2,), T_q=1, T_k=4, D=6, d_k=4, d_v=4, flags=("t1",))),
        ("T_q=3, T_k=5, gradients", dict(batch=(2,), T_q=3, T_k=5, D=6, d_k=4, d_v=3,
                                         grad=True)),
    ]
    return [_cross_case(g, seed, i, name, device=device, **spec)
            for i, (name, spec) in enumerate(specs)]


def cross_attention_draw(seed: int, *, start: int,
                         device: str | torch.device = "cpu") -> list[Case]:
    """Three cases drawn from `seed` (T_q 2-9, T_k 8-14, d_model 9-16): float64 with
    gradients, float32, and float64 on `device`."""
    g = drawing.generator(seed)
    cases = []
    for dtype, where, grad in ((F64, "cpu", True), (F32, "cpu", False), (F64, device, False)):
        T_q, T_k = drawing.integer(g, 2, 9), drawing.integer(g, 8, 14)
        D, d_k, d_v = drawing.integer(g, 9, 16), drawing.integer(g, 2, 8), drawing.integer(g, 2, 8)
        name = (f"drawn: T_q={T_q}, T_k={T_k}, d_model={D}, d_k={d_k}, d_v={d_v} "
                f"{dtype_text(dtype)}" + (", gradients" if grad else "")
                + drawing.on(where))
        cases.append(_cross_case(g, seed, start + len(cases), name, batch=(2,), T_q=T_q,
                                 T_k=T_k, D=D, d_k=d_k, d_v=d_v, dtype=dtype,
                                 device=str(torch.device(where)), grad=grad))
    return cases


# --------------------------------------------------------------------------------------------
# Known mistakes: the projections from the wrong sequence, or a broken attention
# --------------------------------------------------------------------------------------------
def _build(attention):
    """cross_attention with `attention` (a variant from attention_variants) inside."""
    def cross_attention(x, memory, w_q, w_k, w_v):
        return attention(x @ w_q, memory @ w_k, memory @ w_v)

    return cross_attention


def keys_values_from_x(x, memory, w_q, w_k, w_v):
    return av.attention(x @ w_q, x @ w_k, x @ w_v)


def roles_swapped(x, memory, w_q, w_k, w_v):
    return av.attention(memory @ w_q, x @ w_k, x @ w_v)


def keys_from_x(x, memory, w_q, w_k, w_v):
    return av.attention(x @ w_q, x @ w_k, memory @ w_v)


def values_from_x(x, memory, w_q, w_k, w_v):
    return av.attention(x @ w_q, memory @ w_k, x @ w_v)


FROM_MEMORY = ("q = x @ w_q (the sequence that asks); k = memory @ w_k and v = memory @ w_v "
               "(the sequence it reads)")

CROSS_ATTENTION_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "keys_values_from_x",
        "the keys and values come from x: that is self-attention on the decoder side, and "
        "memory is never read",
        FROM_MEMORY,
        (keys_values_from_x,),
    ),
    Mistake(
        "roles_swapped",
        "the queries come from memory and the keys and values from x: the roles are swapped, "
        "so out has one row per memory token instead of one per token of x",
        FROM_MEMORY,
        (roles_swapped,),
    ),
    Mistake(
        "keys_from_x",
        "the keys come from x instead of memory",
        FROM_MEMORY,
        (keys_from_x,),
    ),
    Mistake(
        "values_from_x",
        "the values come from x instead of memory",
        FROM_MEMORY,
        (values_from_x,),
    ),
    catalogue.no_scale(_build, "d_k", "q.shape[-1]"),
    catalogue.scale_by_dk(_build),
    catalogue.softmax_wrong_dim(_build, av.softmax_over_queries),
)

CROSS_ATTENTION_CHECK = Check(
    "cross_attention",
    check_function="check_cross_attention",
    outputs=("out", "weights"),
    signature="def cross_attention(x, memory, w_q, w_k, w_v): ... return out, weights",
    make_cases=cross_attention_cases,
    draw=cross_attention_draw,
    oracle=_oracle,
    mistakes=CROSS_ATTENTION_MISTAKES,
    exception_hints=(
        ExceptionHint(
            r"cannot be multiplied|must match the size of tensor|Expected size for first two",
            "the shapes do not line up: weights (..., T_q, T_k) need v (..., T_k, d_v), so the "
            f"keys and the values both come from memory: {FROM_MEMORY}",
        ),
    ),
    flag_hints=(
        FlagHint(frozenset({"same_length"}), "it fails only when T_q = T_k: keys and values "
                                             f"must come from memory: {FROM_MEMORY}"),
        FlagHint(frozenset({"2d", "4d"}), "it works for 3-D inputs only: count dims from the "
                                          "end (k.transpose(-2, -1), softmax(dim=-1))"),
        FlagHint(frozenset({"float32"}), "it fails only for float32: don't hard-code dtypes"),
        FlagHint(frozenset({"grad"}), "only the gradient case fails: keep every step in torch "
                                      "operations that autograd tracks"),
    ),
    forbidden=catalogue.TORCH_ATTENTION,
)


def check_cross_attention(fn, *, seed: int = 0) -> CheckResult:
    """Check `fn(x, memory, w_q, w_k, w_v) -> (out, weights)`: queries from x, keys and values
    from memory. Raises CheckFailed naming the mistake, or returns a CheckResult."""
    __tracebackhide__ = True
    return CROSS_ATTENTION_CHECK.check(fn, seed=seed)
