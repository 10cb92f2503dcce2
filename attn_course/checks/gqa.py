"""The check for grouped-query attention: fewer key/value heads than query heads.

    check_grouped_query_attention(fn, *, seed=0)
        fn(q, k, v, causal): q (B, H, T, d), k and v (B, G, S, d) with G dividing H
        -> (B, H, T, d); query head h attends with K/V head h // (H / G).

Judged against `F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)`
(the course's `reference.grouped_query_attention` computes the same). The cases use group sizes
H / G other than G, so that repeating K/V heads G times instead of H / G times fails, and G > 1
with H / G > 1, so that `repeat` (heads in the wrong order) fails.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from attn_course.checks import catalogue
from attn_course.checks import draw as drawing
from attn_course.checks.check import Check
from attn_course.checks.mistakes import ExceptionHint, FlagHint, Mistake
from attn_course.checks.records import Case
from attn_course.checks.results import CheckResult
from attn_course.device import tolerances
from attn_course.formatting import dtype_text, shape_text

__all__ = ["GROUPED_QUERY_ATTENTION_CHECK", "check_grouped_query_attention"]

F64, F32 = torch.float64, torch.float32


def gqa_oracle(q, k, v, causal):
    """PyTorch's own grouped-query attention."""
    return F.scaled_dot_product_attention(q, k, v, is_causal=bool(causal), enable_gqa=True)


def _case(g, seed, i, name, B, H, G, T, S, d, causal, dtype, device="cpu") -> Case:
    q = torch.randn(B, H, T, d, generator=g, dtype=F64)
    k = torch.randn(B, G, S, d, generator=g, dtype=F64)
    v = torch.randn(B, G, S, d, generator=g, dtype=F64)
    flags = ({"causal"} if causal else set()) | ({"mqa"} if G == 1 else set()) | (
        {"mha"} if G == H else set()) | ({"float32"} if dtype == F32 else set())
    return Case(
        name=name,
        inputs={"q": q.to(dtype=dtype, device=device), "k": k.to(dtype=dtype, device=device),
                "v": v.to(dtype=dtype, device=device), "causal": causal},
        shapes=((B, H, T, d),),
        tolerance=tolerances(dtype, device),
        description=f"q {shape_text((B, H, T, d))}, k, v {shape_text((B, G, S, d))} "
                    f"{dtype_text(dtype)}, causal={causal} → expected {shape_text((B, H, T, d))}",
        flags=frozenset(flags),
        key=f"gqa:{seed}:{i}:{name}:{device}",
    )


def gqa_cases(seed: int = 0, *, device: str | torch.device = "cpu") -> list[Case]:
    """Cases for grouped_query_attention(q, k, v, causal), simple -> hard."""
    g = torch.Generator().manual_seed(seed)
    specs = [
        ("4 query heads, 2 K/V heads", 2, 4, 2, 5, 5, 4, False, F64),
        ("8 query heads, 2 K/V heads (groups of 4)", 1, 8, 2, 4, 4, 3, False, F64),
        ("6 query heads, 3 K/V heads, causal", 2, 6, 3, 5, 5, 4, True, F64),
        ("4 query heads, 1 K/V head (multi-query)", 2, 4, 1, 3, 6, 4, False, F64),
        ("3 query heads, 3 K/V heads (multi-head), causal", 1, 3, 3, 4, 4, 2, True, F64),
        ("8 query heads, 4 K/V heads, causal, float32", 2, 8, 4, 6, 6, 8, True, F32),
    ]
    return [_case(g, seed, i, *spec, device=device) for i, spec in enumerate(specs)]


def gqa_draw(seed: int, *, start: int, device: str | torch.device = "cpu") -> list[Case]:
    """Three cases drawn from `seed`: G 2-4 K/V heads in groups of 2-4, T 5-9."""
    gen = drawing.generator(seed)
    cases = []
    for dtype, where in drawing.placements(device):
        G, size, T = drawing.integer(gen, 2, 4), drawing.integer(gen, 2, 4), drawing.integer(
            gen, 5, 9)
        causal = bool(drawing.integer(gen, 0, 1))
        name = (f"drawn: {G * size} query heads, {G} K/V heads, T={T} {dtype_text(dtype)}, "
                f"causal={causal}" + drawing.on(where))
        cases.append(_case(gen, seed, start + len(cases), name, 1, G * size, G, T, T, 4, causal,
                           dtype, device=where))
    return cases


