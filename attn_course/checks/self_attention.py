"""Checks for single-head self-attention and the sinusoidal positional encoding.

    check_self_attention(cls, *, seed=0)
        cls(d_model, d_k, d_v=None, bias=False): an nn.Module with nn.Linear q_proj, k_proj
        (d_model -> d_k) and v_proj (d_model -> d_v or d_k); forward(x, mask=None) ->
        (out (B, T, d_v), weights (B, T, T)). Bool mask, True = may attend.
    check_positional_encoding(fn, *, seed=0)
        fn(T, d_model) -> float32 (T, d_model): PE[pos, 2i] = sin(pos / 10000^(2i/d_model)),
        PE[pos, 2i + 1] = cos(the same angle); an odd d_model ends with a sin column.

The self-attention oracle is the reference SelfAttention run in float64 with the same weights;
the positional-encoding oracle is the reference in float64, cast to float32.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from attn_course.checks.attention import _arrays, _random_mask
from attn_course.checks.core import (
    Case,
    Check,
    CheckResult,
    ExceptionHint,
    FlagHint,
    Mistake,
    fails_exactly_with,
)
from attn_course.checks.modules import (
    MODULE_FLAG_HINTS,
    SUPER_INIT_HINT,
    ModuleCase,
    ModuleCheck,
    call_twice,
    projection_and_mask_mistakes,
)
from attn_course.device import tolerances
from attn_course.reference.attention import scaled_dot_product_attention
from attn_course.reference.positional import sinusoidal_positional_encoding
from attn_course.reference.self_attention import SelfAttention

__all__ = [
    "POSITIONAL_ENCODING_CHECK",
    "SELF_ATTENTION_CHECK",
    "check_positional_encoding",
    "check_self_attention",
]

NEG_INF = float("-inf")
F64, F32 = torch.float64, torch.float32


def _shape(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


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
        mask_text = f"key-padding mask {_shape(mask.shape)}"
    elif mask_kind == "random":
        mask, mask_text = _random_mask(g, (B, T, T)), f"random mask ({B}, {T}, {T})"
    keywords: tuple[str, ...] = ()
    if mask is not None:
        inputs["mask"] = mask.to(device)
        keywords = ("mask",)
    parts = [f"{D}, {d_k}"] + [f"{k}={v!r}" for k, v in kwargs.items()]
    m = ", mask=mask" if mask is not None else ""
    desc = f"x {_shape(x.shape)} {str(dtype).replace('torch.', '')}"
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


def _buggy_sa(m, x, mask=None, *, keys="k", values="v", scale="d_k", dim=-1, mask_mode="ok",
              fill=NEG_INF):
    q = m.q_proj(x)  # (B, T, d_k)
    k = (m.q_proj if keys == "q" else m.k_proj)(x)  # (B, T, d_k)
    v = x if values == "x" else m.v_proj(x)  # (B, T, d_v)
    d_k = q.shape[-1]
    divisor = {"d_k": math.sqrt(d_k), "d_model": math.sqrt(x.shape[-1]), "none": 1.0,
               "d_k_plain": d_k}[scale]
    s = q @ k.transpose(-2, -1) / divisor
    if mask is not None and mask_mode != "ignore":
        allowed = ~mask if mask_mode == "invert" else mask
        s = s.masked_fill(~allowed, fill)
    w = torch.softmax(s, dim=dim)
    return w @ v, w


def _sa_variant(**bugs) -> type[nn.Module]:
    class Buggy(SelfAttention):
        def forward(self, x, mask=None):
            return _buggy_sa(self, x, mask, **bugs)

    Buggy.__qualname__ = Buggy.__name__ = "SelfAttention"
    return Buggy


_v = _sa_variant

SA_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "values_from_x",
        "the values are x itself instead of v_proj(x)",
        "v = self.v_proj(x); out = weights @ v",
        (_v(values="x"),),
    ),
    Mistake(
        "no_scale",
        "the scores are not scaled by 1/√d_k",
        "divide the scores by math.sqrt(d_k): scores = q @ k.transpose(-2, -1) / "
        "math.sqrt(d_k)",
        (_v(scale="none"),),
    ),
    Mistake(
        "scale_d_model",
        "the scores are scaled by 1/√d_model instead of 1/√d_k",
        "the dot products are taken in d_k dims: divide by math.sqrt(d_k), d_k = q.shape[-1]",
        (_v(scale="d_model"),),
    ),
    Mistake(
        "scale_by_dk",
        "the scores are divided by d_k instead of √d_k",
        "divide by math.sqrt(d_k), not by d_k",
        (_v(scale="d_k_plain"),),
    ),
    Mistake(
        "softmax_wrong_dim",
        "the softmax runs over the wrong dim",
        "normalise over the keys, the last dim: torch.softmax(scores, dim=-1)",
        (_v(dim=-2), _v(dim=0)),
    ),
    *projection_and_mask_mistakes(_v),
    Mistake(
        "masked_only",
        "it fails only when a mask is given",
        "the mask is bool, broadcastable to (B, T, T), True = may attend: "
        "scores.masked_fill(~mask, float('-inf')) before the softmax",
        detect=fails_exactly_with("masked"),
    ),
)

SELF_ATTENTION_CHECK = ModuleCheck(
    "SelfAttention",
    linears=("q_proj", "k_proj", "v_proj"),
    forward=_sa_forward,
    check_function="check_self_attention",
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
    oracle=_Float64Oracle,
    mistakes=SA_MISTAKES,
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


# --------------------------------------------------------------------------------------------
# sinusoidal_positional_encoding(T, d_model)
# --------------------------------------------------------------------------------------------
def positional_cases(seed: int = 0, *, device: str | torch.device = "cpu") -> list[Case]:
    """(T, d_model) pairs: even and odd widths, T < d, T > d, T = d, T = 1 (the seed does not
    change them: the encoding is deterministic)."""
    del device  # the function creates its own tensor on the CPU
    specs = [
        ("T=6, d_model=8", 6, 8, ()),
        ("T=10, d_model=16", 10, 16, ()),
        ("T=5, d_model=7 (odd)", 5, 7, ("odd",)),
        ("T=1, d_model=4", 1, 4, ("t1",)),
        ("T=12, d_model=6", 12, 6, ()),
        ("T=6, d_model=6", 6, 6, ("square",)),
        ("T=4, d_model=1 (odd: one sin column)", 4, 1, ("odd",)),
        ("T=8, d_model=9 (odd)", 8, 9, ("odd",)),
        ("T=32, d_model=32", 32, 32, ("square",)),
    ]
    cases = []
    for i, (name, T, d, flags) in enumerate(specs):
        atol, rtol = tolerances(F32)
        cases.append(Case(
            name=name,
            inputs={"T": T, "d_model": d},
            shapes=((T, d),),
            tolerance=(max(atol, 2e-6 * T), rtol),  # float32 angles grow with the position
            description=f"expected float32 ({T}, {d}): sin in even columns, cos in odd ones",
            flags=frozenset(flags),
            key=f"positional:{seed}:{i}:{name}",
        ))
    return cases


def _pe(T, d_model, *, base=10000.0, swap=False, layout="interleave", exponent="2i", start=0,
        transpose=False, multiply=False, odd="ok", dtype=F32):
    """The encoding with one deliberate bug (or none with the defaults)."""
    pos = torch.arange(start, start + T, dtype=F64)[:, None]  # (T, 1)
    if exponent == "j":  # every column uses its own index j: 10000^(j / d)
        j = torch.arange(d_model, dtype=F64)
        angle = pos * base ** (-j / d_model)  # (T, d_model)
        pe = torch.where(j % 2 == 0, torch.sin(angle), torch.cos(angle))
        return pe.to(dtype)
    n_cos = d_model // 2
    i = torch.arange(0, d_model, 2, dtype=F64) / 2  # pair index, (ceil(d / 2),)
    width = d_model + 1 if (odd == "pad_width" and d_model % 2) else d_model
    power = (2 * i if exponent == "2i" else i) / width
    angle = pos * (base**power if multiply else base**-power)  # (T, ceil(d / 2))
    sin, cos = torch.sin(angle), torch.cos(angle[:, :n_cos])
    if swap:
        sin, cos = torch.cos(angle), torch.sin(angle[:, :n_cos])
    if layout == "concat":
        pe = torch.cat([sin, cos], dim=-1)
    else:
        pe = torch.zeros(T, d_model, dtype=F64)
        pe[:, 0::2] = sin
        pe[:, 1::2] = torch.cos(angle) if odd == "raise" else cos  # odd d: a size mismatch
    if odd == "drop" and d_model % 2:
        pe = pe[:, :-1]
    pe = pe.to(dtype)
    return pe.T if transpose else pe


_p = partial(partial, _pe)

PE_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "sin_cos_swapped",
        "sin and cos are swapped: even columns must be sin, odd columns cos",
        "pe[:, 0::2] = torch.sin(angles); pe[:, 1::2] = torch.cos(angles)",
        (_p(swap=True),),
    ),
    Mistake(
        "concatenated",
        "all the sins come first and then all the cosines; the columns must interleave",
        "interleave them: pe[:, 0::2] = torch.sin(angles); pe[:, 1::2] = torch.cos(angles)",
        (_p(layout="concat"), _p(layout="concat", swap=True)),
    ),
    Mistake(
        "exponent_i",
        "the exponent uses i instead of 2i: the frequencies fall half as fast",
        "the pair (2i, 2i + 1) uses 10000^(2i / d_model): "
        "torch.arange(0, d_model, 2) / d_model",
        (_p(exponent="i"),),
    ),
    Mistake(
        "exponent_column",
        "each column uses its own index j in the exponent: the cos column 2i + 1 must share "
        "the sin column's frequency 10000^(2i / d_model)",
        "compute the angles once per pair: pos / 10000 ** (torch.arange(0, d_model, 2) / "
        "d_model), then sin for even columns and cos for odd ones",
        (_p(exponent="j"),),
    ),
    Mistake(
        "frequency_inverted",
        "the position is multiplied by 10000^(2i/d_model) instead of divided",
        "angle = pos / 10000 ** (2i / d_model)",
        (_p(multiply=True),),
        # the angles reach 1e5, where float32 sin/cos keep only about two digits
        detect=lambda records, cases, oracle, results: _roughly(_p(multiply=True), 0.1,
                                                                records, cases, results),
    ),
    Mistake(
        "wrong_base",
        "the base is not 10000",
        "use 10000: angle = pos / 10000 ** (2i / d_model)",
        (_p(base=1000.0), _p(base=100000.0), _p(base=10.0), _p(base=math.e)),
    ),
    Mistake(
        "positions_from_1",
        "positions start at 1; they start at 0 (the first row is sin 0 = 0, cos 0 = 1)",
        "pos = torch.arange(T)",
        (_p(start=1),),
    ),
    Mistake(
        "transposed",
        "the result is (d_model, T); expected (T, d_model), one row per position",
        "return shape (T, d_model): positions in rows, features in columns",
        (_p(transpose=True),),
    ),
    Mistake(
        "odd_dropped",
        "for odd d_model the last column (a sin) is missing",
        "an odd d_model ends with a sin column: compute ceil(d_model / 2) angles for the sin "
        "columns and the first d_model // 2 of them for the cos columns",
        (_p(odd="drop"),),
    ),
    Mistake(
        "odd_padded_width",
        "for odd d_model the exponent uses d_model + 1",
        "use the real d_model in 2i / d_model, also when it is odd",
        (_p(odd="pad_width"),),
    ),
    Mistake(
        "odd_unsupported",
        "it fails only for odd d_model: there is one more sin column than cos columns",
        "pe[:, 0::2] = torch.sin(angles); pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])",
        (_p(odd="raise"),),
        detect=fails_exactly_with("odd"),
    ),
    Mistake(
        "float64",
        "the result is float64; expected float32",
        "build it in float32 (torch.arange(T, dtype=torch.float32)) or end with .float()",
        (_p(dtype=F64),),
    ),
)


def _roughly(variant, atol: float, records, cases, results) -> bool:
    """Every failing case returned the variant's values within `atol` (a loose match)."""
    failing = [i for i, r in enumerate(results) if not r.passed]
    for i in failing:
        arrays = _arrays(records[i], 1)
        want = variant(**cases[i].inputs).to(F64).numpy()
        if arrays is None or arrays[0].shape != want.shape:
            return False
        if not np.allclose(arrays[0], want, atol=atol, rtol=0):
            return False
    return bool(failing)


