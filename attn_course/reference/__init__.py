"""Correct implementations used by the checks (as oracles), widgets and experiments."""

from attn_course.reference.attention import (
    causal_mask,
    key_padding_mask,
    padding_mask,
    scaled_dot_product_attention,
    softmax,
)

__all__ = [
    "causal_mask",
    "key_padding_mask",
    "padding_mask",
    "scaled_dot_product_attention",
    "softmax",
]
from attn_course.reference.mha import *  # noqa: E402, F403  (names in mha.__all__)
