"""Correct implementations used by the checks (as oracles), widgets and experiments.

Importing it switches Triton's interpreter on when there is no CUDA GPU (see flash_triton), before
anything else imports Triton.
"""

from attn_course.reference.attention import (
    causal_mask,
    key_padding_mask,
    padding_mask,
    scaled_dot_product_attention,
    softmax,
)
from attn_course.reference.batched_heads import heads_batched, heads_loop
from attn_course.reference.block import Block, pre_ln_block
from attn_course.reference.cross_attention import cross_attention
from attn_course.reference.flash import flash_attention, flash_attention_lse, online_softmax
from attn_course.reference.flash_triton import triton_available, triton_flash_attention
from attn_course.reference.gpt import TinyGPT
from attn_course.reference.gqa import (
    GroupedQueryAttention,
    grouped_query_attention,
    kv_cache_bytes,
    mask_heads,
)
from attn_course.reference.head_profile import offset_profile
from attn_course.reference.induction import induction_score, previous_token_score
from attn_course.reference.kv_cache import attend_with_cache
from attn_course.reference.mha import (
    MultiHeadSelfAttention,
    copy_to_torch,
    divisors,
    from_torch,
    merge_heads,
    split_heads,
)
from attn_course.reference.positional import sinusoidal_positional_encoding
from attn_course.reference.self_attention import SelfAttention

__all__ = [
    "Block",
    "GroupedQueryAttention",
    "MultiHeadSelfAttention",
    "SelfAttention",
    "TinyGPT",
    "attend_with_cache",
    "causal_mask",
    "copy_to_torch",
    "cross_attention",
    "divisors",
    "flash_attention",
    "flash_attention_lse",
    "from_torch",
    "grouped_query_attention",
    "heads_batched",
    "heads_loop",
    "induction_score",
    "key_padding_mask",
    "kv_cache_bytes",
    "mask_heads",
    "merge_heads",
    "offset_profile",
    "online_softmax",
    "padding_mask",
    "pre_ln_block",
    "previous_token_score",
    "scaled_dot_product_attention",
    "sinusoidal_positional_encoding",
    "softmax",
    "split_heads",
    "triton_available",
    "triton_flash_attention",
]