def _pe_dtype_hint(output: str, got: str, want: str) -> str:
    return ("return float32, torch's default float dtype: build positions with "
            "torch.arange(T, dtype=torch.float32) or end with .float()")


POSITIONAL_ENCODING_CHECK = Check(
    "sinusoidal_positional_encoding",
    outputs=("pe",),
    signature="def sinusoidal_positional_encoding(T, d_model): ... return pe  # (T, d_model)",
    make_cases=positional_cases,
    oracle=sinusoidal_positional_encoding,
    mistakes=PE_MISTAKES,
    exception_hints=(
        ExceptionHint(r"must match the existing size|shape mismatch|could not broadcast",
                      "for odd d_model there is one more sin column than cos columns: "
                      "pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])"),
    ),
    flag_hints=(
        FlagHint(frozenset({"t1"}), "it fails only for T=1: keep the shape (1, d_model)"),
        FlagHint(frozenset({"square"}), "it fails only when T == d_model: rows are positions, "
                                        "columns features"),
    ),
    dtype_hint=_pe_dtype_hint,
)


def check_positional_encoding(fn, *, seed: int = 0) -> CheckResult:
    """Check `fn(T, d_model)` -> float32 (T, d_model) sinusoidal positional encoding. Raises
    CheckFailed naming the mistake, or returns a CheckResult."""
    __tracebackhide__ = True
    return POSITIONAL_ENCODING_CHECK.check(fn, seed=seed)
