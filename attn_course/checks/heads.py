"""Checks for splitting and merging heads, and for multi-head self-attention.

    check_split_heads(fn, *, seed=0)
        fn(x, num_heads): (B, T, D) -> (B, H, T, D // H); head i owns features i*d:(i+1)*d.
    check_merge_heads(fn, *, seed=0)
        fn(x): (B, H, T, d) -> (B, T, H * d), the exact inverse of split_heads.
    check_multi_head_self_attention(cls, *, seed=0)
        cls(d_model, num_heads, bias=True): an nn.Module with nn.Linear q_proj, k_proj, v_proj,
        out_proj (d_model -> d_model); forward(x, mask=None, return_weights=False) -> out
        (B, T, d_model), or (out, weights (B, H, T, T)). Bool mask, True = may attend.

Split and merge are pure rearrangements, judged against the reference. The attention module gets
the same weights as torch.nn.MultiheadAttention (the oracle, run in float64) for several
(d_model, num_heads) pairs; paired cases change one head's query rows or the future tokens, so
the hints can say which property broke (head isolation, causality).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import numpy as np
import torch
import torch.nn as nn

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
    ModuleContractError,
    call_twice,
    describe,
    projection_and_mask_mistakes,
)
from attn_course.compare import same_result as _same
from attn_course.device import tolerances
from attn_course.reference.mha import (
    MultiHeadSelfAttention,
    copy_to_torch,
    merge_heads,
    split_heads,
)

__all__ = [
    "MERGE_HEADS_CHECK",
    "MHA_CHECK",
    "SPLIT_HEADS_CHECK",
    "check_merge_heads",
    "check_multi_head_self_attention",
    "check_split_heads",
]

NEG_INF = float("-inf")
F64, F32 = torch.float64, torch.float32


def _shape(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _dt(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def hard_coded_heads(heads_of: Callable[[Case], int]) -> Callable[..., bool]:
    """A `Mistake.detect` predicate: every passing case has the same head count (>= 2) and
    every case with another head count fails."""

    def detect(records, cases, oracle, results) -> bool:
        passing = {heads_of(c) for c, r in zip(cases, results, strict=True) if r.passed}
        if len(passing) != 1:
            return False
        (h,) = passing
        return h >= 2 and all(not r.passed for c, r in zip(cases, results, strict=True)
                              if heads_of(c) != h)

    return detect


CONTIGUOUS_FIX = ("each head must own a contiguous slice of features: "
                  "x.view(B, T, H, d).transpose(1, 2)")
VIEW_HINT = ExceptionHint(
    r"view size is not compatible with input tensor's size and stride",
    ".view needs a contiguous tensor and a transposed one is not: use .reshape(B, T, H * d) "
    "(or .contiguous().view(...)) after a transpose",
)
SIZE_HINT = ExceptionHint(
    r"shape '\[.*\]' is invalid for input of size",
    "a view/reshape does not fit the input: take the sizes from the input and the arguments "
    "(B, T, D = x.shape; d = D // num_heads) instead of hard-coding a head count or size",
)


# --------------------------------------------------------------------------------------------
# split_heads(x, num_heads)
# --------------------------------------------------------------------------------------------
def _layout_hint(x: np.ndarray, y: np.ndarray, head_first: bool) -> str | None:
    """Where the values of batch item 0 went, when `y` is a rearrangement of `x`.

    split (head_first=True): x (T, D) -> y (H, T, d); merge: x (H, T, d) -> y (T, D)."""
    where = {float(v): i for i, v in np.ndenumerate(x)}
    if head_first:  # the first head whose values at position 0 are not its own features
        d = y.shape[-1]
        for h in range(y.shape[0]):
            got = [where.get(float(v)) for v in y[h, 0]]
            if None in got:
                return None
            if got == [(0, f) for f in range(h * d, (h + 1) * d)]:
                continue
            tokens = sorted({t for t, _ in got})
            if tokens != [0]:
                return (f"head {h} at position 0 holds values from positions {tokens} of x: "
                        f"positions are mixed. Head {h} should hold features "
                        f"{h * d}:{(h + 1) * d} of position 0; {CONTIGUOUS_FIX}")
            return (f"head {h} at position 0 holds features {[f for _, f in got]} of x; it "
                    f"should hold the contiguous slice {h * d}:{(h + 1) * d}. "
                    f"{CONTIGUOUS_FIX[0].upper()}{CONTIGUOUS_FIX[1:]}")
        return None
    H, T, d = x.shape
    got = [where.get(float(v)) for v in y[0]]
    if None in got or got == [(h, 0, j) for h in range(H) for j in range(d)]:
        return None
    shown = ", ".join(f"x[0, {h}, {t}, {j}]" for h, t, j in got[:6])
    return (f"position 0 of the result holds {shown}, …; it should hold head 0's values at "
            "position 0, then head 1's, and so on: x.transpose(1, 2).reshape(B, T, H * d)")


def _rearrange_explain(head_first: bool, records, cases, oracle, results) -> list[str]:
    for i, r in enumerate(results):
        arrays = _arrays(records[i], 1)
        if r.passed or arrays is None or arrays[0].shape != tuple(cases[i].shapes[0]):
            continue
        x = cases[i].inputs["x"].detach().to(F64).numpy()
        hint = _layout_hint(x[0], arrays[0][0], head_first)
        return [hint] if hint else []
    return []


def _split_case(g, seed, i, name, B, T, D, H, dtype, flags=(), grad=False) -> Case:
    x = torch.randn(B, T, D, generator=g, dtype=F64)
    shape = (B, H, T, D // H)
    all_flags = set(flags) | ({"float32"} if dtype == F32 else set()) | ({"grad"} if grad else
                                                                          set())
    return Case(
        name=name,
        inputs={"x": x.to(dtype), "num_heads": H},
        shapes=(shape,),
        tolerance=(0.0, 0.0),
        description=f"x {_shape(x.shape)} {_dt(dtype)}, num_heads={H} → expected "
                    f"{_shape(shape)}" + (", gradients checked" if grad else ""),
        flags=frozenset(all_flags),
        grad=("x",) if grad else (),
        grad_outputs=(torch.randn(*shape, generator=g, dtype=F64).to(dtype),) if grad else (),
        key=f"split:{seed}:{i}:{name}",
    )


def split_cases(seed: int = 0, *, device: str | torch.device = "cpu") -> list[Case]:
    """Cases for split_heads(x, num_heads), simple -> hard (B != T, several head counts)."""
    del device  # a pure rearrangement: the CPU tells everything
    g = torch.Generator().manual_seed(seed)
    specs = [
        ("(2, 5, 12), H=3", 2, 5, 12, 3, F64, ()),
        ("(1, 4, 8), H=2 float32", 1, 4, 8, 2, F32, ()),
        ("(2, 3, 6), H=1", 2, 3, 6, 1, F64, ("h1",)),
        ("(2, 4, 8), H=8 (head size 1)", 2, 4, 8, 8, F64, ()),
        ("(3, 2, 12), H=4", 3, 2, 12, 4, F64, ()),
        ("(2, 5, 24), H=6", 2, 5, 24, 6, F64, ()),
    ]
    cases = [_split_case(g, seed, i, *spec) for i, spec in enumerate(specs)]
    cases.append(_split_case(g, seed, len(specs), "(2, 3, 16), H=4, gradients", 2, 3, 16, 4,
                             F64, grad=True))
    return cases


def _split(x, num_heads, *, how="ok", heads=None):
    B, T, D = x.shape
    H = heads or num_heads
    d = D // H
    if how == "view":
        return x.view(B, H, T, d)
    if how == "strided":
        return x.view(B, T, d, H).permute(0, 3, 1, 2)
    if how == "no_move":
        return x.view(B, T, H, d)
    return x.view(B, T, H, d).transpose(1, 2)


_s = partial(partial, _split)

SPLIT_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "no_transpose",
        "the heads are split with a plain view, without the transpose: x.view(B, H, T, d) "
        "mixes positions and features across heads",
        CONTIGUOUS_FIX,
        (_s(how="view"),),
    ),
    Mistake(
        "split_order",
        "the split puts the head index last (view(B, T, d, H)): head i gets every H-th "
        "feature instead of a contiguous slice",
        f"view as (B, T, H, d), heads before features: {CONTIGUOUS_FIX}",
        (_s(how="strided"),),
    ),
    Mistake(
        "heads_not_moved",
        "the head dim is not moved in front of T: the result is (B, T, H, d)",
        "add .transpose(1, 2): x.view(B, T, H, d).transpose(1, 2) is (B, H, T, d)",
        (_s(how="no_move"),),
    ),
    Mistake(
        "hard_coded_heads",
        "the head count is hard-coded instead of taken from num_heads",
        "use the argument: d = D // num_heads; x.view(B, T, num_heads, d).transpose(1, 2)",
        (_s(heads=8), _s(heads=4)),
        detect=hard_coded_heads(lambda c: c.inputs["num_heads"]),
    ),
)

SPLIT_HEADS_CHECK = Check(
    "split_heads",
    outputs=("out",),
    signature="def split_heads(x, num_heads): ... return out  # (B, H, T, D // H)",
    make_cases=split_cases,
    oracle=split_heads,
    mistakes=SPLIT_MISTAKES,
    exception_hints=(SIZE_HINT,),
    flag_hints=(
        FlagHint(frozenset({"h1"}), "it fails only for num_heads=1: keep the head dim, "
                                    "(B, 1, T, D), no squeeze()"),
        FlagHint(frozenset({"grad"}), "only the gradient case fails: keep to view / reshape / "
                                      "transpose, which autograd tracks"),
    ),
    explain=partial(_rearrange_explain, True),
)


def check_split_heads(fn, *, seed: int = 0) -> CheckResult:
    """Check `fn(x, num_heads)`: (B, T, D) -> (B, H, T, D // H), head i owning features
    i*d:(i+1)*d. Raises CheckFailed naming the mistake, or returns a CheckResult."""
    __tracebackhide__ = True
    return SPLIT_HEADS_CHECK.check(fn, seed=seed)


# --------------------------------------------------------------------------------------------
# merge_heads(x)
# --------------------------------------------------------------------------------------------
def _merge_case(g, seed, i, name, B, H, T, d, dtype, flags=(), grad=False) -> Case:
    if "noncontig" in flags:  # as split_heads returns it: a transposed view
        x = torch.randn(B, T, H, d, generator=g, dtype=F64).transpose(1, 2)
    else:
        x = torch.randn(B, H, T, d, generator=g, dtype=F64)
    shape = (B, T, H * d)
    all_flags = set(flags) | ({"float32"} if dtype == F32 else set()) | ({"grad"} if grad else
                                                                          set())
    return Case(
        name=name,
        inputs={"x": x.to(dtype)},
        shapes=(shape,),
        tolerance=(0.0, 0.0),
        description=f"x {_shape(x.shape)} {_dt(dtype)}"
                    + (" (not contiguous)" if "noncontig" in flags else "")
                    + f" → expected {_shape(shape)}" + (", gradients checked" if grad else ""),
        flags=frozenset(all_flags),
        grad=("x",) if grad else (),
        grad_outputs=(torch.randn(*shape, generator=g, dtype=F64).to(dtype),) if grad else (),
        key=f"merge:{seed}:{i}:{name}",
    )


def merge_cases(seed: int = 0, *, device: str | torch.device = "cpu") -> list[Case]:
    """Cases for merge_heads(x), simple -> hard, one of them a non-contiguous input."""
    del device
    g = torch.Generator().manual_seed(seed)
    specs = [
        ("(2, 3, 5, 4)", 2, 3, 5, 4, F64, ()),
        ("(1, 2, 4, 3) float32", 1, 2, 4, 3, F32, ()),
        ("(2, 1, 3, 6), H=1", 2, 1, 3, 6, F64, ("h1",)),
        ("(2, 8, 4, 1), head size 1", 2, 8, 4, 1, F64, ()),
        ("(3, 4, 2, 5)", 3, 4, 2, 5, F64, ()),
        ("(2, 4, 5, 3) non-contiguous, as split_heads returns it", 2, 4, 5, 3, F64,
         ("noncontig",)),
    ]
    cases = [_merge_case(g, seed, i, *spec) for i, spec in enumerate(specs)]
    cases.append(_merge_case(g, seed, len(specs), "(2, 3, 4, 2), gradients", 2, 3, 4, 2, F64,
                             grad=True))
    return cases


def _merge(x, *, how="ok"):
    B, H, T, d = x.shape
    if how == "reshape":
        return x.reshape(B, T, H * d)
    if how == "view":
        return x.view(B, T, H * d)
    if how == "order":
        return x.permute(0, 2, 3, 1).reshape(B, T, H * d)
    if how == "not_merged":
        return x.transpose(1, 2)
    if how == "view_after_transpose":
        return x.transpose(1, 2).view(B, T, H * d)
    return x.transpose(1, 2).reshape(B, T, H * d)


_m = partial(partial, _merge)

MERGE_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "no_transpose",
        "the heads are merged without moving H back after T: reshaping (B, H, T, d) straight "
        "to (B, T, H * d) mixes positions",
        "move the heads next to the features first: x.transpose(1, 2).reshape(B, T, H * d)",
        (_m(how="reshape"), _m(how="view")),
    ),
    Mistake(
        "merge_order",
        "the heads are merged in the wrong order: features come out as (d, H) instead of "
        "(H, d), so head i's outputs do not land in features i*d:(i+1)*d",
        "x.transpose(1, 2).reshape(B, T, H * d)",
        (_m(how="order"),),
    ),
    Mistake(
        "not_merged",
        "the heads are moved back but not merged: the result is (B, T, H, d)",
        "reshape into (B, T, H * d): x.transpose(1, 2).reshape(B, T, H * d)",
        (_m(how="not_merged"),),
    ),
    Mistake(
        "view_after_transpose",
        ".view after .transpose fails: the transposed tensor is not contiguous",
        "use .reshape: x.transpose(1, 2).reshape(B, T, H * d) (or .contiguous().view(...))",
        (_m(how="view_after_transpose"),),
    ),
)

MERGE_HEADS_CHECK = Check(
    "merge_heads",
    outputs=("out",),
    signature="def merge_heads(x): ... return out  # (B, T, H * d)",
    make_cases=merge_cases,
    oracle=merge_heads,
    mistakes=MERGE_MISTAKES,
    exception_hints=(VIEW_HINT,),
    flag_hints=(
        FlagHint(frozenset({"noncontig"}),
                 "it fails only for a non-contiguous input (split_heads returns one): use "
                 ".reshape, which copies when it must, instead of .view"),
        FlagHint(frozenset({"h1"}), "it fails only for H=1: keep every dim (no squeeze())"),
    ),
    explain=partial(_rearrange_explain, False),
)


def check_merge_heads(fn, *, seed: int = 0) -> CheckResult:
    """Check `fn(x)`: (B, H, T, d) -> (B, T, H * d), the inverse of split_heads. Raises
    CheckFailed naming the mistake, or returns a CheckResult."""
    __tracebackhide__ = True
    return MERGE_HEADS_CHECK.check(fn, seed=seed)


# --------------------------------------------------------------------------------------------
# MultiHeadSelfAttention: oracle and runner
# --------------------------------------------------------------------------------------------
class _TorchOracle(MultiHeadSelfAttention):
    """torch.nn.MultiheadAttention holding the same weights, run in float64."""

    def forward(self, x, mask=None, return_weights=False):
        B, T, _ = x.shape
        H = self.num_heads
        torch_mha = copy_to_torch(self).to(F64).eval()
        attn_mask = None
        if mask is not None:  # torch: True = masked out; 3-D masks are (B * H, T, T)
            attn_mask = ~torch.broadcast_to(mask, (B, H, T, T)).reshape(B * H, T, T)
        x64 = x.to(F64)
        out, weights = torch_mha(x64, x64, x64, attn_mask=attn_mask, need_weights=True,
                                 average_attn_weights=False)
        out, weights = out.to(x.dtype), weights.to(x.dtype)  # (B, T, D), (B, H, T, T)
        return (out, weights) if return_weights else out


def _returned_not_out(out, call: str) -> str:
    if out is None:
        return (f"{call} returned None: end forward with `return out` (or `return out, weights` "
                "when return_weights=True)")
    if isinstance(out, tuple | list):
        return (f"{call} returned {describe(out)}; without return_weights=True it must return "
                "out alone, a (B, T, d_model) tensor: `return (out, weights) if return_weights "
                "else out`")
    return f"{call} returned {describe(out)}; return the output tensor out (B, T, d_model)"


def _mha_forward(check, module, x, mask):
    """out from forward(x), twice (randomness in eval mode), then (out, weights) from
    forward(x, return_weights=True): out must agree."""
    kw = {} if mask is None else {"mask": mask}
    call = "forward(x, mask=mask)" if mask is not None else "forward(x)"
    out = call_twice(module, x, **kw)
    if not isinstance(out, torch.Tensor):
        raise ModuleContractError(_returned_not_out(out, call))
    both = module(x, **kw, return_weights=True)
    call_w = call[:-1] + ", return_weights=True)"
    if not (isinstance(both, tuple | list) and len(both) == 2):
        raise ModuleContractError(
            f"{call_w} returned {describe(both)}; it must return the tuple (out, weights): "
            "`return (out, weights) if return_weights else out`"
        )
    if isinstance(both[0], torch.Tensor) and not _same(both[0], out):
        raise ModuleContractError(
            f"{call_w} returned another out than {call}: compute out the same way in both "
            "cases; return_weights=True only adds the weights"
        )
    return out, both[1]


# --------------------------------------------------------------------------------------------
# MultiHeadSelfAttention: cases
# --------------------------------------------------------------------------------------------
_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")


def _state(g, D: int, bias: bool) -> dict[str, torch.Tensor]:
    state = {}
    for name in _PROJECTIONS:
        state[f"{name}.weight"] = torch.randn(D, D, generator=g, dtype=F64) / math.sqrt(D)
        if bias:
            state[f"{name}.bias"] = 0.5 * torch.randn(D, generator=g, dtype=F64)
    return state


def _mha_mask(g, kind, B, H, T):
    if kind == "causal":
        return torch.ones(T, T, dtype=torch.bool).tril(), f"causal mask {_shape((T, T))}"
    if kind == "padding":
        lengths = torch.randint(1, T, (B,), generator=g)
        mask = (torch.arange(T) < lengths[:, None])[:, None, None, :]  # (B, 1, 1, T)
        return mask, f"key-padding mask {_shape(mask.shape)}"
    if kind == "per_head":
        return _random_mask(g, (B, H, T, T)), f"per-head mask {_shape((B, H, T, T))}"
    return None, ""


def _mha_case(g, seed, i, name, *, D, H, B, T, dtype=F64, bias=True, mask=None, mask_text="",
              x=None, state=None, flags=(), grad=False, probe=(), probe_text="",
              device="cpu") -> ModuleCase:
    x = torch.randn(B, T, D, generator=g, dtype=F64) if x is None else x
    state = _state(g, D, bias) if state is None else state
    init = ((D, H), {} if bias else {"bias": False})
    ctor = f"MultiHeadSelfAttention({D}, {H}" + ("" if bias else ", bias=False") + ")"
    m = ", mask=mask" if mask is not None else ""
    inputs = {"init": init, "state": state, "x": x.to(dtype=dtype, device=device)}
    keywords: tuple[str, ...] = ()
    if mask is not None:
        inputs["mask"] = mask.to(device)
        keywords = ("mask",)
    desc = f"x {_shape(x.shape)} {_dt(dtype)}" + (f", {mask_text}" if mask_text else "")
    desc += "; same weights as torch.nn.MultiheadAttention"
    if probe_text:
        desc += f"; {probe_text}"
    if grad:
        desc += "; gradients checked"
    shapes = ((B, T, D), (B, H, T, T))
    all_flags = set(flags)
    all_flags |= {"float32"} if dtype == F32 else set()
    all_flags |= {"masked"} if mask is not None else set()
    all_flags |= {"no_bias"} if not bias else set()
    all_flags |= {"h1"} if H == 1 else set()
    all_flags |= {"grad"} if grad else set()
    atol, rtol = tolerances(dtype, device)
    return ModuleCase(
        name=name,
        inputs=inputs,
        keywords=keywords,
        shapes=shapes,
        tolerance=(atol, rtol),
        description=desc,
        flags=frozenset(all_flags),
        grad=("x",) if grad else (),
        grad_outputs=tuple(torch.randn(*s, generator=g, dtype=F64).to(dtype) for s in shapes)
        if grad else (),
        key=f"mha:{seed}:{i}:{name}:{device}",
        call=f"m = {ctor}.eval(); m(x{m}) and m(x{m}, return_weights=True)",
        probe=probe,
    )


def mha_cases(seed: int = 0, *, device: str | torch.device = "cpu") -> list[ModuleCase]:
    """Cases for MultiHeadSelfAttention, simple -> hard: several (d_model, num_heads) pairs,
    masks, bias=False, T=1, gradients, and two probes (head isolation, causality)."""
    g = torch.Generator().manual_seed(seed)
    device = str(torch.device(device))
    cases: list[ModuleCase] = []

    def add(name, **spec):
        kind = spec.pop("mask_kind", None)
        if kind is not None:
            spec["mask"], spec["mask_text"] = _mha_mask(g, kind, spec["B"], spec["H"], spec["T"])
            spec.setdefault("flags", ())
            spec["flags"] = (*spec["flags"], kind)
        cases.append(_mha_case(g, seed, len(cases), name, device=device, **spec))
        return cases[-1]

    base = add("d_model=12, H=3", D=12, H=3, B=2, T=5)
    state = {k: v.clone() for k, v in base.inputs["state"].items()}
    head, d = 1, 12 // 3
    for proj in ("q_proj", "k_proj"):
        rows = torch.randn(d, 12, generator=g, dtype=F64) / math.sqrt(12)
        state[f"{proj}.weight"][head * d:(head + 1) * d] = rows
    add("d_model=12, H=3, head 1's query and key rows changed", D=12, H=3, B=2, T=5,
        x=base.inputs["x"].to(F64), state=state, flags=("isolation",), probe=("isolation", 0,
                                                                              head),
        probe_text=f"rows {head * d}:{(head + 1) * d} of q_proj.weight and k_proj.weight "
                   f"changed: only head {head}'s weights may change")
    add("d_model=24, H=6 float32", D=24, H=6, B=3, T=4, dtype=F32)
    causal = add("d_model=32, H=4, causal mask", D=32, H=4, B=2, T=6, mask_kind="causal")
    t0 = 2
    x = causal.inputs["x"].to(F64).clone()
    x[:, t0 + 1:] = torch.randn(2, 6 - t0 - 1, 32, generator=g, dtype=F64)
    add("d_model=32, H=4, causal, later tokens changed", D=32, H=4, B=2, T=6, x=x,
        state=causal.inputs["state"], mask=causal.inputs["mask"],
        mask_text="causal mask (6, 6)", flags=("future", "causal"),
        probe=("causal", len(cases) - 1, t0),
        probe_text=f"x[:, {t0 + 1}:] changed: the outputs at positions 0..{t0} may not change")
    add("d_model=16, H=16 (head size 1)", D=16, H=16, B=2, T=3)
    add("d_model=8, H=1 (one head)", D=8, H=1, B=2, T=4)
    add("d_model=16, H=8, key-padding mask float32", D=16, H=8, B=3, T=5, dtype=F32,
        mask_kind="padding")
    add("d_model=12, H=2, bias=False", D=12, H=2, B=2, T=3, bias=False)
    add("d_model=20, H=5, per-head mask", D=20, H=5, B=2, T=4, mask_kind="per_head")
    add("d_model=12, H=4, T=1", D=12, H=4, B=3, T=1, flags=("t1",))
    add("d_model=12, H=3, causal, gradients", D=12, H=3, B=2, T=4, mask_kind="causal",
        grad=True)
    return cases


# --------------------------------------------------------------------------------------------
# MultiHeadSelfAttention: known mistakes (the reference with one deliberate bug each)
# --------------------------------------------------------------------------------------------
def _buggy_forward(m, x, mask=None, return_weights=False, *, scale="head", split="ok",
                   merge="ok", keys="k", out_proj=True, time_first=False, dim=-1, heads=None,
                   average=False, mask_mode="ok", fill=NEG_INF):
    if time_first:
        x = x.transpose(0, 1)
    B, T, D = x.shape
    H = heads or m.num_heads
    d = D // H

    def to_heads(t):  # (B, T, D) -> (B, H, T, d)
        if split == "view":
            return t.reshape(B, H, T, d)
        if split == "strided":
            return t.reshape(B, T, d, H).permute(0, 3, 1, 2)
        return t.reshape(B, T, H, d).transpose(1, 2)

    q = to_heads(m.q_proj(x))
    k = to_heads((m.q_proj if keys == "q" else m.k_proj)(x))
    v = to_heads(m.v_proj(x))
    s = q @ k.transpose(-2, -1)
    s = s / math.sqrt({"head": d, "model": D, "none": 1}[scale])
    if mask is not None and mask_mode in ("ok", "invert"):
        allowed = ~mask if mask_mode == "invert" else mask
        s = s.masked_fill(~allowed, fill)
    w = torch.softmax(s, dim=dim)
    if mask is not None and mask_mode == "after":
        w = w * mask
    y = w @ v  # (B, H, T, d)
    if merge == "view":
        y = y.reshape(B, T, D)
    elif merge == "order":
        y = y.permute(0, 2, 3, 1).reshape(B, T, D)
    else:
        y = y.transpose(1, 2).reshape(B, T, D)
    out = m.out_proj(y) if out_proj else y
    if time_first:
        out = out.transpose(0, 1)
    if average:
        w = w.mean(dim=1)
    return (out, w) if return_weights else out


def _variant(**bugs) -> type[nn.Module]:
    class Buggy(MultiHeadSelfAttention):
        def forward(self, x, mask=None, return_weights=False):
            return _buggy_forward(self, x, mask, return_weights, **bugs)

    Buggy.__qualname__ = Buggy.__name__ = "MultiHeadSelfAttention"
    return Buggy


def _isolation_hint(records, cases) -> str | None:
    """Which heads' weights changed when only one head's query and key rows did."""
    for i, case in enumerate(cases):
        if case.probe[:1] != ("isolation",):
            continue
        base, head = case.probe[1], case.probe[2]
        a, b = _arrays(records[base]), _arrays(records[i])
        if a is None or b is None or a[1].shape != b[1].shape or a[1].shape != case.shapes[1]:
            continue
        change = np.nan_to_num(np.abs(a[1] - b[1]), nan=1.0).max(axis=(0, 2, 3))  # per head
        changed = [h for h in range(len(change)) if change[h] > 1e-6]
        if changed and changed != [head]:
            d = case.shapes[0][-1] // case.shapes[1][1]
            others = [h for h in changed if h != head]
            return (f"changing only head {head}'s rows {head * d}:{(head + 1) * d} of "
                    f"q_proj.weight and k_proj.weight changed the weights of head(s) "
                    f"{others or changed}"
                    + ("" if head in changed else f" but not head {head}")
                    + f": heads share features. {CONTIGUOUS_FIX[0].upper()}{CONTIGUOUS_FIX[1:]}")
    return None


def _future_hint(records, cases) -> str | None:
    """Whether later tokens changed earlier outputs under a causal mask."""
    for i, case in enumerate(cases):
        if case.probe[:1] != ("causal",):
            continue
        base, t0 = case.probe[1], case.probe[2]
        a, b = _arrays(records[base]), _arrays(records[i])
        if a is None or b is None or a[0].shape != b[0].shape or a[0].shape != case.shapes[0]:
            continue
        change = np.nan_to_num(np.abs(a[0][:, :t0 + 1] - b[0][:, :t0 + 1]), nan=1.0).max()
        if change > 1e-6:
            return (f"changing the tokens after position {t0} changed the outputs at positions "
                    f"0..{t0} (by up to {change:.3g}): under a causal mask later tokens must "
                    "not matter. Mask the scores before the softmax (True = may attend) and "
                    "attend over dim 1 of x (B, T, d_model)")
    return None


def _weights_hint(records, cases, results) -> str | None:
    for i, r in enumerate(results):
        arrays = _arrays(records[i])
        if r.passed or arrays is None or arrays[1].shape != tuple(cases[i].shapes[1]):
            continue
        w = arrays[1]
        if not np.isfinite(w).all() or np.abs(w.sum(-1) - 1).max() < 1e-4:
            return None
        if np.abs(w.sum(1) - 1).max() < 1e-6:
            return ("the weights sum to 1 over the heads (dim=1), not over the keys: "
                    "softmax(scores, dim=-1)")
        return ("rows of weights do not sum to 1: apply the softmax over the keys, dim=-1, "
                "and nothing after it")
    return None


def _wrong_only_with_masks(records, cases, oracle, results) -> bool:
    """Exactly the masked cases fail, and not all by raising (an exception has its own hint)."""
    return fails_exactly_with("masked")(records, cases, oracle, results) and any(
        rec.status == "returned" for rec, res in zip(records, results, strict=True)
        if not res.passed
    )


def _mha_explain(records, cases, oracle, results) -> list[str]:
    hints = [_isolation_hint(records, cases), _future_hint(records, cases),
             _weights_hint(records, cases, results)]
    return [h for h in hints if h]


_v = _variant

MHA_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "scale_d_model",
        "the scores are scaled by 1/√d_model instead of 1/√d_head",
        "each head attends in d_head = d_model // num_heads dims: divide by math.sqrt(d_head) "
        "(q.shape[-1] after the split)",
        (_v(scale="model"),),
    ),
    Mistake(
        "no_scale",
        "the scores are not scaled",
        "divide the scores by math.sqrt(d_head), d_head = d_model // num_heads",
        (_v(scale="none"),),
    ),
    Mistake(
        "heads_mixed_view",
        "the heads are split with a plain reshape, without the transpose "
        "(x.view(B, H, T, d)): heads get mixed",
        CONTIGUOUS_FIX,
        (_v(split="view"), _v(split="view", merge="view")),
    ),
    Mistake(
        "split_order",
        "the split puts the head index last (view(B, T, d, H)): head i gets every H-th "
        "feature instead of a contiguous slice",
        CONTIGUOUS_FIX,
        (_v(split="strided"), _v(split="strided", merge="order")),
    ),
    Mistake(
        "merge_no_transpose",
        "the heads are merged without the transpose: reshaping (B, H, T, d) straight to "
        "(B, T, d_model) mixes positions",
        "merge with y.transpose(1, 2).reshape(B, T, d_model)",
        (_v(merge="view"),),
    ),
    Mistake(
        "merge_order",
        "the heads are merged in the wrong order: features come out as (d, H) instead of "
        "(H, d)",
        "merge with y.transpose(1, 2).reshape(B, T, d_model): head i's outputs fill "
        "features i*d:(i+1)*d",
        (_v(merge="order"),),
    ),
    Mistake(
        "no_out_proj",
        "the output projection is missing",
        "mix the merged heads with the output projection: out = self.out_proj(merged)",
        (_v(out_proj=False),),
    ),
    Mistake(
        "time_first",
        "x is treated as (T, B, d_model): attention runs over dim 0 (the batch)",
        "x is (B, T, d_model), batch first: B, T, _ = x.shape and attend over dim 1 "
        "(torch.nn.MultiheadAttention needs batch_first=True for this layout)",
        (_v(time_first=True),),
    ),
    Mistake(
        "softmax_over_heads",
        "the softmax runs over the heads (dim=1)",
        "normalise over the keys: torch.softmax(scores, dim=-1)",
        (_v(dim=1),),
    ),
    Mistake(
        "softmax_wrong_dim",
        "the softmax runs over the queries (dim=-2)",
        "normalise over the keys: torch.softmax(scores, dim=-1)",
        (_v(dim=-2),),
    ),
    Mistake(
        "hard_coded_heads",
        "the head count is hard-coded (e.g. 8) instead of num_heads",
        "store the argument, self.num_heads = num_heads, and use it everywhere: "
        "d_head = d_model // self.num_heads",
        (_v(heads=8),),
        detect=hard_coded_heads(lambda c: c.inputs["init"][0][1]),
    ),
    Mistake(
        "averaged_weights",
        "the returned weights are averaged over the heads",
        "return the per-head weights, (B, H, T, T): no .mean(dim=1)",
        (_v(average=True),),
    ),
    *projection_and_mask_mistakes(_v),
    Mistake(
        "mask_after_softmax",
        "the mask is applied after the softmax: rows no longer sum to 1, and the hidden keys "
        "still shape the normalisation",
        "mask the scores before the softmax: scores.masked_fill(~mask, float('-inf')), then "
        "torch.softmax(scores, dim=-1)",
        (_v(mask_mode="after"),),
    ),
    Mistake(
        "heads_mixed",
        "the heads are not independent: changing one head's query and key rows changes other "
        "heads' weights",
        CONTIGUOUS_FIX + "; merge with y.transpose(1, 2).reshape(B, T, d_model)",
        detect=lambda records, cases, oracle, results: _isolation_hint(records, cases)
        is not None,
    ),
    Mistake(
        "future_leak",
        "later tokens change earlier outputs despite the causal mask",
        "mask the scores before the softmax, scores.masked_fill(~mask, float('-inf')), and "
        "attend over dim 1 of x (B, T, d_model)",
        detect=lambda records, cases, oracle, results: _future_hint(records, cases)
        is not None,
    ),
    Mistake(
        "masked_only",
        "it fails only when a mask is given",
        "the mask is bool, broadcastable to (B, H, T, T), True = may attend: "
        "scores.masked_fill(~mask, float('-inf')) before the softmax",
        detect=_wrong_only_with_masks,
    ),
)

MHA_CHECK = ModuleCheck(
    "MultiHeadSelfAttention",
    linears=_PROJECTIONS,
    forward=_mha_forward,
    check_function="check_multi_head_self_attention",
    notes={
        "q_proj": "nn.Linear(d_model, d_model): the heads are split after the projection",
        "k_proj": "nn.Linear(d_model, d_model): keys have their own projection",
        "v_proj": "nn.Linear(d_model, d_model): values have their own projection",
        "out_proj": "nn.Linear(d_model, d_model) mixes the merged heads",
    },
    parameter_note=": 4·d_model² (+ 4·d_model biases) whatever num_heads is",
    outputs=("out", "weights"),
    signature="class MultiHeadSelfAttention(nn.Module): __init__(self, d_model, num_heads, "
              "bias=True); forward(self, x, mask=None, return_weights=False)",
    make_cases=mha_cases,
    oracle=_TorchOracle,
    mistakes=MHA_MISTAKES,
    exception_hints=(
        VIEW_HINT,
        SIZE_HINT,
        SUPER_INIT_HINT,
        ExceptionHint(r"unexpected keyword argument 'return_weights'",
                      "forward must accept return_weights: "
                      "def forward(self, x, mask=None, return_weights=False)"),
        ExceptionHint(r"unexpected keyword argument 'mask'",
                      "forward must accept the mask: "
                      "def forward(self, x, mask=None, return_weights=False)"),
        ExceptionHint(r"unexpected keyword argument 'bias'|takes 3 positional arguments",
                      "__init__ must accept bias: def __init__(self, d_model, num_heads, "
                      "bias=True)"),
    ),
    flag_hints=(
        FlagHint(frozenset({"no_bias"}), "it fails only with bias=False: pass bias=bias to "
                                         "every nn.Linear"),
        FlagHint(frozenset({"masked"}), "it fails only when a mask is given: the mask is bool, "
                                        "broadcastable to (B, H, T, T), True = may attend"),
        FlagHint(frozenset({"h1"}), "it fails only for num_heads=1: keep the head dim "
                                    "(no squeeze())"),
        *MODULE_FLAG_HINTS,
    ),
    explain=_mha_explain,
)


def check_multi_head_self_attention(cls, *, seed: int = 0) -> CheckResult:
    """Check the class `MultiHeadSelfAttention(d_model, num_heads, bias=True)` against
    torch.nn.MultiheadAttention with the same weights, for several head counts. Raises
    CheckFailed naming the mistake, or returns a CheckResult."""
    __tracebackhide__ = True
    return MHA_CHECK.check(cls, seed=seed)
