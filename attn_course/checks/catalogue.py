"""Mistakes that recur across exercises, written once.

The attention inside scaled_dot_product_attention, SelfAttention and MultiHeadSelfAttention can
go wrong in the same ways (no scale, the wrong softmax dim, an ignored or inverted mask, a mask
applied after the softmax). Each entry here takes `build`, which turns a buggy attention from
`attention_variants` into this exercise's variant (the function itself for scaled dot-product
attention, a module class whose attention is that function for the others), so every exercise
names the mistake in the same words. `size` names the dim the scores are scaled by there
("d_k", "d_head").
"""

from __future__ import annotations

from collections.abc import Callable

from attn_course.checks import attention_variants as av
from attn_course.checks.mistakes import Mistake, fails_exactly_with

__all__ = [
    "CONTIGUOUS_FIX",
    "as_is",
    "keys_from_query",
    "mask_after_softmax",
    "mask_ignored",
    "mask_inverted",
    "masked_only",
    "merge_order",
    "no_scale",
    "scale_by_dk",
    "softmax_wrong_dim",
    "split_order",
]

Build = Callable[[Callable], Callable]

# What the attention exercises ask students to write rather than call (`Check.forbidden`).
TORCH_MULTI_HEAD = ("torch.nn.MultiheadAttention",
                    "torch.nn.functional.multi_head_attention_forward")
TORCH_ATTENTION = ("torch.nn.functional.scaled_dot_product_attention", *TORCH_MULTI_HEAD)


def as_is(attention: Callable) -> Callable:
    """The build for scaled_dot_product_attention itself: the variant is the exercise."""
    return attention


CONTIGUOUS_FIX = ("each head must own a contiguous slice of features: "
                  "x.view(B, T, H, d).transpose(1, 2)")
MASK_FIX = "scores = scores.masked_fill(~mask, float('-inf'))"


def no_scale(build: Build, size: str, where: str) -> Mistake:
    """The scores are not divided by √size (`where`: how the student gets `size`)."""
    return Mistake(
        "no_scale",
        f"the scores are not scaled by 1/√{size}",
        f"divide the scores by math.sqrt({size}), with {size} = {where}: "
        f"scores = q @ k.transpose(-2, -1) / math.sqrt({size})",
        (build(av.unscaled),),
    )


def scale_by_dk(build: Build) -> Mistake:
    return Mistake(
        "scale_by_dk",
        "the scores are divided by d_k instead of √d_k",
        "divide by math.sqrt(d_k), not by d_k",
        (build(av.scaled_by_d_k),),
    )


def softmax_wrong_dim(build: Build, *variants: Callable) -> Mistake:
    """`variants`: softmaxes over wrong dims (from attention_variants)."""
    return Mistake(
        "softmax_wrong_dim",
        "the softmax runs over the wrong dim",
        "normalise over the keys, the last dim: torch.softmax(scores, dim=-1)",
        tuple(build(v) for v in variants),
    )


def mask_ignored(build: Build) -> Mistake:
    return Mistake(
        "mask_ignored",
        "the mask is ignored",
        f"before the softmax, hide the masked keys: {MASK_FIX}",
        (build(av.mask_ignored),),
    )


def mask_inverted(build: Build) -> Mistake:
    return Mistake(
        "mask_inverted",
        "the mask is inverted: True means 'may attend', so fill where the mask is False",
        MASK_FIX,
        (build(av.mask_inverted), build(av.mask_inverted_fill_1e9)),
    )


def mask_after_softmax(build: Build) -> Mistake:
    return Mistake(
        "mask_after_softmax",
        "the mask is applied after the softmax: rows no longer sum to 1, and the hidden keys "
        "still shape the normalisation",
        "mask the scores before the softmax: scores.masked_fill(~mask, float('-inf')), then "
        "torch.softmax(scores, dim=-1)",
        (build(av.mask_after_softmax),),
    )


def masked_only(mask_shape: str, detect: Callable[..., bool] | None = None) -> Mistake:
    """Exactly the masked cases fail (`detect` may refine when that counts)."""
    return Mistake(
        "masked_only",
        "it fails only when a mask is given",
        f"the mask is bool, broadcastable to {mask_shape}, True = may attend: "
        "scores.masked_fill(~mask, float('-inf')) before the softmax",
        detect=detect or fails_exactly_with("masked"),
    )


def keys_from_query(variant: Callable) -> Mistake:
    """`variant`: a module whose keys come from q_proj."""
    return Mistake(
        "keys_from_query",
        "the keys come from the query projection",
        "k = self.k_proj(x): keys have their own projection",
        (variant,),
    )


def split_order(*variants: Callable) -> Mistake:
    """`variants`: code that splits heads with view(B, T, d, H)."""
    return Mistake(
        "split_order",
        "the split puts the head index last (view(B, T, d, H)): head i gets every H-th "
        "feature instead of a contiguous slice",
        f"view as (B, T, H, d), heads before features: {CONTIGUOUS_FIX}",
        variants,
    )


def merge_order(*variants: Callable) -> Mistake:
    """`variants`: code that merges heads as (d, H) instead of (H, d)."""
    return Mistake(
        "merge_order",
        "the heads are merged in the wrong order: features come out as (d, H) instead of "
        "(H, d), so head i's outputs do not land in features i*d:(i+1)*d",
        "merge with x.transpose(1, 2).reshape(B, T, H * d)",
        variants,
    )
