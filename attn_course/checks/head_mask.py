"""The check for switching heads off: Michel et al.'s (2019) head mask xi.

    check_mask_heads(fn, *, seed=0)
        fn(heads, xi, w_o, b_o): heads (B, H, T, d) each head's output, xi (H,), the output
        projection w_o (D, H d) and b_o (D,) -> (B, T, D): head h scaled by xi[h], then the heads
        merged (B, T, H d) and projected, merged @ w_o.T + b_o.

Judged on the output and on the gradient with respect to xi (the heads' importance, which is
what the mask is for), against `reference.gqa.mask_heads`. xi holds values other than 0 and 1
(0.5, 2, -1), so that a mask applied where it changes the result differently shows.
"""

from __future__ import annotations

import math

import torch

from attn_course.checks import draw as drawing
from attn_course.checks.check import Check
from attn_course.checks.mistakes import Mistake
from attn_course.checks.records import Case
from attn_course.checks.results import CheckResult
from attn_course.device import tolerances
from attn_course.formatting import dtype_text, shape_text
from attn_course.reference.gqa import mask_heads
from attn_course.reference.mha import merge_heads

__all__ = ["MASK_HEADS_CHECK", "check_mask_heads"]

F64, F32 = torch.float64, torch.float32


def _case(g, seed, i, name, B, H, T, d, D, xi, dtype, device="cpu") -> Case:
    heads = torch.randn(B, H, T, d, generator=g, dtype=F64)
    w_o = torch.randn(D, H * d, generator=g, dtype=F64) / math.sqrt(H * d)
    b_o = torch.randn(D, generator=g, dtype=F64)
    inputs = {"heads": heads, "xi": torch.tensor(xi, dtype=F64), "w_o": w_o, "b_o": b_o}
    return Case(
        name=name,
        inputs={n: t.to(dtype=dtype, device=device) for n, t in inputs.items()},
        shapes=((B, T, D),),
        tolerance=tolerances(dtype, device),
        description=f"heads {shape_text((B, H, T, d))}, xi {xi}, w_o {shape_text((D, H * d))} "
                    f"{dtype_text(dtype)} → expected {shape_text((B, T, D))}",
        flags=frozenset({"float32"} if dtype == F32 else set()),
        grad=("xi", "heads"),
        grad_outputs=(torch.randn(B, T, D, generator=g, dtype=F64).to(dtype=dtype,
                                                                      device=device),),
        key=f"mask_heads:{seed}:{i}:{name}:{device}",
    )


def mask_cases(seed: int = 0, *, device: str | torch.device = "cpu") -> list[Case]:
    """Cases for mask_heads(heads, xi, w_o, b_o), simple -> hard."""
    g = torch.Generator().manual_seed(seed)
    specs = [
        ("4 heads of 2, head 1 off", 2, 4, 3, 2, 8, [1.0, 0.0, 1.0, 1.0]),
        ("3 heads of 4, every head kept", 1, 3, 5, 4, 12, [1.0, 1.0, 1.0]),
        ("2 heads of 3, xi = (0.5, 2)", 2, 2, 4, 3, 6, [0.5, 2.0]),
        ("4 heads of 3, D = 5 (not H d), xi = (1, -1, 0, 0.5)", 1, 4, 3, 3, 5,
         [1.0, -1.0, 0.0, 0.5]),
        ("6 heads of 2, every head off", 1, 6, 2, 2, 12, [0.0] * 6),
    ]
    cases = [_case(g, seed, i, *spec, F64, device=device) for i, spec in enumerate(specs)]
    cases.append(_case(g, seed, len(cases), "4 heads of 4, xi = (0, 1, 0.25, 1), float32", 2, 4,
                       3, 4, 16, [0.0, 1.0, 0.25, 1.0], F32, device=device))
    return cases


