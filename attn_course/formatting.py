"""How shapes and dtypes are written in messages, everywhere in the course.

    shape_text((2, 3)) -> "(2, 3)"     shape_text((3,)) -> "(3,)"     shape_text(None) -> "?"
    dtype_text(torch.float32) -> "float32"
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["dtype_text", "shape_text"]


def shape_text(shape: Iterable[int] | None) -> str:
    """A shape as Python writes the tuple: (2, 3), (3,), ()."""
    if shape is None:
        return "?"
    return str(tuple(int(s) for s in shape))


def dtype_text(dtype: Any) -> str:
    """A dtype without its module: torch.float32 and "torch.float32" -> "float32"."""
    return "?" if dtype is None else str(dtype).replace("torch.", "")
