"""The check for single-head self-attention.

    check_self_attention(cls, *, seed=0)
        cls(d_model, d_k, d_v=None, bias=False): an nn.Module with nn.Linear q_proj, k_proj
        (d_model -> d_k) and v_proj (d_model -> d_v or d_k); forward(x, mask=None) ->
        (out (B, T, d_v), weights (B, T, T)). Bool mask, True = may attend.

The oracle is the reference SelfAttention run in float64 with the same weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from attn_course.checks import attention_variants as av
from attn_course.checks import catalogue
from attn_course.checks import draw as drawing
from attn_course.checks.attention import random_mask
from attn_course.checks.mistakes import ExceptionHint, FlagHint, Mistake
from attn_course.checks.module_variants import SelfAttentionSteps, variant
from attn_course.checks.modules import (
    MODULE_FLAG_HINTS,
    SUPER_INIT_HINT,
    ModuleCase,
    ModuleCheck,
    call_twice,
)
from attn_course.checks.results import CheckResult
from attn_course.device import tolerances
from attn_course.formatting import dtype_text, shape_text
from attn_course.reference.attention import scaled_dot_product_attention
from attn_course.reference.self_attention import SelfAttention

__all__ = ["SELF_ATTENTION_CHECK", "check_self_attention", "self_attention_cases"]

F64, F32 = torch.float64, torch.float32


# --------------------------------------------------------------------------------------------
# SelfAttention: oracle, runner, cases
# --------------------------------------------------------------------------------------------
def _linear64(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    bias = None if layer.bias is None else layer.bias.to(F64)
    return F.linear(x, layer.weight.to(F64), bias)


class _Float64Oracle(SelfAttention):
    """The reference SelfAttention computed in float64, results in x's dtype."""

    def forward(self, x, mask=None):
        x64 = x.to(F64)
        q, k, v = (_linear64(p, x64) for p in (self.q_proj, self.k_proj, self.v_proj))
        out, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, T, d_v), (B, T, T)
        return out.to(x.dtype), weights.to(x.dtype)


def _sa_forward(check, module, x, mask):
    """forward(x[, mask=mask]) twice: randomness left on in eval mode is a broken contract."""
    return call_twice(module, x, **({} if mask is None else {"mask": mask}))


def _sa_case(g, seed, i, name, *, D, d_k, d_v=None, B, T, dtype=F64, bias=False, mask_kind=None,
             flags=(), grad=False, device="cpu") -> ModuleCase:
    dv = d_k if d_v is None else d_v
    x = torch.randn(B, T, D, generator=g, dtype=F64)
    state = {}
    for proj, d_out in (("q_proj", d_k), ("k_proj", d_k), ("v_proj", dv)):
        state[f"{proj}.weight"] = torch.randn(d_out, D, generator=g, dtype=F64) / math.sqrt(D)
        if bias:
            state[f"{proj}.bias"] = 0.5 * torch.randn(d_out, generator=g, dtype=F64)
    kwargs = {}
    if d_v is not None:
        kwargs["d_v"] = d_v
    if bias:
        kwargs["bias"] = True
    inputs = {"init": ((D, d_k), kwargs), "state": state, "x": x.to(dtype=dtype, device=device)}
    mask, mask_text = None, ""
    if mask_kind == "causal":
        mask, mask_text = torch.ones(T, T, dtype=torch.bool).tril(), f"causal mask ({T}, {T})"
    elif mask_kind == "padding":
        lengths = torch.randint(1, T, (B,), generator=g)
        mask = (torch.arange(T) < lengths[:, None])[:, None, :]  # (B, 1, T)
        mask_text = f"key-padding mask {shape_text(mask.shape)}"
    elif mask_kind == "random":
        mask, mask_text = random_mask(g, (B, T, T)), f"random mask ({B}, {T}, {T})"
    keywords: tuple[str, ...] = ()
    if mask is not None:
        inputs["mask"] = mask.to(device)
        keywords = ("mask",)
    parts = [f"{D}, {d_k}"] + [f"{k}={v!r}" for k, v in kwargs.items()]
    m = ", mask=mask" if mask is not None else ""
    desc = f"x {shape_text(x.shape)} {dtype_text(dtype)}"
    desc += (f", {mask_text}" if mask_text else "") + "; same weights as the reference"
    desc += "; gradients checked" if grad else ""
    shapes = ((B, T, dv), (B, T, T))
    all_flags = set(flags) | ({mask_kind, "masked"} if mask is not None else set())
    all_flags |= {"float32"} if dtype == F32 else set()
    all_flags |= {"bias"} if bias else set()
    all_flags |= {"dv"} if d_v is not None else set()
    all_flags |= {"grad"} if grad else set()
    return ModuleCase(
        name=name,
        inputs=inputs,
        keywords=keywords,
        shapes=shapes,
        tolerance=tolerances(dtype, device),
        description=desc,
        flags=frozenset(all_flags),
        grad=("x",) if grad else (),
        grad_outputs=tuple(torch.randn(*s, generator=g, dtype=F64).to(dtype) for s in shapes)
        if grad else (),
        key=f"self_attention:{seed}:{i}:{name}:{device}",
        call=f"m = SelfAttention({', '.join(parts)}).eval(); m(x{m})",
    )


