"""The check for a head's offset profile: where, on average, it looks.

    check_offset_profile(fn, *, seed=0)
        fn(weights, max_offset): (B, H, T, T) causal attention weights -> (H, max_offset + 2),
        column k the mean weight on the key at t - k (k = 0 .. max_offset), the last column the
        rest of the row, averaged over the batch and the queries t >= max_offset.
"""

from __future__ import annotations

import torch

from attn_course.checks import draw as drawing
from attn_course.checks.check import Check
from attn_course.checks.mistakes import FlagHint, Mistake
from attn_course.checks.records import Case
from attn_course.checks.results import CheckResult
from attn_course.formatting import dtype_text, shape_text
from attn_course.reference.attention import causal_mask
from attn_course.reference.head_profile import offset_profile

__all__ = ["OFFSET_PROFILE_CHECK", "check_offset_profile", "profile_cases"]

F64, F32 = torch.float64, torch.float32
TOLERANCE = {F64: (1e-9, 1e-7), F32: (1e-5, 1e-4)}  # (atol, rtol): means of at most 10^4 weights


def causal_weights(g: torch.Generator, B: int, H: int, T: int, sharpness: float) -> torch.Tensor:
    """(B, H, T, T) float64 softmax rows under a causal mask; each head leans towards one
    offset of its own (head h towards t - h), so the heads' profiles differ."""
    scores = sharpness * torch.randn(B, H, T, T, generator=g, dtype=F64)
    t = torch.arange(T)
    for h in range(H):
        scores[:, h] += 2.0 * ((t.view(-1, 1) - t.view(1, -1)) == h % T)  # favour t - h
    scores = scores.masked_fill(~causal_mask(T), float("-inf"))
    return scores.softmax(-1)


def _profile_case(g, seed, i, name, B, H, T, K, dtype, flags=(), device="cpu") -> Case:
    weights = causal_weights(g, B, H, T, sharpness=1.5)
    shape = (H, K + 2)
    all_flags = set(flags) | ({"float32"} if dtype == F32 else set())
    return Case(
        name=name,
        inputs={"weights": weights.to(dtype=dtype, device=device), "max_offset": K},
        shapes=(shape,),
        tolerance=TOLERANCE[dtype],
        description=f"weights {shape_text((B, H, T, T))} {dtype_text(dtype)}, max_offset={K} → "
                    f"expected {shape_text(shape)}",
        flags=frozenset(all_flags),
        key=f"profile:{seed}:{i}:{name}",
    )


def profile_cases(seed: int = 0, *, device: str | torch.device = "cpu") -> list[Case]:
    """Cases for offset_profile(weights, max_offset), simple -> edge cases."""
    del device  # means over a tensor: the CPU tells everything
    g = torch.Generator().manual_seed(seed)
    specs = [
        ("(2, 3, 8, 8), max_offset=4", 2, 3, 8, 4, F64, ()),
        ("(1, 2, 6, 6), max_offset=2 float32", 1, 2, 6, 2, F32, ()),
        ("(3, 1, 10, 10), one head, max_offset=3", 3, 1, 10, 3, F64, ()),
        ("(2, 4, 5, 5), max_offset=0", 2, 4, 5, 0, F64, ("k0",)),
        ("(2, 2, 5, 5), max_offset=4 = T - 1 (one query)", 2, 2, 5, 4, F64, ("last",)),
        ("(4, 2, 12, 12), max_offset=1", 4, 2, 12, 1, F64, ()),
    ]
    return [_profile_case(g, seed, i, *spec) for i, spec in enumerate(specs)]


def profile_draw(seed: int, *, start: int, device: str | torch.device = "cpu") -> list[Case]:
    """Three cases drawn from `seed`: B 2-4, H 2-6, T 13-20, max_offset 2-6, float64, float32
    and float64 on `device`."""
    g = drawing.generator(seed)
    cases = []
    for dtype, where in drawing.placements(device):
        B, H = drawing.integer(g, 2, 4), drawing.integer(g, 2, 6)
        T, K = drawing.integer(g, 13, 20), drawing.integer(g, 2, 6)
        name = (f"drawn: ({B}, {H}, {T}, {T}), max_offset={K} {dtype_text(dtype)}"
                + drawing.on(where))
        cases.append(_profile_case(g, seed, start + len(cases), name, B, H, T, K, dtype,
                                   device=where))
    return cases


# ---- the known mistakes' variants: offset_profile(weights, max_offset) with one bug each -----
def _near(weights, K, diagonal_offset, first_query):
    cols = []
    for k in range(K + 1):
        diag = torch.diagonal(weights, offset=diagonal_offset(k), dim1=-2, dim2=-1)
        cols.append(diag[..., first_query(k) :].mean(dim=(0, 2)))
    return torch.stack(cols, dim=-1)  # (H, K + 1)


