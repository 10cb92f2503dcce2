"""The one validation of what `viz` draws: maps given as tensors or arrays, and their labels.

    as_array(pe, "pe")                   -> float64 ndarray, from a tensor (any device) or array
    as_maps(weights, "weights", ndim=3)  -> (H, T_q, T_k) ndarray; leading size-1 dims dropped
    check_labels(tokens, 6, "queries")   -> the 6 labels as strings, or None
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from attn_course.formatting import shape_text

_SHAPE_ERRORS = {
    2: "{name} must be one 2-D map (T_q, T_k), got shape {shape}. Pick one map first, e.g. "
    "{name}[0] for the first batch element or {name}[0, h] for head h.",
    3: "{name} must be one map per head (H, T_q, T_k) or (1, H, T_q, T_k), got shape {shape}. "
    "Pick one batch element first, e.g. {name}[0]; draw a single map with attention_heatmap.",
}


def as_array(values: Any, name: str) -> np.ndarray:
    """A float64 array of `values`: a tensor on any device, with or without grad, or an array."""
    if hasattr(values, "detach"):  # torch.Tensor
        values = values.detach().to("cpu").double().numpy()
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"{name} must be a tensor or array of numbers, got {type(values).__name__}."
        ) from e


def as_maps(values: Any, name: str, ndim: int) -> np.ndarray:
    """`values` as one map (T_q, T_k) for ndim=2, or one map per head (H, T_q, T_k) for ndim=3.

    Leading size-1 dims are dropped, so a batch of one, (1, H, T_q, T_k), needs no indexing.
    """
    arr = as_array(values, name)
    while arr.ndim > ndim and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != ndim:
        raise ValueError(_SHAPE_ERRORS[ndim].format(name=name, shape=shape_text(arr.shape)))
    return arr


def check_labels(
    labels: Sequence[Any] | None, size: int, what: str, kind: str = "label"
) -> list[str] | None:
    """`labels` as strings, one for each of `size` items; None stays None.

    `what` names the items, plural: "queries", "keys", "rows", "columns", "heads"; `kind` names
    a label, singular: "label", "head title".
    """
    if labels is None:
        return None
    labels = [str(label) for label in labels]
    if len(labels) != size:
        raise ValueError(
            f"got {len(labels)} {kind}s for {size} {what}: pass one {kind} for each of the "
            f"{size} {what} (or None to number them)."
        )
    return labels
