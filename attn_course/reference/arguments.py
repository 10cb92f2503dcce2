"""Argument checks shared by the reference implementations.

    positive_int("d_model", 0)   -> ValueError: d_model must be a positive int, got 0.
"""

from __future__ import annotations

from typing import Any


def positive_int(name: str, value: Any, meaning: str = "") -> int:
    """`value` when it is an int >= 1 (a bool is not), else a ValueError naming the argument.

    `meaning` goes in brackets after the type: positive_int("T", 0, "sequence length") says
    "T must be a positive int (sequence length), got 0."
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        about = f" ({meaning})" if meaning else ""
        raise ValueError(f"{name} must be a positive int{about}, got {value!r}.")
    return value