def _with_rest(near):
    return torch.cat([near, (1 - near.sum(-1)).unsqueeze(-1)], dim=-1)


def above_the_diagonal(weights, max_offset):
    return _with_rest(_near(weights, max_offset, lambda k: k, lambda k: 0))


def keys_and_queries_swapped(weights, max_offset):
    return offset_profile(weights.transpose(-1, -2), max_offset)


def every_query(weights, max_offset):
    return _with_rest(_near(weights, max_offset, lambda k: -k, lambda k: 0))


def starting_at_t_minus_1(weights, max_offset):
    K = max_offset
    near = _near(weights, K + 1, lambda k: -k, lambda k: K + 1 - k)[:, 1:]
    return _with_rest(near)


def heads_averaged(weights, max_offset):
    return offset_profile(weights, max_offset).mean(0)


def batch_kept(weights, max_offset):
    return torch.stack([offset_profile(w[None], max_offset) for w in weights])


def no_rest_column(weights, max_offset):
    return offset_profile(weights, max_offset)[:, :-1]


def summed(weights, max_offset):
    B, _, T, _ = weights.shape
    return offset_profile(weights, max_offset) * B * (T - max_offset)


def summed_then_rest(weights, max_offset):
    B, _, T, _ = weights.shape
    return _with_rest(offset_profile(weights, max_offset)[:, :-1] * B * (T - max_offset))


OFFSET_PROFILE_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "future_keys",
        "it reads the weights above the diagonal, w[t, t + k]: keys after the query, which "
        "the causal mask sets to 0",
        "row t is the query and column s the key: the key at t - k is "
        "torch.diagonal(weights, offset=-k, dim1=-2, dim2=-1)",
        (above_the_diagonal, keys_and_queries_swapped),
    ),
    Mistake(
        "every_query",
        "each offset is averaged over every query that has it (t >= k), not over the queries "
        "t >= max_offset that have all of them: the columns come from different positions",
        "average every column over the same queries: diagonal k sliced [..., max_offset - k:]",
        (every_query,),
    ),
    Mistake(
        "off_by_one",
        "the columns start at t - 1: column 0 must be the query's own position t (offset 0)",
        "take k = 0, 1, ..., max_offset: range(max_offset + 1)",
        (starting_at_t_minus_1,),
    ),
    Mistake(
        "heads_averaged",
        "the heads are averaged together: each head needs its own row",
        "average over the batch and the queries only: .mean(dim=(0, 2)) on (B, H, T') leaves (H,)",
        (heads_averaged,),
    ),
    Mistake(
        "batch_kept",
        "the batch is not averaged: the result has one profile per sequence, (B, H, ...)",
        "average over the batch too: .mean(dim=(0, 2)) on each (B, H, T') diagonal",
        (batch_kept,),
    ),
    Mistake(
        "no_rest_column",
        "the last column, the weight on everything before t - max_offset, is missing",
        "append 1 - (the columns' sum) per head (or each row's total minus it): max_offset + 2 "
        "columns in all",
        (no_rest_column,),
    ),
    Mistake(
        "summed",
        "the weights are summed over the batch and the queries, not averaged: rows should add "
        "up to 1",
        "use .mean(...) instead of .sum(...)",
        (summed, summed_then_rest),
    ),
)

OFFSET_PROFILE_CHECK = Check(
    "offset_profile",
    check_function="check_offset_profile",
    outputs=("profile",),
    signature="def offset_profile(weights, max_offset): ... return profile  # (H, max_offset + 2)",
    make_cases=profile_cases,
    draw=profile_draw,
    oracle=offset_profile,
    mistakes=OFFSET_PROFILE_MISTAKES,
    flag_hints=(
        FlagHint(frozenset({"k0"}), "it fails only for max_offset=0: then there are two columns, "
                                    "t itself and the rest of the row"),
        FlagHint(frozenset({"last"}), "it fails only when max_offset = T - 1: then only the last "
                                      "query, t = T - 1, has every offset; slice diagonal k from "
                                      "max_offset - k"),
    ),
)


def check_offset_profile(fn, *, seed: int = 0) -> CheckResult:
    """Check `fn(weights, max_offset)`: (B, H, T, T) -> (H, max_offset + 2). Raises CheckFailed
    naming the mistake, or returns a CheckResult."""
    __tracebackhide__ = True
    return OFFSET_PROFILE_CHECK.check(fn, seed=seed)