def self_attention_cases(seed: int = 0, *, device: str | torch.device = "cpu"):
    """Cases for SelfAttention, simple -> hard (d_model != d_k everywhere)."""
    g = torch.Generator().manual_seed(seed)
    device = str(torch.device(device))
    specs = [
        ("d_model=8, d_k=4", dict(D=8, d_k=4, B=2, T=5)),
        ("d_model=6, d_k=3, d_v=5 float32", dict(D=6, d_k=3, d_v=5, B=3, T=4, dtype=F32)),
        ("d_model=8, d_k=4, causal mask", dict(D=8, d_k=4, B=2, T=5, mask_kind="causal")),
        ("d_model=10, d_k=6, d_v=2, key-padding mask",
         dict(D=10, d_k=6, d_v=2, B=3, T=6, mask_kind="padding")),
        ("d_model=8, d_k=5, random mask", dict(D=8, d_k=5, B=2, T=4, mask_kind="random")),
        ("d_model=8, d_k=4, bias=True", dict(D=8, d_k=4, B=2, T=3, bias=True)),
        ("d_model=6, d_k=2, T=1", dict(D=6, d_k=2, B=2, T=1, flags=("t1",))),
        ("d_model=8, d_k=4, d_v=3, causal, gradients",
         dict(D=8, d_k=4, d_v=3, B=2, T=4, mask_kind="causal", grad=True)),
    ]
    return [_sa_case(g, seed, i, name, device=device, **spec)
            for i, (name, spec) in enumerate(specs)]


def self_attention_draw(seed: int, *, start: int,
                        device: str | torch.device = "cpu") -> list[ModuleCase]:
    """Three cases drawn from `seed`, beyond the public sizes (d_model 11-20, d_k 5-9, T 6-9):
    float64 with gradients, float32 with a mask, and float64 on `device`."""
    g = drawing.generator(seed)
    cases = []
    for dtype, where, grad, masked in ((F64, "cpu", True, False), (F32, "cpu", False, True),
                                       (F64, str(torch.device(device)), False, False)):
        D, d_k, T = drawing.integer(g, 11, 20), drawing.integer(g, 5, 9), drawing.integer(g, 6, 9)
        d_v = drawing.pick(g, (None, drawing.integer(g, 2, 7)))
        bias = bool(drawing.integer(g, 0, 1))
        kind = drawing.pick(g, ("causal", "padding", "random")) if masked else None
        name = (f"drawn: d_model={D}, d_k={d_k}" + (f", d_v={d_v}" if d_v else "")
                + f", T={T} {dtype_text(dtype)}" + (", bias=True" if bias else "")
                + (f", {kind} mask" if kind else "") + (", gradients" if grad else "")
                + drawing.on(where))
        cases.append(_sa_case(g, seed, start + len(cases), name, D=D, d_k=d_k, d_v=d_v,
                              B=drawing.integer(g, 2, 3), T=T, dtype=dtype, bias=bias,
                              mask_kind=kind, grad=grad, device=where))
    return cases


