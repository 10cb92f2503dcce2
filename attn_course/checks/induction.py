"""The check for the induction score of every head.

    check_induction_score(fn, *, seed=0)
        fn(weights, period): weights (B, H, T, T), each row a causal attention distribution,
        over sequences whose token t equals token t - period for every t >= period
        -> (H,): per head, the mean weight that the queries t >= period put on key
        t - period + 1 (the token after the previous occurrence of the current token).

Judged against `reference.induction.induction_score`. The cases' weights are random causal
softmaxes, with sequences of two and three repeats and of 2·period - 1 tokens (a model's input,
the last token dropped), so that off-by-one mistakes show.
"""

from __future__ import annotations

import torch

from attn_course.checks import draw as drawing
from attn_course.checks.check import Check
from attn_course.checks.mistakes import Mistake
from attn_course.checks.records import Case
from attn_course.checks.results import CheckResult
from attn_course.device import tolerances
from attn_course.formatting import dtype_text, shape_text
from attn_course.reference.induction import induction_score

__all__ = ["INDUCTION_SCORE_CHECK", "check_induction_score"]

F64, F32 = torch.float64, torch.float32


def causal_weights(g, B: int, H: int, T: int) -> torch.Tensor:
    """Random causal attention weights (B, H, T, T): each row sums to 1 over keys <= query."""
    scores = 2.0 * torch.randn(B, H, T, T, generator=g, dtype=F64)
    future = ~torch.ones(T, T, dtype=torch.bool).tril()
    return scores.masked_fill(future, float("-inf")).softmax(-1)


def _case(g, seed, i, name, B, H, T, period, dtype, device="cpu") -> Case:
    weights = causal_weights(g, B, H, T)
    return Case(
        name=name,
        inputs={"weights": weights.to(dtype=dtype, device=device), "period": period},
        shapes=((H,),),
        tolerance=tolerances(dtype, device),
        description=f"weights {shape_text((B, H, T, T))} {dtype_text(dtype)}, period {period} "
                    f"→ expected {shape_text((H,))}",
        flags=frozenset({"float32"} if dtype == F32 else set()),
        key=f"induction_score:{seed}:{i}:{name}:{device}",
    )


def induction_cases(seed: int = 0, *, device: str | torch.device = "cpu") -> list[Case]:
    """Cases for induction_score(weights, period), simple -> hard."""
    g = torch.Generator().manual_seed(seed)
    specs = [
        ("2 heads, a segment of 4 written twice (T = 8)", 2, 2, 8, 4, F64),
        ("3 heads, a model's input: T = 2·5 - 1", 3, 3, 9, 5, F64),
        ("1 head, three repeats of 3 (T = 9)", 2, 1, 9, 3, F64),
        ("4 heads, period 6, T = 12, float32", 2, 4, 12, 6, F32),
    ]
    return [_case(g, seed, i, *spec, device=device) for i, spec in enumerate(specs)]


def induction_draw(seed: int, *, start: int, device: str | torch.device = "cpu") -> list[Case]:
    """Three cases drawn from `seed`: a batch of 4, 1-5 heads, period 2-7, 2-3 repeats, maybe
    one token less."""
    gen = drawing.generator(seed)
    cases = []
    for dtype, where in drawing.placements(device):
        H, period = drawing.integer(gen, 1, 5), drawing.integer(gen, 2, 7)
        T = drawing.integer(gen, 2, 3) * period - drawing.integer(gen, 0, 1)
        name = (f"drawn: {H} heads, period {period}, T = {T}, {dtype_text(dtype)}"
                + drawing.on(where))
        cases.append(_case(gen, seed, start + len(cases), name, 4, H, T, period, dtype,
                           device=where))
    return cases


# ---- the known mistakes' variants ------------------------------------------------------------
def _diagonal_mean(weights, period, back):
    T = weights.shape[-1]
    t = torch.arange(period, T, device=weights.device)
    return weights[:, :, t, t - back].mean(dim=(0, 2))


def previous_occurrence(weights, period):
    """Key t - period: the earlier copy of the current token (a duplicate-token head)."""
    return _diagonal_mean(weights, period, period)


def previous_token(weights, period):
    """Key t - 1: a previous-token head's score."""
    return _diagonal_mean(weights, period, 1)


def first_copy_included(weights, period):
    """The diagonal of offset -(period - 1) taken whole: query period - 1 (the end of the
    first copy, with nothing before it to copy from) is averaged in."""
    return weights.diagonal(offset=-(period - 1), dim1=-2, dim2=-1).mean(dim=(0, 2))


def summed_not_averaged(weights, period):
    T = weights.shape[-1]
    t = torch.arange(period, T, device=weights.device)
    return weights[:, :, t, t - period + 1].sum(dim=2).mean(dim=0)


def divided_by_every_query(weights, period):
    """Summed over the repeat's queries but divided by all T queries."""
    T = weights.shape[-1]
    t = torch.arange(period, T, device=weights.device)
    return weights[:, :, t, t - period + 1].sum(dim=2).mean(dim=0) / T


INDUCTION_SCORE_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "previous_occurrence",
        "this scores attention to key t - period, the earlier copy of the current token (a "
        "duplicate-token head); an induction head attends to the token after it, t - period + 1",
        "index the keys with t - period + 1",
        (previous_occurrence,),
    ),
    Mistake(
        "previous_token",
        "this scores attention to key t - 1 (a previous-token head); an induction head attends "
        "to key t - period + 1",
        "index the keys with t - period + 1, for the queries t = period .. T - 1",
        (previous_token,),
    ),
    Mistake(
        "first_copy_included",
        "query period - 1 is included: it ends the first copy, and there is no earlier "
        "occurrence to copy from. Only queries t >= period count",
        "t = torch.arange(period, T); weights[:, :, t, t - period + 1].mean(dim=(0, 2))",
        (first_copy_included,),
    ),
    Mistake(
        "summed_not_averaged",
        "the weights are summed over the queries instead of averaged: a score is a mean weight, "
        "between 0 and 1",
        "take the mean over the batch and the queries: .mean(dim=(0, 2))",
        (summed_not_averaged,),
    ),
    Mistake(
        "divided_by_every_query",
        "the sum is divided by every query T, but only the T - period queries of the repeat "
        "are scored",
        "average over the scored queries only: .mean(dim=(0, 2)) of the selected weights",
        (divided_by_every_query,),
    ),
)

INDUCTION_SCORE_CHECK = Check(
    "induction_score",
    check_function="check_induction_score",
    outputs=("score",),
    signature="def induction_score(weights, period): ... return score  # (H,)",
    make_cases=induction_cases,
    draw=induction_draw,
    oracle=induction_score,
    mistakes=INDUCTION_SCORE_MISTAKES,
)


def check_induction_score(fn, *, seed: int = 0) -> CheckResult:
    """Check `fn(weights, period)` -> (H,) against the induction score."""
    __tracebackhide__ = True
    return INDUCTION_SCORE_CHECK.check(fn, seed=seed)
