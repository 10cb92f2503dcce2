"""Checks for splitting d_model into heads and merging them back.

    check_split_heads(fn, *, seed=0)
        fn(x, num_heads): (B, T, D) -> (B, H, T, D // H); head i owns features i*d:(i+1)*d.
    check_merge_heads(fn, *, seed=0)
        fn(x): (B, H, T, d) -> (B, T, H * d), the exact inverse of split_heads.

Both are pure rearrangements, judged against the reference exactly.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

from attn_course.checks import catalogue
from attn_course.checks import draw as drawing
from attn_course.checks.catalogue import CONTIGUOUS_FIX
from attn_course.checks.check import Check
from attn_course.checks.mistakes import ExceptionHint, FlagHint, Mistake, hard_coded_heads
from attn_course.checks.records import Case, output_arrays
from attn_course.checks.results import CheckResult
from attn_course.formatting import dtype_text, shape_text
from attn_course.reference.mha import merge_heads, split_heads

__all__ = [
    "MERGE_HEADS_CHECK",
    "SIZE_HINT",
    "SPLIT_HEADS_CHECK",
    "VIEW_HINT",
    "check_merge_heads",
    "check_split_heads",
]

F64, F32 = torch.float64, torch.float32

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
        arrays = output_arrays(records[i], 1)
        if r.passed or arrays is None or arrays[0].shape != tuple(cases[i].shapes[0]):
            continue
        x = cases[i].inputs["x"].detach().to(F64).numpy()
        hint = _layout_hint(x[0], arrays[0][0], head_first)
        return [hint] if hint else []
    return []


def _split_case(g, seed, i, name, B, T, D, H, dtype, flags=(), grad=False,
                device="cpu") -> Case:
    x = torch.randn(B, T, D, generator=g, dtype=F64)
    shape = (B, H, T, D // H)
    all_flags = set(flags) | ({"float32"} if dtype == F32 else set()) | ({"grad"} if grad else
                                                                          set())
    return Case(
        name=name,
        inputs={"x": x.to(dtype=dtype, device=device), "num_heads": H},
        shapes=(shape,),
        tolerance=(0.0, 0.0),
        description=f"x {shape_text(x.shape)} {dtype_text(dtype)}, num_heads={H} → expected "
                    f"{shape_text(shape)}" + (", gradients checked" if grad else ""),
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


def _drawn_heads(g) -> tuple[int, int, int, int]:
    """(B, T, H, d_head) drawn beyond the public cases: T 6-10, H 2-7, d_head 2-5."""
    return (drawing.integer(g, 2, 4), drawing.integer(g, 6, 10), drawing.integer(g, 2, 7),
            drawing.integer(g, 2, 5))


def split_draw(seed: int, *, start: int, device: str | torch.device = "cpu") -> list[Case]:
    """Three cases drawn from `seed` (see `_drawn_heads`): float64 with gradients, float32,
    and float64 on `device`."""
    g = drawing.generator(seed)
    cases = []
    for dtype, where, grad in ((F64, "cpu", True), (F32, "cpu", False), (F64, device, False)):
        B, T, H, d = _drawn_heads(g)
        name = (f"drawn: ({B}, {T}, {H * d}), H={H} {dtype_text(dtype)}"
                + (", gradients" if grad else "") + drawing.on(where))
        cases.append(_split_case(g, seed, start + len(cases), name, B, T, H * d, H, dtype,
                                 grad=grad, device=where))
    return cases


# ---- the known mistakes' variants: split_heads(x, num_heads) with one bug each ---------------
def split_by_view(x, num_heads):
    B, T, D = x.shape
    return x.view(B, num_heads, T, D // num_heads)


def split_strided(x, num_heads):
    B, T, D = x.shape
    return x.view(B, T, D // num_heads, num_heads).permute(0, 3, 1, 2)


def split_heads_not_moved(x, num_heads):
    B, T, D = x.shape
    return x.view(B, T, num_heads, D // num_heads)


def _split_into(heads: int):
    def split_hard_coded(x, num_heads):
        B, T, D = x.shape
        return x.view(B, T, heads, D // heads).transpose(1, 2)

    split_hard_coded.__name__ = f"split_into_{heads}_heads"
    return split_hard_coded


SPLIT_HEADS_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "no_transpose",
        "the heads are split with a plain view, without the transpose: x.view(B, H, T, d) "
        "mixes positions and features across heads",
        CONTIGUOUS_FIX,
        (split_by_view,),
    ),
    catalogue.split_order(split_strided),
    Mistake(
        "heads_not_moved",
        "the head dim is not moved in front of T: the result is (B, T, H, d)",
        "add .transpose(1, 2): x.view(B, T, H, d).transpose(1, 2) is (B, H, T, d)",
        (split_heads_not_moved,),
    ),
    Mistake(
        "hard_coded_heads",
        "the head count is hard-coded instead of taken from num_heads",
        "use the argument: d = D // num_heads; x.view(B, T, num_heads, d).transpose(1, 2)",
        (_split_into(8), _split_into(4)),
        detect=hard_coded_heads(lambda c: c.inputs["num_heads"]),
    ),
)

SPLIT_HEADS_CHECK = Check(
    "split_heads",
    check_function="check_split_heads",
    outputs=("out",),
    signature="def split_heads(x, num_heads): ... return out  # (B, H, T, D // H)",
    make_cases=split_cases,
    draw=split_draw,
    oracle=split_heads,
    mistakes=SPLIT_HEADS_MISTAKES,
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
def _merge_case(g, seed, i, name, B, H, T, d, dtype, flags=(), grad=False,
                device="cpu") -> Case:
    if "noncontig" in flags:  # as split_heads returns it: a transposed view
        x = torch.randn(B, T, H, d, generator=g, dtype=F64).transpose(1, 2)
    else:
        x = torch.randn(B, H, T, d, generator=g, dtype=F64)
    shape = (B, T, H * d)
    all_flags = set(flags) | ({"float32"} if dtype == F32 else set()) | ({"grad"} if grad else
                                                                          set())
    return Case(
        name=name,
        inputs={"x": x.to(dtype=dtype, device=device)},
        shapes=(shape,),
        tolerance=(0.0, 0.0),
        description=f"x {shape_text(x.shape)} {dtype_text(dtype)}"
                    + (" (not contiguous)" if "noncontig" in flags else "")
                    + f" → expected {shape_text(shape)}" + (", gradients checked" if grad else ""),
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


def merge_draw(seed: int, *, start: int, device: str | torch.device = "cpu") -> list[Case]:
    """Three cases drawn from `seed` (see `_drawn_heads`): float64 with gradients, float32
    not contiguous, and float64 on `device`."""
    g = drawing.generator(seed)
    cases = []
    for dtype, where, grad, flags in ((F64, "cpu", True, ()), (F32, "cpu", False, ("noncontig",)),
                                      (F64, device, False, ())):
        B, T, H, d = _drawn_heads(g)
        name = (f"drawn: ({B}, {H}, {T}, {d}) {dtype_text(dtype)}"
                + (" non-contiguous" if flags else "") + (", gradients" if grad else "")
                + drawing.on(where))
        cases.append(_merge_case(g, seed, start + len(cases), name, B, H, T, d, dtype, flags,
                                 grad=grad, device=where))
    return cases


# ---- the known mistakes' variants: merge_heads(x) with one bug each -------------------------
def merged_by_reshape(x):
    B, H, T, d = x.shape
    return x.reshape(B, T, H * d)


def merged_by_view(x):
    B, H, T, d = x.shape
    return x.view(B, T, H * d)


def merged_features_first(x):
    B, H, T, d = x.shape
    return x.permute(0, 2, 3, 1).reshape(B, T, H * d)


def heads_moved_not_merged(x):
    return x.transpose(1, 2)


def view_after_transpose(x):
    B, H, T, d = x.shape
    return x.transpose(1, 2).view(B, T, H * d)


MERGE_HEADS_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "no_transpose",
        "the heads are merged without moving H back after T: reshaping (B, H, T, d) straight "
        "to (B, T, H * d) mixes positions",
        "move the heads next to the features first: x.transpose(1, 2).reshape(B, T, H * d)",
        (merged_by_reshape, merged_by_view),
    ),
    catalogue.merge_order(merged_features_first),
    Mistake(
        "not_merged",
        "the heads are moved back but not merged: the result is (B, T, H, d)",
        "reshape into (B, T, H * d): x.transpose(1, 2).reshape(B, T, H * d)",
        (heads_moved_not_merged,),
    ),
    Mistake(
        "view_after_transpose",
        ".view after .transpose fails: the transposed tensor is not contiguous",
        "use .reshape: x.transpose(1, 2).reshape(B, T, H * d) (or .contiguous().view(...))",
        (view_after_transpose,),
    ),
)

MERGE_HEADS_CHECK = Check(
    "merge_heads",
    check_function="check_merge_heads",
    outputs=("out",),
    signature="def merge_heads(x): ... return out  # (B, T, H * d)",
    make_cases=merge_cases,
    draw=merge_draw,
    oracle=merge_heads,
    mistakes=MERGE_HEADS_MISTAKES,
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


