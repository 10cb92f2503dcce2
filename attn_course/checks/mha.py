"""The check for multi-head self-attention.

    check_multi_head_self_attention(cls, *, seed=0)
        cls(d_model, num_heads, bias=True): an nn.Module with nn.Linear q_proj, k_proj, v_proj,
        out_proj (d_model -> d_model); forward(x, mask=None, return_weights=False) -> out
        (B, T, d_model), or (out, weights (B, H, T, T)). Bool mask, True = may attend.

The module gets the same weights as torch.nn.MultiheadAttention (the oracle, run in float64)
for several (d_model, num_heads) pairs; paired cases change one head's query rows or the future
tokens, so the hints can say which property broke (head isolation, causality).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from attn_course.checks import attention_variants as av
from attn_course.checks import catalogue
from attn_course.checks import draw as drawing
from attn_course.checks.attention import random_mask
from attn_course.checks.catalogue import CONTIGUOUS_FIX
from attn_course.checks.heads import (
    SIZE_HINT,
    VIEW_HINT,
    merged_by_reshape,
    merged_features_first,
    split_by_view,
    split_strided,
)
from attn_course.checks.mistakes import (
    ExceptionHint,
    FlagHint,
    Mistake,
    fails_exactly_with,
    hard_coded_heads,
)
from attn_course.checks.module_variants import (
    MultiHeadSteps,
    TimeFirst,
    scaled_by_d_model,
    variant,
)
from attn_course.checks.modules import (
    MODULE_FLAG_HINTS,
    SUPER_INIT_HINT,
    ModuleCase,
    ModuleCheck,
    ModuleContractError,
    call_twice,
    describe,
)
from attn_course.checks.records import output_arrays
from attn_course.checks.results import CheckResult
from attn_course.compare import same_result
from attn_course.device import tolerances
from attn_course.formatting import dtype_text, shape_text
from attn_course.reference.mha import MultiHeadSelfAttention, copy_to_torch

__all__ = ["MULTI_HEAD_SELF_ATTENTION_CHECK", "check_multi_head_self_attention", "mha_cases"]

F64, F32 = torch.float64, torch.float32


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
    if isinstance(both[0], torch.Tensor) and not same_result(both[0], out):
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
        return torch.ones(T, T, dtype=torch.bool).tril(), f"causal mask {shape_text((T, T))}"
    if kind == "padding":
        lengths = torch.randint(1, T, (B,), generator=g)
        mask = (torch.arange(T) < lengths[:, None])[:, None, None, :]  # (B, 1, 1, T)
        return mask, f"key-padding mask {shape_text(mask.shape)}"
    if kind == "per_head":
        return random_mask(g, (B, H, T, T)), f"per-head mask {shape_text((B, H, T, T))}"
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
    desc = f"x {shape_text(x.shape)} {dtype_text(dtype)}" + (f", {mask_text}" if mask_text else "")
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


def mha_draw(seed: int, *, start: int, device: str | torch.device = "cpu") -> list[ModuleCase]:
    """Three cases drawn from `seed`, (d_model, H) pairs none of the public cases use (H 2-5,
    head size 3, 5, 6 or 7; T 6-9): float64 with gradients, float32 with a mask, and float64
    on `device`."""
    g = drawing.generator(seed)
    cases: list[ModuleCase] = []
    for dtype, where, grad, masked in ((F64, "cpu", True, False), (F32, "cpu", False, True),
                                       (F64, str(torch.device(device)), False, False)):
        H, d = drawing.integer(g, 2, 5), drawing.pick(g, (3, 5, 6, 7))
        B, T, bias = drawing.integer(g, 2, 3), drawing.integer(g, 6, 9), bool(
            drawing.integer(g, 0, 1))
        kind = drawing.pick(g, ("causal", "padding", "per_head")) if masked else None
        mask, mask_text = _mha_mask(g, kind, B, H, T)
        name = (f"drawn: d_model={H * d}, H={H}, T={T} {dtype_text(dtype)}"
                + ("" if bias else ", bias=False") + (f", {kind.replace('_', '-')} mask"
                                                       if kind else "")
                + (", gradients" if grad else "") + drawing.on(where))
        cases.append(_mha_case(g, seed, start + len(cases), name, D=H * d, H=H, B=B, T=T,
                               dtype=dtype, bias=bias, mask=mask, mask_text=mask_text,
                               flags=(kind,) if kind else (), grad=grad, device=where))
    return cases


# --------------------------------------------------------------------------------------------
# MultiHeadSelfAttention: known mistakes (the reference with one step replaced each,
# module_variants.py)
# --------------------------------------------------------------------------------------------
def _variant(**steps) -> type:
    return variant(MultiHeadSteps, **steps)


def _build(attend):
    return variant(MultiHeadSteps, attend=attend)


def _isolation_hint(records, cases) -> str | None:
    """Which heads' weights changed when only one head's query and key rows did."""
    for i, case in enumerate(cases):
        if case.probe[:1] != ("isolation",):
            continue
        base, head = case.probe[1], case.probe[2]
        a, b = output_arrays(records[base]), output_arrays(records[i])
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
        a, b = output_arrays(records[base]), output_arrays(records[i])
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
        arrays = output_arrays(records[i])
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


MULTI_HEAD_SELF_ATTENTION_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "scale_d_model",
        "the scores are scaled by 1/√d_model instead of 1/√d_head",
        "each head attends in d_head = d_model // num_heads dims: divide by math.sqrt(d_head) "
        "(q.shape[-1] after the split)",
        (_build(scaled_by_d_model),),
    ),
    catalogue.no_scale(_build, "d_head", "d_model // num_heads"),
    Mistake(
        "heads_mixed_view",
        "the heads are split with a plain reshape, without the transpose "
        "(x.view(B, H, T, d)): heads get mixed",
        CONTIGUOUS_FIX,
        (_variant(split=split_by_view),
         _variant(split=split_by_view, merge=merged_by_reshape)),
    ),
    catalogue.split_order(
        _variant(split=split_strided),
        _variant(split=split_strided, merge=merged_features_first),
    ),
    Mistake(
        "merge_no_transpose",
        "the heads are merged without the transpose: reshaping (B, H, T, d) straight to "
        "(B, T, d_model) mixes positions",
        "merge with y.transpose(1, 2).reshape(B, T, d_model)",
        (_variant(merge=merged_by_reshape),),
    ),
    catalogue.merge_order(_variant(merge=merged_features_first)),
    Mistake(
        "no_out_proj",
        "the output projection is missing",
        "mix the merged heads with the output projection: out = self.out_proj(merged)",
        (_variant(finish=lambda self, y: y),),
    ),
    Mistake(
        "time_first",
        "x is treated as (T, B, d_model): attention runs over dim 0 (the batch)",
        "x is (B, T, d_model), batch first: B, T, _ = x.shape and attend over dim 1 "
        "(torch.nn.MultiheadAttention needs batch_first=True for this layout)",
        (TimeFirst,),
    ),
    Mistake(
        "softmax_over_heads",
        "the softmax runs over the heads (dim=1)",
        "normalise over the keys: torch.softmax(scores, dim=-1)",
        (_build(av.softmax_over_dim_1),),
    ),
    Mistake(
        "softmax_wrong_dim",
        "the softmax runs over the queries (dim=-2)",
        "normalise over the keys: torch.softmax(scores, dim=-1)",
        (_build(av.softmax_over_queries),),
    ),
    Mistake(
        "hard_coded_heads",
        "the head count is hard-coded (e.g. 8) instead of num_heads",
        "store the argument, self.num_heads = num_heads, and use it everywhere: "
        "d_head = d_model // self.num_heads",
        (_variant(heads=lambda self: 8),),
        detect=hard_coded_heads(lambda c: c.inputs["init"][0][1]),
    ),
    Mistake(
        "averaged_weights",
        "the returned weights are averaged over the heads",
        "return the per-head weights, (B, H, T, T): no .mean(dim=1)",
        (_variant(weights=lambda self, w: w.mean(dim=1)),),
    ),
    catalogue.keys_from_query(
        _variant(project=lambda self, x: (self.q_proj(x), self.q_proj(x),
                                                         self.v_proj(x)))),
    catalogue.mask_ignored(_build),
    catalogue.mask_inverted(_build),
    catalogue.mask_after_softmax(_build),
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
    catalogue.masked_only("(B, H, T, T)", _wrong_only_with_masks),
)

MULTI_HEAD_SELF_ATTENTION_CHECK = ModuleCheck(
    "MultiHeadSelfAttention",
    check_function="check_multi_head_self_attention",
    forbidden=catalogue.TORCH_MULTI_HEAD,
    linears=_PROJECTIONS,
    forward=_mha_forward,
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
    draw=mha_draw,
    oracle=_TorchOracle,
    mistakes=MULTI_HEAD_SELF_ATTENTION_MISTAKES,
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
    return MULTI_HEAD_SELF_ATTENTION_CHECK.check(cls, seed=seed)