# ---- the known mistakes' variants ------------------------------------------------------------
def _attend(q, k, v, causal, scale=True):
    s = q @ k.transpose(-2, -1) / (math.sqrt(q.shape[-1]) if scale else 1.0)
    if causal:
        T, S = s.shape[-2:]
        s = s.masked_fill(~torch.ones(T, S, dtype=torch.bool, device=q.device).tril(),
                          float("-inf"))
    return s.softmax(-1) @ v


def kv_heads_repeated_not_interleaved(q, k, v, causal):
    """K/V heads tiled (0, 1, 0, 1, ...) by .repeat: query head h reads K/V head h % G."""
    size = q.shape[1] // k.shape[1]
    return _attend(q, k.repeat(1, size, 1, 1), v.repeat(1, size, 1, 1), causal)


def group_count_for_group_size(q, k, v, causal):
    """Each K/V head repeated G times (the number of groups) instead of H / G (their size)."""
    G = k.shape[1]
    return _attend(q, k.repeat_interleave(G, dim=1), v.repeat_interleave(G, dim=1), causal)


def no_scale(q, k, v, causal):
    size = q.shape[1] // k.shape[1]
    return _attend(q, k.repeat_interleave(size, 1), v.repeat_interleave(size, 1), causal, False)


def causal_ignored(q, k, v, causal):
    size = q.shape[1] // k.shape[1]
    return _attend(q, k.repeat_interleave(size, 1), v.repeat_interleave(size, 1), False)


GROUPED_QUERY_ATTENTION_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "kv_heads_repeated_not_interleaved",
        "the K/V heads are tiled with .repeat (0, 1, 0, 1, ...): query head h reads K/V head "
        "h % G, but the groups are consecutive, so it must read h // (H / G)",
        "k.repeat_interleave(H // G, dim=1) (0, 0, 1, 1, ...), the same for v",
        (kv_heads_repeated_not_interleaved,),
    ),
    Mistake(
        "group_count_for_group_size",
        "each K/V head is repeated G times (the number of groups) instead of H / G times (the "
        "query heads in each group)",
        "repeat by the group size: k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)",
        (group_count_for_group_size,),
    ),
    Mistake(
        "no_scale",
        "the scores are not scaled by 1/√d",
        "divide the scores by math.sqrt(d), with d = q.shape[-1]",
        (no_scale,),
    ),
    Mistake(
        "causal_ignored",
        "with causal=True, queries still see the keys after them",
        "when causal, set the scores above the diagonal to -inf before the softmax: "
        "scores.masked_fill(~torch.ones(T, S, dtype=torch.bool).tril(), float('-inf'))",
        (causal_ignored,),
    ),
)

GROUPED_QUERY_ATTENTION_CHECK = Check(
    "grouped_query_attention",
    check_function="check_grouped_query_attention",
    forbidden=catalogue.TORCH_ATTENTION,
    outputs=("out",),
    signature="def grouped_query_attention(q, k, v, causal): ... return out  # (B, H, T, d)",
    make_cases=gqa_cases,
    draw=gqa_draw,
    oracle=gqa_oracle,
    mistakes=GROUPED_QUERY_ATTENTION_MISTAKES,
    exception_hints=(
        ExceptionHint(r"size of tensor a \(\d+\) must match the size of tensor b \(\d+\)",
                      "the query heads and the repeated K/V heads differ in number: repeat each "
                      "K/V head H // G times (q.shape[1] // k.shape[1])"),
    ),
    flag_hints=(
        FlagHint(frozenset({"causal"}), "it fails only with causal=True: mask the keys after "
                                        "each query"),
        FlagHint(frozenset({"mqa"}), "it fails only with one K/V head (multi-query): keep the "
                                     "head dim (no squeeze) and repeat it H times"),
    ),
)


def check_grouped_query_attention(fn, *, seed: int = 0) -> CheckResult:
    """Check `fn(q, k, v, causal)` -> (B, H, T, d) against PyTorch's grouped-query attention."""
    __tracebackhide__ = True
    return GROUPED_QUERY_ATTENTION_CHECK.check(fn, seed=seed)
