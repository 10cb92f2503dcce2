"""Seeded draws: the cases a seed other than the public one adds to a check.

    check_softmax(softmax)            the public cases, the same for everybody (seed 0)
    check_softmax(softmax, seed=7)    the same cases with seed 7's random values, plus a few
                                      cases drawn from seed 7: other sizes, both dtypes, and
                                      the accelerator (CUDA) when the caller names one

Each exercise module gives its `Check` a `draw(seed, *, start, device, **options)` that builds
those cases with the module's own case builder; the sizes come from ranges the public cases do
not reach, so an answer shaped around the public cases fails the hidden test.
`Check.cases` adds them; `Check.check` (in the student's kernel) draws one of them on CUDA
when there is a GPU. The grader draws on the CPU, in the kernel and in its own process alike,
so both sides build the same cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["PUBLIC_SEED", "accelerator", "generator", "integer", "on", "pick", "placements"]

PUBLIC_SEED = 0  # the seed of the public test cells: no drawn cases


def generator(seed: int) -> torch.Generator:
    """A generator for the draws of `seed`, apart from the one the public cases use."""
    return torch.Generator().manual_seed(1_000_003 * seed + 99_991)


def integer(g: torch.Generator, low: int, high: int) -> int:
    """A uniform integer in [low, high]."""
    return int(torch.randint(low, high + 1, (1,), generator=g))


def pick(g: torch.Generator, options: Sequence[Any]) -> Any:
    """One of `options`, uniformly."""
    return options[integer(g, 0, len(options) - 1)]


def accelerator() -> str | None:
    """"cuda" when this process sees a CUDA GPU, else None (the draws stay on the CPU)."""
    return "cuda" if torch.cuda.is_available() else None


def placements(device: str | torch.device) -> tuple[tuple[torch.dtype, str | torch.device], ...]:
    """The (dtype, device) of a seed's three drawn cases: float64 and float32 on the CPU, and
    float64 on `device` (the accelerator the caller names, or the CPU again)."""
    return ((torch.float64, "cpu"), (torch.float32, "cpu"), (torch.float64, device))


def on(where: str | torch.device) -> str:
    """The end of a drawn case's name: " on cuda" off the CPU, nothing on it."""
    return f" on {where}" if str(where) != "cpu" else ""
