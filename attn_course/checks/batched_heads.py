"""The check for computing every attention head at once, without a Python loop over heads.

    check_batched_heads(fn, *, seed=0)
        fn(x, w_q, w_k, w_v): x (B, T, D), w_* (H, D, d) -> (B, H, T, d), head h being
        softmax((x w_q[h]) (x w_k[h])^T / sqrt(d)) (x w_v[h]).

Judged against the loop over heads (`reference.heads_loop`). The head size d is chosen apart
from D / H in some cases, so that an answer which assumes d = D / H, or scales by sqrt(D), fails.
"""

from __future__ import annotations

import math

import torch

from attn_course.checks import catalogue
from attn_course.checks import draw as drawing
from attn_course.checks.check import Check
from attn_course.checks.mistakes import FlagHint, Mistake
from attn_course.checks.records import Case
from attn_course.checks.results import CheckResult
from attn_course.device import tolerances
from attn_course.formatting import dtype_text, shape_text
from attn_course.reference.batched_heads import heads_loop

__all__ = ["BATCHED_HEADS_CHECK", "check_batched_heads"]

F64, F32 = torch.float64, torch.float32


def _case(g, seed, i, name, B, T, D, H, d, dtype, flags=(), device="cpu") -> Case:
    x = torch.randn(B, T, D, generator=g, dtype=F64)
    w = [torch.randn(H, D, d, generator=g, dtype=F64) / math.sqrt(D) for _ in range(3)]
    atol, rtol = tolerances(dtype, device)
    all_flags = set(flags) | ({"float32"} if dtype == F32 else set()) | (
        {"h1"} if H == 1 else set())
    tensors = {"x": x, "w_q": w[0], "w_k": w[1], "w_v": w[2]}
    return Case(
        name=name,
        inputs={n: t.to(dtype=dtype, device=device) for n, t in tensors.items()},
        shapes=((B, H, T, d),),
        tolerance=(atol, rtol),
        description=f"x {shape_text((B, T, D))}, w_q, w_k, w_v {shape_text((H, D, d))} "
                    f"{dtype_text(dtype)} → expected {shape_text((B, H, T, d))}",
        flags=frozenset(all_flags),
        key=f"batched:{seed}:{i}:{name}:{device}",
    )


def batched_cases(seed: int = 0, *, device: str | torch.device = "cpu") -> list[Case]:
    """Cases for batched_heads(x, w_q, w_k, w_v), simple -> hard."""
    g = torch.Generator().manual_seed(seed)
    specs = [
        ("B=2, T=5, D=8, 2 heads of 4", 2, 5, 8, 2, 4, F64),
        ("B=1, T=4, D=6, 3 heads of 2", 1, 4, 6, 3, 2, F64),
        ("B=2, T=3, D=8, 1 head of 8", 2, 3, 8, 1, 8, F64),
        ("B=2, T=6, D=8, 4 heads of 5 (d is not D / H)", 2, 6, 8, 4, 5, F64, ("free_d",)),
        ("B=3, T=7, D=12, 4 heads of 3, float32", 3, 7, 12, 4, 3, F32),
    ]
    return [_case(g, seed, i, *spec, device=device) for i, spec in enumerate(specs)]


def batched_draw(seed: int, *, start: int, device: str | torch.device = "cpu") -> list[Case]:
    """Three cases drawn from `seed`: T 8-16, 2-6 heads of 2-7, float64, float32, on `device`."""
    g = drawing.generator(seed)
    cases = []
    for dtype, where in drawing.placements(device):
        B, T, D = drawing.integer(g, 1, 3), drawing.integer(g, 8, 16), drawing.integer(g, 6, 12)
        H, d = drawing.integer(g, 2, 6), drawing.integer(g, 2, 7)
        name = (f"drawn: B={B}, T={T}, D={D}, {H} heads of {d} {dtype_text(dtype)}"
                + drawing.on(where))
        cases.append(_case(g, seed, start + len(cases), name, B, T, D, H, d, dtype, device=where))
    return cases


# ---- the known mistakes' variants ------------------------------------------------------------
def _attend(q, k, v, scale, dim=-1):
    return torch.softmax(q @ k.transpose(-2, -1) * scale, dim=dim) @ v


def _project(x, w_q, w_k, w_v):
    xh = x.unsqueeze(1)  # (B, 1, T, D)
    return xh @ w_q, xh @ w_k, xh @ w_v


