"""The check for the causal mask.

    check_causal_mask(fn, *, seed=0)
        fn(T) -> bool (T, T), True where key j <= query i.
"""

from __future__ import annotations

import torch

from attn_course.checks import draw as drawing
from attn_course.checks.check import Check
from attn_course.checks.mistakes import FlagHint, Mistake
from attn_course.checks.records import Case
from attn_course.checks.results import CheckResult

__all__ = ["CAUSAL_MASK_CHECK", "causal_cases", "check_causal_mask"]


def _lower(T):
    return torch.ones(T, T, dtype=torch.bool).tril()  # (T, T), the oracle


def _causal_case(seed, i, name, T, flags=()) -> Case:
    return Case(
        name=name,
        inputs={"T": T},
        shapes=((T, T),),
        tolerance=(0.0, 0.0),
        description=f"expected bool ({T}, {T}), True where key j <= query i",
        flags=frozenset(flags),
        key=f"causal:{seed}:{i}:{name}",
    )


def causal_cases(seed: int = 0, *, device: str | torch.device = "cpu"):
    """T = 4, 1, 2, 7 (the seed does not change them: the mask is deterministic)."""
    del device  # causal_mask(T) creates its own tensor on the CPU
    specs = [("T=4", 4, ()), ("T=1 (edge case)", 1, ("t1",)), ("T=2", 2, ()), ("T=7", 7, ())]
    return [_causal_case(seed, i, *spec) for i, spec in enumerate(specs)]


def causal_draw(seed: int, *, start: int, device: str | torch.device = "cpu") -> list[Case]:
    """Three sizes drawn from `seed`: T from 8 to 40 (the public cases stop at 7)."""
    del device  # no tensor goes in
    g = drawing.generator(seed)
    sizes = sorted({drawing.integer(g, 8, 40) for _ in range(3)})
    return [_causal_case(seed, start + i, f"drawn: T={T}", T) for i, T in enumerate(sizes)]


# ---- the known mistakes' variants -----------------------------------------------------------
def strictly_upper(T):
    return torch.ones(T, T, dtype=torch.bool).triu(1)


def without_diagonal(T):
    return torch.ones(T, T, dtype=torch.bool).tril(-1)


def upper(T):
    return torch.ones(T, T, dtype=torch.bool).triu()


def float_ones(T):
    return torch.ones(T, T).tril()


def long_ones(T):
    return torch.ones(T, T, dtype=torch.long).tril()


def uint8_ones(T):
    return torch.ones(T, T, dtype=torch.uint8).tril()


def additive(T):
    return torch.zeros(T, T).masked_fill(strictly_upper(T), float("-inf"))


def with_batch_dim(T):
    return _lower(T)[None]


def with_two_batch_dims(T):
    return _lower(T)[None, None]


def squeezed(T):
    return _lower(T).squeeze()


CAUSAL_MASK_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "inverted",
        "the mask is inverted: True must mark the keys a query MAY attend to (j <= i)",
        "torch.tril(torch.ones(T, T, dtype=torch.bool))",
        (strictly_upper,),
    ),
    Mistake(
        "strict",
        "the diagonal is excluded: each position may also attend to itself (j <= i, not j < i)",
        "keep the diagonal: torch.tril(torch.ones(T, T, dtype=torch.bool)) (diagonal=0)",
        (without_diagonal,),
    ),
    Mistake(
        "transposed",
        "the mask is transposed (upper triangle): row i is the query, column j the key",
        "use the lower triangle: torch.tril(torch.ones(T, T, dtype=torch.bool))",
        (upper,),
    ),
    Mistake(
        "not_bool",
        "the mask is a 0/1 number tensor, not bool",
        "return a bool tensor, e.g. torch.tril(torch.ones(T, T, dtype=torch.bool))",
        (float_ones, long_ones, uint8_ones),
    ),
    Mistake(
        "additive",
        "this is an additive float mask (0 / -inf); the course uses bool masks, True = may "
        "attend",
        "return torch.tril(torch.ones(T, T, dtype=torch.bool))",
        (additive,),
    ),
    Mistake(
        "extra_dims",
        "the mask has extra leading dims",
        "return shape (T, T); broadcasting adds batch dims where the mask is used",
        (with_batch_dim, with_two_batch_dims),
    ),
    Mistake(
        "squeezed",
        "for T=1 the mask lost its dims (squeeze)",
        "don't squeeze(): the shape must stay (T, T), also (1, 1) for T=1",
        (squeezed,),
    ),
)


def _bool_dtype_hint(output: str, got: str, want: str) -> str:
    return "return a bool tensor, e.g. torch.tril(torch.ones(T, T, dtype=torch.bool))"


CAUSAL_MASK_CHECK = Check(
    "causal_mask",
    check_function="check_causal_mask",
    forbidden=("torch.nn.Transformer.generate_square_subsequent_mask",),
    outputs=("mask",),
    signature="def causal_mask(T): ... return mask  # bool (T, T)",
    make_cases=causal_cases,
    draw=causal_draw,
    oracle=_lower,
    mistakes=CAUSAL_MASK_MISTAKES,
    flag_hints=(FlagHint(frozenset({"t1"}),
                         "it fails only for T=1: keep the shape (1, 1) (no squeeze, no T-1 "
                         "sizes)"),),
    dtype_hint=_bool_dtype_hint,
)


def check_causal_mask(fn, *, seed: int = 0) -> CheckResult:
    """Check `fn(T) -> bool (T, T)` (True where key j <= query i)."""
    __tracebackhide__ = True
    return CAUSAL_MASK_CHECK.check(fn, seed=seed)
