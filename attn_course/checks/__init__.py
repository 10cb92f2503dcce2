"""Student-facing checks: each runs your function on many cases and names the mistake.

    from attn_course.checks import check_softmax, check_scaled_dot_product_attention
    check_scaled_dot_product_attention(scaled_dot_product_attention)

On success a check returns a `CheckResult` (a green card in Jupyter); on failure it raises
`CheckFailed` (an AssertionError) whose message says what is wrong and what to change.

The machinery, one step a module: `records` (cases and records), `run`, `judge`, `diagnose`,
`messages`, tied together by `check.Check`; `mistakes` and `catalogue` hold the known mistakes;
`draw` the cases a seed other than 0 adds (a hidden test's `seed=7`: other sizes, both dtypes).
One module per exercise topic defines its cases, oracle and mistakes. `CHECKS` maps the name
after `check_` in every public check function to its `Check`.
"""

from attn_course import kernel_hints as _kernel_hints
from attn_course.checks.attention import (
    SCALED_DOT_PRODUCT_ATTENTION_CHECK,
    check_scaled_dot_product_attention,
)
from attn_course.checks.batched_heads import BATCHED_HEADS_CHECK, check_batched_heads
from attn_course.checks.block import PRE_LN_BLOCK_CHECK, check_pre_ln_block
from attn_course.checks.check import Check
from attn_course.checks.cross_attention import CROSS_ATTENTION_CHECK, check_cross_attention
from attn_course.checks.flash import (
    FLASH_ATTENTION_CHECK,
    ONLINE_SOFTMAX_CHECK,
    check_flash_attention,
    check_online_softmax,
)
from attn_course.checks.flash_kernel import FLASH_KERNEL_CHECK, check_flash_kernel
from attn_course.checks.gqa import GROUPED_QUERY_ATTENTION_CHECK, check_grouped_query_attention
from attn_course.checks.head_mask import MASK_HEADS_CHECK, check_mask_heads
from attn_course.checks.head_parallel import (
    HEAD_PARALLEL_ATTENTION_CHECK,
    check_head_parallel_attention,
)
from attn_course.checks.head_profile import OFFSET_PROFILE_CHECK, check_offset_profile
from attn_course.checks.heads import (
    MERGE_HEADS_CHECK,
    SPLIT_HEADS_CHECK,
    check_merge_heads,
    check_split_heads,
)
from attn_course.checks.induction import INDUCTION_SCORE_CHECK, check_induction_score
from attn_course.checks.kv_cache import ATTEND_WITH_CACHE_CHECK, check_attend_with_cache
from attn_course.checks.masks import CAUSAL_MASK_CHECK, check_causal_mask
from attn_course.checks.mha import MULTI_HEAD_SELF_ATTENTION_CHECK, check_multi_head_self_attention
from attn_course.checks.mistakes import Mistake
from attn_course.checks.positional import POSITIONAL_ENCODING_CHECK, check_positional_encoding
from attn_course.checks.records import Case, Record
from attn_course.checks.results import (
    CheckFailed,
    CheckResult,
    CheckSkipped,
    Diagnosis,
    Verdict,
)
from attn_course.checks.self_attention import SELF_ATTENTION_CHECK, check_self_attention
from attn_course.checks.softmax import SOFTMAX_CHECK, check_softmax

# Every check by the name students call it with, minus `check_`: CHECKS["softmax"] is the check
# behind check_softmax. Graders that run and judge in separate processes look checks up here.
CHECKS: dict[str, Check] = {
    c.registry_name: c
    for c in (
        SOFTMAX_CHECK,
        SCALED_DOT_PRODUCT_ATTENTION_CHECK,
        CAUSAL_MASK_CHECK,
        SELF_ATTENTION_CHECK,
        POSITIONAL_ENCODING_CHECK,
        SPLIT_HEADS_CHECK,
        MERGE_HEADS_CHECK,
        MULTI_HEAD_SELF_ATTENTION_CHECK,
        CROSS_ATTENTION_CHECK,
        OFFSET_PROFILE_CHECK,
        ONLINE_SOFTMAX_CHECK,
        FLASH_ATTENTION_CHECK,
        FLASH_KERNEL_CHECK,
        BATCHED_HEADS_CHECK,
        GROUPED_QUERY_ATTENTION_CHECK,
        MASK_HEADS_CHECK,
        HEAD_PARALLEL_ATTENTION_CHECK,
        PRE_LN_BLOCK_CHECK,
        ATTEND_WITH_CACHE_CHECK,
        INDUCTION_SCORE_CHECK,
    )
}

__all__ = [
    "ATTEND_WITH_CACHE_CHECK",
    "BATCHED_HEADS_CHECK",
    "CHECKS",
    "CAUSAL_MASK_CHECK",
    "CROSS_ATTENTION_CHECK",
    "FLASH_ATTENTION_CHECK",
    "FLASH_KERNEL_CHECK",
    "GROUPED_QUERY_ATTENTION_CHECK",
    "HEAD_PARALLEL_ATTENTION_CHECK",
    "INDUCTION_SCORE_CHECK",
    "MASK_HEADS_CHECK",
    "MERGE_HEADS_CHECK",
    "MULTI_HEAD_SELF_ATTENTION_CHECK",
    "OFFSET_PROFILE_CHECK",
    "ONLINE_SOFTMAX_CHECK",
    "POSITIONAL_ENCODING_CHECK",
    "PRE_LN_BLOCK_CHECK",
    "SCALED_DOT_PRODUCT_ATTENTION_CHECK",
    "SELF_ATTENTION_CHECK",
    "SOFTMAX_CHECK",
    "SPLIT_HEADS_CHECK",
    "Case",
    "Check",
    "CheckFailed",
    "CheckResult",
    "CheckSkipped",
    "Diagnosis",
    "Mistake",
    "Record",
    "Verdict",
    "check_attend_with_cache",
    "check_batched_heads",
    "check_causal_mask",
    "check_cross_attention",
    "check_flash_attention",
    "check_flash_kernel",
    "check_grouped_query_attention",
    "check_head_parallel_attention",
    "check_induction_score",
    "check_mask_heads",
    "check_merge_heads",
    "check_multi_head_self_attention",
    "check_offset_profile",
    "check_online_softmax",
    "check_positional_encoding",
    "check_pre_ln_block",
    "check_scaled_dot_product_attention",
    "check_self_attention",
    "check_softmax",
    "check_split_heads",
]

# In a notebook kernel: a check cell run before the cells above it says to run them.
_kernel_hints.install()