def no_scale(x, w_q, w_k, w_v):
    return _attend(*_project(x, w_q, w_k, w_v), 1.0)


def scaled_by_model_width(x, w_q, w_k, w_v):
    return _attend(*_project(x, w_q, w_k, w_v), 1 / math.sqrt(x.shape[-1]))


def softmax_over_queries(x, w_q, w_k, w_v):
    q, k, v = _project(x, w_q, w_k, w_v)
    return _attend(q, k, v, 1 / math.sqrt(q.shape[-1]), dim=-2)


def heads_after_time(x, w_q, w_k, w_v):
    q, k, v = _project(x, w_q, w_k, w_v)
    return _attend(q, k, v, 1 / math.sqrt(q.shape[-1])).transpose(1, 2)  # (B, T, H, d)


def keys_with_the_query_weights(x, w_q, w_k, w_v):
    q, _, v = _project(x, w_q, w_k, w_v)
    return _attend(q, q, v, 1 / math.sqrt(q.shape[-1]))


def heads_mixed_by_a_view(x, w_q, w_k, w_v):
    """Every head's weights side by side in one (D, H d) matrix, then a view without the
    transpose: (B, T, H d) read as (B, H, T, d) mixes positions and heads."""
    B, T, _ = x.shape
    H, D, d = w_q.shape
    q, k, v = ((x @ w.permute(1, 0, 2).reshape(D, H * d)).view(B, H, T, d)
               for w in (w_q, w_k, w_v))
    return _attend(q, k, v, 1 / math.sqrt(d))


BATCHED_HEADS_MISTAKES: tuple[Mistake, ...] = (
    Mistake("no_scale", "the scores are not divided by √d",
            "divide q @ k.transpose(-2, -1) by math.sqrt(d), d = w_q.shape[-1]",
            (no_scale,)),
    Mistake("scaled_by_model_width",
            "the scores are divided by √D, the model's width, instead of √d, the head size",
            "use d = w_q.shape[-1] (the last dim of the weights), not x.shape[-1]",
            (scaled_by_model_width,)),
    Mistake("softmax_over_queries",
            "the softmax runs over the queries (dim=-2): each key's weights add up to 1 instead "
            "of each query's",
            "softmax(..., dim=-1): the last dim of (B, H, T_q, T_k) holds the keys",
            (softmax_over_queries,)),
    Mistake("heads_after_time", "the result is (B, T, H, d): the heads must come before time",
            "keep the heads in dim 1: project with x.unsqueeze(1) @ w, which is (B, H, T, d), and "
            "do not transpose the result",
            (heads_after_time,)),
    Mistake("keys_with_the_query_weights", "the keys are projected with w_q",
            "k = x.unsqueeze(1) @ w_k", (keys_with_the_query_weights,)),
    Mistake("heads_mixed_by_a_view",
            "the heads' projections are concatenated and then viewed as (B, H, T, d) without a "
            "transpose: each 'head' gets a mix of positions and heads",
            "view as (B, T, H, d) first, then .transpose(1, 2) — or broadcast: "
            "x.unsqueeze(1) @ w_q is (B, H, T, d) directly",
            (heads_mixed_by_a_view,)),
)

BATCHED_HEADS_CHECK = Check(
    "batched_heads",
    check_function="check_batched_heads",
    forbidden=catalogue.TORCH_MULTI_HEAD,
    outputs=("out",),
    signature="def batched_heads(x, w_q, w_k, w_v): ... return out  # (B, H, T, d)",
    make_cases=batched_cases,
    draw=batched_draw,
    oracle=heads_loop,
    mistakes=BATCHED_HEADS_MISTAKES,
    flag_hints=(
        FlagHint(frozenset({"free_d"}), "it fails only when d is not D / H: take the head size "
                                        "from the weights (w_q.shape[-1])"),
        FlagHint(frozenset({"h1"}), "it fails only with one head: keep the head dim, no "
                                    "squeeze()"),
    ),
)


def check_batched_heads(fn, *, seed: int = 0) -> CheckResult:
    """Check `fn(x, w_q, w_k, w_v)` -> (B, H, T, d) against the loop over heads."""
    __tracebackhide__ = True
    return BATCHED_HEADS_CHECK.check(fn, seed=seed)
