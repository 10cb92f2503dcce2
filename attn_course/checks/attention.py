"""The check for scaled dot-product attention.

    check_scaled_dot_product_attention(fn, *, masks=True, seed=0)
        fn(q, k, v, mask=None) -> (out, weights): q (..., T_q, d_k), k (..., T_k, d_k),
        v (..., T_k, d_v), bool mask broadcastable to (..., T_q, T_k) with True = may attend;
        out (..., T_q, d_v), weights (..., T_q, T_k).

The oracle for `out` is torch's F.scaled_dot_product_attention and for `weights` torch.softmax,
both in float64. Known mistakes are buggy variants of the same computation
(`attention_variants`), several of them shared with the module checks (`catalogue`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from attn_course.checks import attention_variants as av
from attn_course.checks import catalogue
from attn_course.checks import draw as drawing
from attn_course.checks.check import Check
from attn_course.checks.mistakes import ExceptionHint, FlagHint, Mistake, fails_exactly_with
from attn_course.checks.records import Case, Record, output_arrays
from attn_course.checks.results import CheckResult
from attn_course.device import tolerances
from attn_course.formatting import dtype_text, shape_text

__all__ = [
    "SCALED_DOT_PRODUCT_ATTENTION_CHECK",
    "check_scaled_dot_product_attention",
    "random_mask",
    "sdpa_cases",
]

NEG_INF = float("-inf")


# --------------------------------------------------------------------------------------------
# Oracle
# --------------------------------------------------------------------------------------------
def _sdpa_oracle(q, k, v, mask=None):
    """out from F.scaled_dot_product_attention, weights from torch.softmax, both in float64."""
    q64, k64, v64 = q.to(torch.float64), k.to(torch.float64), v.to(torch.float64)
    out = F.scaled_dot_product_attention(q64, k64, v64, attn_mask=mask)
    scores = q64 @ k64.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, NEG_INF)
    weights = torch.softmax(scores, dim=-1)
    return out.to(q.dtype), weights.to(q.dtype)


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------
def _randn(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def _qk(g, batch, T_q, T_k, d_k, offset):
    """q, k whose scaled scores are offset + O(1) (offset=None: plain N(0, 1) scores)."""
    if offset is None:
        return _randn(g, *batch, T_q, d_k), _randn(g, *batch, T_k, d_k)
    c = _randn(g, d_k)
    c = c / c.norm()
    m = _randn(g, *batch, T_q, d_k)
    n = _randn(g, *batch, T_k, d_k)
    m = m - (m @ c)[..., None] * c  # orthogonal to c: the offset is the same for every pair
    n = n - (n @ c)[..., None] * c
    a = math.sqrt(abs(offset) * math.sqrt(d_k))
    return m + math.copysign(a, offset) * c, n + a * c


def random_mask(g, shape):
    """Random bool mask with at least one True and one False in every row."""
    *lead, T_q, T_k = shape
    m = torch.rand(*shape, generator=g) < 0.6
    rows = m.reshape(-1, T_k)
    for r in range(rows.shape[0]):
        on, off = torch.randperm(T_k, generator=g)[:2].tolist()
        rows[r, on], rows[r, off] = True, False
    return rows.reshape(shape)


def _sdpa_case(
    g, seed, index, name, *, batch, T_q, T_k, d_k, d_v, dtype, device, mask=None,
    mask_name="", offset=None, grad=False, flags=(),
) -> Case:
    q, k = _qk(g, batch, T_q, T_k, d_k, offset)
    v = _randn(g, *batch, T_k, d_v)
    out_shape, w_shape = (*batch, T_q, d_v), (*batch, T_q, T_k)
    grad_outputs = (_randn(g, *out_shape).to(dtype), _randn(g, *w_shape).to(dtype))
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, 0.0)
    scale = max(1.0, float(scores.abs().max()) / 10)  # large logits: looser, in proportion
    atol, rtol = tolerances(dtype, device)
    inputs = {"q": q.to(dtype), "k": k.to(dtype), "v": v.to(dtype)}
    keywords: tuple[str, ...] = ()
    desc = f"q {shape_text(q.shape)}, k {shape_text(k.shape)}, v {shape_text(v.shape)}"
    if mask is not None:
        inputs["mask"] = mask
        keywords = ("mask",)
        desc += f", {mask_name} mask {shape_text(mask.shape)}"
    desc += f", {dtype_text(dtype)}"
    if offset is not None:
        desc += f", scores ≈ {offset:+.0e}"
    if grad:
        desc += ", gradients checked"
    inputs = {n: t.to(device) for n, t in inputs.items()}
    dims = {0: "2d", 1: "3d", 2: "4d"}[len(batch)]
    all_flags = {dims, *flags}
    if T_q != T_k:
        all_flags.update({"non_square", "tq_ne_tk"})
    if d_k != d_v:
        all_flags.update({"non_square", "dk_ne_dv"})
    if dtype == torch.float32:
        all_flags.add("float32")
    if mask is not None:
        all_flags.add("masked")
    if offset is not None:
        all_flags.add("large_logits")
    if grad:
        all_flags.add("grad")
    return Case(
        name=name,
        inputs=inputs,
        keywords=keywords,
        shapes=(out_shape, w_shape),
        tolerance=(atol * scale, rtol * scale),
        description=desc,
        flags=frozenset(all_flags),
        grad=("q", "k", "v") if grad else (),
        grad_outputs=tuple(t.to(device) for t in grad_outputs),
        key=f"sdpa:{seed}:{index}:{name}:{device}",
        scale=scale,
    )


def sdpa_cases(seed: int = 0, *, masks: bool = True, device: str | torch.device = "cpu"):
    """Cases for scaled_dot_product_attention, simple -> hard. masks=False: no masked cases."""
    g = torch.Generator().manual_seed(seed)
    f64, f32 = torch.float64, torch.float32
    device = torch.device(device)
    specs = [
        ("2-D (4, 6) float64", dict(batch=(), T_q=4, T_k=4, d_k=6, d_v=6, dtype=f64)),
        ("3-D (2, 5, 8) float64", dict(batch=(2,), T_q=5, T_k=5, d_k=8, d_v=8, dtype=f64)),
        ("3-D (2, 5, 8) float32", dict(batch=(2,), T_q=5, T_k=5, d_k=8, d_v=8, dtype=f32)),
        ("3-D T_q=3, T_k=6, d_k=8, d_v=5 float64",
         dict(batch=(2,), T_q=3, T_k=6, d_k=8, d_v=5, dtype=f64)),
        ("4-D (2, 3, 5, 4) float64", dict(batch=(2, 3), T_q=5, T_k=5, d_k=4, d_v=4, dtype=f64)),
        ("4-D T_q=4, T_k=7, d_k=6, d_v=3 float32",
         dict(batch=(2, 2), T_q=4, T_k=7, d_k=6, d_v=3, dtype=f32)),
        ("large scores ≈1e3 float64",
         dict(batch=(2,), T_q=4, T_k=6, d_k=8, d_v=5, dtype=f64, offset=1e3)),
        ("large scores ≈1e2 float32",
         dict(batch=(2,), T_q=4, T_k=6, d_k=8, d_v=5, dtype=f32, offset=1e2)),
    ]
    if masks:
        causal = torch.ones(5, 5, dtype=torch.bool).tril()
        lengths_3 = torch.randint(2, 7, (2,), generator=g)
        pad_3 = (torch.arange(7) < lengths_3[:, None])[:, None, :]  # (2, 1, 7)
        lengths_4 = torch.randint(2, 6, (2,), generator=g)
        pad_4 = (torch.arange(6) < lengths_4[:, None])[:, None, None, :]  # (2, 1, 1, 6)
        specs += [
            ("causal mask (5, 5) float64",
             dict(batch=(2,), T_q=5, T_k=5, d_k=8, d_v=8, dtype=f64, mask=causal,
                  mask_name="causal", flags=("causal",))),
            ("key-padding mask (2, 1, 7) float32",
             dict(batch=(2,), T_q=4, T_k=7, d_k=8, d_v=5, dtype=f32, mask=pad_3,
                  mask_name="key-padding", flags=("padding",))),
            ("4-D key-padding mask (2, 1, 1, 6) float64",
             dict(batch=(2, 3), T_q=5, T_k=6, d_k=4, d_v=4, dtype=f64, mask=pad_4,
                  mask_name="key-padding", flags=("padding",))),
            ("random mask (2, 4, 6) float64",
             dict(batch=(2,), T_q=4, T_k=6, d_k=8, d_v=5, dtype=f64,
                  mask=random_mask(g, (2, 4, 6)), mask_name="random")),
            ("masked, scores ≈-1e5 float64",
             dict(batch=(2,), T_q=4, T_k=6, d_k=8, d_v=5, dtype=f64, offset=-1e5,
                  mask=random_mask(g, (2, 4, 6)), mask_name="random",
                  flags=("very_negative",))),
        ]
    specs.append(("gradients 3-D T_q=4, T_k=6 float64",
                  dict(batch=(2,), T_q=4, T_k=6, d_k=8, d_v=5, dtype=f64, grad=True)))
    if masks:
        specs.append(("gradients, 4-D causal float64",
                      dict(batch=(2, 2), T_q=4, T_k=4, d_k=6, d_v=3, dtype=f64, grad=True,
                           mask=torch.ones(4, 4, dtype=torch.bool).tril(), mask_name="causal",
                           flags=("causal",))))
    return [
        _sdpa_case(g, seed, i, name, device=device, **spec) for i, (name, spec) in
        enumerate(specs)
    ]


def sdpa_draw(seed: int, *, start: int, masks: bool = True,
              device: str | torch.device = "cpu") -> list[Case]:
    """Three cases drawn from `seed`, larger than any public one (T_q, T_k 8-13; d_k, d_v
    9-16; 2-D to 4-D): float64 with gradients, float32 (with a random mask when `masks`), and
    float64 on `device` (with a key-padding mask when `masks`)."""
    g = drawing.generator(seed)
    f64, f32 = torch.float64, torch.float32
    cases = []
    for dtype, where, grad, kind in ((f64, "cpu", True, None),
                                     (f32, "cpu", False, "random" if masks else None),
                                     (f64, device, False, "padding" if masks else None)):
        batch = drawing.pick(g, ((), (drawing.integer(g, 2, 3),),
                                 (drawing.integer(g, 2, 3), drawing.integer(g, 2, 3))))
        T_q, T_k = drawing.integer(g, 8, 13), drawing.integer(g, 8, 13)
        d_k, d_v = drawing.integer(g, 9, 16), drawing.integer(g, 9, 16)
        spec = dict(batch=batch, T_q=T_q, T_k=T_k, d_k=d_k, d_v=d_v, dtype=dtype, grad=grad)
        if kind == "random":
            spec.update(mask=random_mask(g, (*batch, T_q, T_k)), mask_name="random")
        elif kind == "padding":
            lengths = torch.randint(2, T_k, batch[:1] or (1,), generator=g)
            pad = torch.arange(T_k) < lengths[:, None]  # (B or 1, T_k)
            pad = pad.reshape(*batch[:1], *(1,) * len(batch), T_k) if batch else pad
            spec.update(mask=pad, mask_name="key-padding", flags=("padding",))
        name = (f"drawn: q {shape_text((*batch, T_q, d_k))}, k {shape_text((*batch, T_k, d_k))}, "
                f"v {shape_text((*batch, T_k, d_v))} {dtype_text(dtype)}"
                + (f", {spec['mask_name']} mask" if kind else "")
                + (", gradients" if grad else "") + drawing.on(where))
        cases.append(_sdpa_case(g, seed, start + len(cases), name, device=torch.device(where),
                                **spec))
    return cases


# --------------------------------------------------------------------------------------------
# Known mistakes
# --------------------------------------------------------------------------------------------
SCALED_DOT_PRODUCT_ATTENTION_MISTAKES: tuple[Mistake, ...] = (
    catalogue.no_scale(catalogue.as_is, "d_k", "q.shape[-1]"),
    catalogue.scale_by_dk(catalogue.as_is),
    Mistake(
        "scale_multiplied",
        "the scores are multiplied by √d_k instead of divided",
        "divide: scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)",
        (av.scale_multiplied,),
    ),
    Mistake(
        "scale_wrong_size",
        "the scale uses the wrong size (d_k is the last dim of q and k)",
        "use d_k = q.shape[-1] (not v.shape[-1], the sequence length, or a fixed index "
        "such as k.shape[1])",
        (av.scaled_by_d_v, av.scaled_by_T_k, av.scaled_by_T_q, av.scaled_by_dim_1_of_k),
    ),
    Mistake(
        "scale_after_softmax",
        "the 1/√d_k scaling is applied after the softmax",
        "scale the scores before the softmax: softmax(q @ k.transpose(-2, -1) / math.sqrt(d_k))",
        (av.scaled_after_softmax,),
    ),
    catalogue.softmax_wrong_dim(catalogue.as_is, av.softmax_over_queries, av.softmax_over_dim_0,
                                av.softmax_over_dim_1),
    Mistake(
        "three_d_only",
        "the code only works for 3-D inputs (B, T, d): it fails for (T, d) and (B, H, T, d)",
        "count dims from the end so any number of batch dims works: k.transpose(-2, -1), "
        "softmax(dim=-1), and @ (torch.matmul) instead of torch.bmm",
        (av.transpose_1_2, av.bmm, av.softmax_over_dim_2),
        detect=fails_exactly_with("2d", "4d"),
    ),
    Mistake(
        "dot_T",
        "k.T reverses all dims of a batched tensor",
        "transpose only the last two dims: k.transpose(-2, -1) (or k.mT)",
        (av.dot_T,),
    ),
    catalogue.mask_inverted(catalogue.as_is),
    catalogue.mask_ignored(catalogue.as_is),
    catalogue.mask_after_softmax(catalogue.as_is),
    Mistake(
        "mask_fill_zero",
        "masked scores are set to 0 instead of -inf, so masked keys still get weight "
        "(exp(0) = 1)",
        "fill with float('-inf') (or torch.finfo(scores.dtype).min): "
        "scores.masked_fill(~mask, float('-inf'))",
        (av.masked_with_zero,),
    ),
    Mistake(
        "fill_not_negative_enough",
        "the fill value for masked scores is not negative enough: with scores ≈ -1e5 the "
        "masked keys still get weight",
        "fill with float('-inf') or torch.finfo(scores.dtype).min",
        (av.masked_with_minus_1e2, av.masked_with_minus_1e3, av.masked_with_minus_1e4),
        detect=lambda records, cases, oracle, results: _leaks_only_when_very_negative(
            records, cases
        ),
    ),
    Mistake(
        "unstable_softmax",
        "the softmax is numerically unstable: exp overflows for large scores (NaN / inf)",
        "subtract the row max before exp: scores - scores.amax(dim=-1, keepdim=True) "
        "(or use torch.softmax(scores, dim=-1))",
        (av.naive_softmax, av.naive_softmax_times_mask),
        detect=lambda records, cases, oracle, results: _nonfinite_only_for_large(records, cases),
    ),
    Mistake(
        "weights_are_scores",
        "the returned weights are the scores before the softmax",
        "return the softmax of the scores: weights = torch.softmax(scores, dim=-1)",
        (av.returns_scores, av.returns_scores_fill_1e9),
    ),
    Mistake(
        "no_softmax",
        "there is no softmax: the scores are used as weights",
        "weights = torch.softmax(scores, dim=-1); out = weights @ v",
        (av.no_softmax, av.no_softmax_fill_1e9),
    ),
    Mistake(
        "weights_transposed",
        "the returned weights are transposed: (T_k, T_q) instead of (T_q, T_k)",
        "return the weights as computed, (..., T_q, T_k): one row per query",
        (av.weights_transposed,),
    ),
    Mistake(
        "swapped",
        "the results are returned in the wrong order",
        "return out first, then the weights: `return out, weights`",
        (av.swapped,),
    ),
    Mistake(
        "out_uses_k",
        "out is computed from k instead of v",
        "out = weights @ v",
        (av.out_from_k,),
    ),
    Mistake(
        "out_uses_transposed_weights",
        "out uses the transposed weights",
        "out = weights @ v, with weights (..., T_q, T_k) and v (..., T_k, d_v)",
        (av.out_from_transposed_weights,),
    ),
    Mistake(
        "inplace_input",
        "q is modified in place (e.g. q /= math.sqrt(d_k))",
        "compute a new tensor instead, q = q / math.sqrt(d_k), or scale the scores; never "
        "change the inputs",
        (av.scales_q_in_place,),
    ),
    Mistake(
        "dtype_change",
        "the results come back in another dtype",
        "your float64 inputs came back as float32: avoid torch.tensor(d_k) / .float(); use "
        "math.sqrt(d_k) and keep the inputs' dtype",
        (av.inputs_to_float32, av.results_to_float32),
    ),
    Mistake(
        "detached",
        "the result is cut off from autograd: gradients do not reach q, k, v",
        "don't use .detach(), .data, numpy round trips or torch.no_grad() inside the function",
        (av.under_no_grad, av.k_detached),
    ),
)


# --------------------------------------------------------------------------------------------
# Generic explanations when no known mistake fits
# --------------------------------------------------------------------------------------------
def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


def _masked_leak(record: Record, case: Case) -> float:
    """Largest weight the student gives a masked key in this case (0 when none / unknown)."""
    arrays = output_arrays(record)
    mask = case.inputs.get("mask")
    if arrays is None or mask is None:
        return 0.0
    w = arrays[1]
    hidden = ~np.broadcast_to(mask.cpu().numpy(), case.shapes[1])
    if w.shape != hidden.shape:
        return 0.0
    vals = np.abs(np.nan_to_num(w[hidden], nan=0.0))
    return float(vals.max()) if vals.size else 0.0


def _leaks_only_when_very_negative(records, cases) -> bool:
    leaks = [(c, _masked_leak(r, c)) for r, c in zip(records, cases, strict=True)
             if "masked" in c.flags]
    very = [x for c, x in leaks if "very_negative" in c.flags]
    other = [x for c, x in leaks if "very_negative" not in c.flags]
    return bool(very) and max(very) > 1e-3 and all(x < 1e-6 for x in other)


def _nonfinite_only_for_large(records, cases) -> bool:
    def nonfinite(r):
        arrays = output_arrays(r)
        return arrays is not None and not all(np.isfinite(a).all() for a in arrays)

    flagged = [nonfinite(r) for r in records]
    large = [f for f, c in zip(flagged, cases, strict=True) if "large_logits" in c.flags]
    rest = [f for f, c in zip(flagged, cases, strict=True) if "large_logits" not in c.flags]
    return any(large) and not any(rest)


def _scale_estimate(w: np.ndarray, q: np.ndarray, k: np.ndarray) -> float | None:
    """The c in weights = softmax(c · q kᵀ) when it fits well, else None."""
    if not (np.isfinite(w).all() and (w > 1e-300).all()):
        return None
    raw = q @ np.swapaxes(k, -1, -2)
    logw = np.log(w)
    dl = logw - logw.mean(axis=-1, keepdims=True)
    ds = raw - raw.mean(axis=-1, keepdims=True)
    denom = float((ds * ds).sum())
    if denom == 0:
        return None
    c = float((dl * ds).sum()) / denom
    resid = dl - c * ds
    if float(np.sqrt((resid**2).sum())) > 1e-3 * max(float(np.sqrt((dl**2).sum())), 1e-12):
        return None
    return c


def _sdpa_explain(records, cases, oracle, results) -> list[str]:
    hints: list[str] = []
    failing = [i for i, r in enumerate(results) if not r.passed]
    for i in failing:
        case, arrays = cases[i], output_arrays(records[i])
        if arrays is None or "large_logits" in case.flags:
            continue
        out, w = arrays
        if out.shape != tuple(case.shapes[0]) or w.shape != tuple(case.shapes[1]):
            continue
        if not (np.isfinite(out).all() and np.isfinite(w).all()):
            continue
        q, k, v = (_np(case.inputs[n]) for n in ("q", "k", "v"))
        rows = w.sum(axis=-1)
        if np.abs(rows - 1).max() > 1e-4:
            cols = w.sum(axis=-2)
            if np.abs(cols - 1).max() < 1e-6:
                hints.append("the columns of weights sum to 1, not the rows: the softmax must "
                             "run over the keys, dim=-1")
            else:
                hints.append(f"rows of weights do not sum to 1 (sums from {rows.min():.4g} to "
                             f"{rows.max():.4g}): apply the softmax over dim=-1 and nothing "
                             "after it")
        wv = w @ v
        if np.abs(wv - out).max() > 1e-4 * max(1.0, float(np.abs(out).max())):
            hints.append("out is not weights @ v for the weights you return: compute "
                         "out = weights @ v from those same weights")
        elif any(p.output == "weights" and p.code == "values" for p in results[i].problems):
            hints.append("out = weights @ v holds, so the problem is in how the weights are "
                         "computed")
        if "mask" not in case.inputs:
            c = _scale_estimate(w, q, k)
            ref = 1 / math.sqrt(q.shape[-1])
            if c is not None and abs(c / ref - 1) > 1e-3:
                hints.append(f"your scores are scaled by ≈{c:.3g}, but 1/√d_k = {ref:.3g} "
                             f"(d_k = {q.shape[-1]})")
        break
    leaks = [(cases[i], _masked_leak(records[i], cases[i])) for i in failing
             if "masked" in cases[i].flags]
    leaking = [(c, x) for c, x in leaks if x > 1e-6]
    if leaking:
        c, x = leaking[0]
        hints.append(f"masked keys get weight (up to {x:.3g} in case '{c.name}'): set their "
                     "scores to -inf before the softmax, scores.masked_fill(~mask, "
                     "float('-inf'))")
    return hints


SDPA_FLAG_HINTS = (
    FlagHint(frozenset({"2d", "4d"}),
             "it works for 3-D inputs only: count dims from the end (k.transpose(-2, -1), "
             "softmax(dim=-1)) and use @ instead of torch.bmm"),
    FlagHint(frozenset({"4d"}),
             "it fails only for 4-D inputs (B, H, T, d): count dims from the end "
             "(k.transpose(-2, -1), dim=-1) and use @ instead of torch.bmm"),
    FlagHint(frozenset({"2d"}),
             "it fails only for 2-D inputs (T, d): count dims from the end "
             "(k.transpose(-2, -1), dim=-1)"),
    FlagHint(frozenset({"non_square"}),
             "it fails only when T_q ≠ T_k or d_k ≠ d_v: check which size you use where "
             "(d_k = q.shape[-1], T_k = k.shape[-2], d_v = v.shape[-1])"),
    FlagHint(frozenset({"dk_ne_dv"}),
             "it fails only when d_k ≠ d_v: out takes its last dim from v, (..., T_q, d_v); "
             "d_k = q.shape[-1] is only for the scale"),
    FlagHint(frozenset({"tq_ne_tk"}),
             "it fails only when T_q ≠ T_k: weights are (..., T_q, T_k), one row per query and "
             "one column per key"),
    FlagHint(frozenset({"large_logits"}),
             "it fails only for large scores: make the softmax stable (subtract the row max "
             "first, or use torch.softmax)"),
    FlagHint(frozenset({"masked"}),
             "it fails only when a mask is given: True = may attend; fill the scores where the "
             "mask is False with -inf before the softmax; the mask may need broadcasting"),
    FlagHint(frozenset({"float32"}),
             "it fails only for float32 inputs: don't hard-code dtypes; create new tensors "
             "with dtype=q.dtype"),
    FlagHint(frozenset({"grad"}),
             "only the gradient cases fail: keep every step in torch operations that autograd "
             "tracks"),
)


def _float_dtype_hint(output: str, got: str, want: str) -> str:
    if want == "torch.float64" and got == "torch.float32":
        return ("your float64 inputs came back as float32: avoid torch.tensor(d_k) / .float(); "
                "use math.sqrt(d_k)")
    return f"keep the inputs' dtype ({want.replace('torch.', '')})"


SCALED_DOT_PRODUCT_ATTENTION_CHECK = Check(
    "scaled_dot_product_attention",
    check_function="check_scaled_dot_product_attention",
    outputs=("out", "weights"),
    signature="def scaled_dot_product_attention(q, k, v, mask=None): ... return out, weights",
    make_cases=sdpa_cases,
    draw=sdpa_draw,
    oracle=_sdpa_oracle,
    mistakes=SCALED_DOT_PRODUCT_ATTENTION_MISTAKES,
    exception_hints=(
        ExceptionHint(
            r"cannot be multiplied|must match the size of tensor",
            "the shapes do not line up: print the .shape of q, k, v and the scores; "
            "q @ k.transpose(-2, -1) needs k's last two dims swapped, out = weights @ v",
        ),
        ExceptionHint(
            r"masked_fill.* (bool|Bool)|expected mask dtype",
            "masked_fill needs a bool mask: the mask is already bool, True = may attend",
        ),
    ),
    flag_hints=SDPA_FLAG_HINTS,
    explain=_sdpa_explain,
    dtype_hint=_float_dtype_hint,
    forbidden=catalogue.TORCH_ATTENTION,
)


def check_scaled_dot_product_attention(fn, *, masks: bool = True, seed: int = 0) -> CheckResult:
    """Check `fn(q, k, v, mask=None) -> (out, weights)` on many cases; raise CheckFailed
    naming the mistake, or return a CheckResult. masks=False skips the masked cases."""
    __tracebackhide__ = True
    return SCALED_DOT_PRODUCT_ATTENTION_CHECK.check(fn, seed=seed, masks=bool(masks))