# ---- the known mistakes: the reference with one step replaced each --------------------------
def _variant(**steps) -> type:
    return variant(SelfAttentionSteps, **steps)


def _build(attend):
    return variant(SelfAttentionSteps, attend=attend)


class _ScaledByDModel(SelfAttentionSteps):
    def forward(self, x, mask=None):
        q, k, v = self.project(x)
        return av.from_scores(av.raw_scores(q, k) / math.sqrt(x.shape[-1]), v, mask)


_ScaledByDModel.__name__ = _ScaledByDModel.__qualname__ = "SelfAttention"

SELF_ATTENTION_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "values_from_x",
        "the values are x itself instead of v_proj(x)",
        "v = self.v_proj(x); out = weights @ v",
        (_variant(project=lambda self, x: (self.q_proj(x), self.k_proj(x), x)),),
    ),
    catalogue.no_scale(_build, "d_k", "q.shape[-1]"),
    Mistake(
        "scale_d_model",
        "the scores are scaled by 1/√d_model instead of 1/√d_k",
        "the dot products are taken in d_k dims: divide by math.sqrt(d_k), d_k = q.shape[-1]",
        (_ScaledByDModel,),
    ),
    catalogue.scale_by_dk(_build),
    catalogue.softmax_wrong_dim(_build, av.softmax_over_queries, av.softmax_over_dim_0),
    catalogue.keys_from_query(
        _variant(project=lambda self, x: (self.q_proj(x), self.q_proj(x), self.v_proj(x)))),
    catalogue.mask_ignored(_build),
    catalogue.mask_inverted(_build),
    catalogue.masked_only("(B, T, T)"),
)

SELF_ATTENTION_CHECK = ModuleCheck(
    "SelfAttention",
    check_function="check_self_attention",
    forbidden=catalogue.TORCH_MULTI_HEAD,
    linears=("q_proj", "k_proj", "v_proj"),
    forward=_sa_forward,
    notes={
        "q_proj": "nn.Linear(d_model, d_k)",
        "k_proj": "nn.Linear(d_model, d_k): keys have their own projection",
        "v_proj": "nn.Linear(d_model, d_v), with d_v = d_k when d_v is None: the values are "
                  "v_proj(x), not x itself",
    },
    outputs=("out", "weights"),
    signature="class SelfAttention(nn.Module): __init__(self, d_model, d_k, d_v=None, "
              "bias=False); forward(self, x, mask=None) -> (out, weights)",
    make_cases=self_attention_cases,
    draw=self_attention_draw,
    oracle=_Float64Oracle,
    mistakes=SELF_ATTENTION_MISTAKES,
    exception_hints=(
        SUPER_INIT_HINT,
        ExceptionHint(r"unexpected keyword argument '(d_v|bias)'",
                      "__init__ must accept d_v and bias: "
                      "def __init__(self, d_model, d_k, d_v=None, bias=False)"),
        ExceptionHint(r"unexpected keyword argument 'mask'",
                      "forward must accept the mask: def forward(self, x, mask=None)"),
    ),
    flag_hints=(
        FlagHint(frozenset({"bias"}), "it fails only with bias=True: pass bias=bias to every "
                                      "nn.Linear"),
        FlagHint(frozenset({"dv"}), "it fails only when d_v is given: v_proj maps d_model → "
                                    "d_v (d_k only when d_v is None), and out is (B, T, d_v)"),
        *MODULE_FLAG_HINTS,
    ),
)


def check_self_attention(cls, *, seed: int = 0) -> CheckResult:
    """Check the class `SelfAttention(d_model, d_k, d_v=None, bias=False)` against the
    reference with the same weights. Raises CheckFailed naming the mistake, or returns a
    CheckResult."""
    __tracebackhide__ = True
    return SELF_ATTENTION_CHECK.check(cls, seed=seed)