def mask_draw(seed: int, *, start: int, device: str | torch.device = "cpu") -> list[Case]:
    """Three cases drawn from `seed`: 2-6 heads of 2-5, random xi."""
    gen = drawing.generator(seed)
    cases = []
    for dtype, where in drawing.placements(device):
        H, d, T = drawing.integer(gen, 2, 6), drawing.integer(gen, 2, 5), drawing.integer(gen, 2, 6)
        xi = [float(drawing.pick(gen, (0.0, 1.0, 0.5, 2.0))) for _ in range(H)]
        name = (f"drawn: {H} heads of {d}, xi {xi} {dtype_text(dtype)}"
                + drawing.on(where))
        cases.append(_case(gen, seed, start + len(cases), name, 1, H, T, d, H * d, xi, dtype,
                           device=where))
    return cases


# ---- the known mistakes' variants ------------------------------------------------------------
def mask_after_the_projection(heads, xi, w_o, b_o):
    """The projected output (B, T, D) cut into H chunks, each scaled: after w_o has mixed every
    head into every feature, a chunk of features is not a head."""
    out = merge_heads(heads) @ w_o.T + b_o  # (B, T, D)
    H, D = heads.shape[1], out.shape[-1]
    if D % H:
        raise RuntimeError(f"shape '[-1, {H}, {D / H}]' is invalid for input of size {out.numel()}")
    return (out.view(*out.shape[:-1], H, D // H) * xi.view(H, 1)).flatten(-2)


def mask_repeated_not_interleaved(heads, xi, w_o, b_o):
    """xi stretched over the merged features with .repeat (0, 1, 2, 0, 1, 2, ...): the features
    of head h are the d consecutive ones h d .. (h + 1) d - 1."""
    d = heads.shape[-1]
    return (merge_heads(heads) * xi.repeat(d)) @ w_o.T + b_o


def mask_scales_the_bias(heads, xi, w_o, b_o):
    """The bias scaled too (by the mean of xi): it belongs to the projection, not to a head."""
    return merge_heads(heads * xi.view(1, -1, 1, 1)) @ w_o.T + b_o * xi.mean()


def mask_ignored(heads, xi, w_o, b_o):
    return merge_heads(heads) @ w_o.T + b_o


def bias_forgotten(heads, xi, w_o, b_o):
    return merge_heads(heads * xi.view(1, -1, 1, 1)) @ w_o.T


MASK_HEADS_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "mask_after_the_projection",
        "xi is applied after the output projection: w_o mixes every head into every output "
        "feature, so scaling a chunk of the output does not switch a head off",
        "scale the heads before they are merged and projected: "
        "merge(heads * xi.view(1, -1, 1, 1)) @ w_o.T + b_o",
        (mask_after_the_projection,),
    ),
    Mistake(
        "mask_repeated_not_interleaved",
        "xi is stretched over the merged features with .repeat (xi_0, xi_1, ..., xi_0, ...): "
        "head h owns the d consecutive features h·d .. (h+1)·d - 1",
        "scale the (B, H, T, d) heads directly, heads * xi.view(1, -1, 1, 1), or stretch with "
        "xi.repeat_interleave(d)",
        (mask_repeated_not_interleaved,),
    ),
    Mistake(
        "mask_scales_the_bias",
        "the output projection's bias is scaled too: b_o is added once, whatever the heads do",
        "add b_o after the product: merged @ w_o.T + b_o",
        (mask_scales_the_bias,),
    ),
    Mistake(
        "bias_forgotten",
        "the output projection's bias b_o is missing",
        "add it after the product: merged @ w_o.T + b_o",
        (bias_forgotten,),
    ),
    Mistake(
        "mask_ignored",
        "xi is not applied: the output is the same whatever the mask says",
        "multiply each head's output by its xi before merging: heads * xi.view(1, -1, 1, 1)",
        (mask_ignored,),
    ),
)

MASK_HEADS_CHECK = Check(
    "mask_heads",
    check_function="check_mask_heads",
    outputs=("out",),
    signature="def mask_heads(heads, xi, w_o, b_o): ... return out  # (B, T, D)",
    make_cases=mask_cases,
    draw=mask_draw,
    oracle=mask_heads,
    mistakes=MASK_HEADS_MISTAKES,
)


def check_mask_heads(fn, *, seed: int = 0) -> CheckResult:
    """Check `fn(heads, xi, w_o, b_o)` -> (B, T, D), and its gradient with respect to xi."""
    __tracebackhide__ = True
    return MASK_HEADS_CHECK.check(fn, seed=seed)
