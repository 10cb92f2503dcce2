"""Student-facing checks: each runs your function on many cases and names the mistake.

    from attn_course.checks import check_softmax, check_scaled_dot_product_attention
    check_scaled_dot_product_attention(scaled_dot_product_attention)

On success a check returns a `CheckResult` (a green card in Jupyter); on failure it raises
`CheckFailed` (an AssertionError) whose message says what is wrong and what to change.
"""

from attn_course.checks.attention import (
    CAUSAL_MASK_CHECK,
    SDPA_CHECK,
    check_causal_mask,
    check_scaled_dot_product_attention,
)
from attn_course.checks.core import (
    Case,
    Check,
    CheckFailed,
    CheckResult,
    Diagnosis,
    Mistake,
    Record,
    Verdict,
)
from attn_course.checks.heads import (
    MERGE_HEADS_CHECK,
    MHA_CHECK,
    SPLIT_HEADS_CHECK,
    check_merge_heads,
    check_multi_head_self_attention,
    check_split_heads,
)
from attn_course.checks.self_attention import (
    POSITIONAL_ENCODING_CHECK,
    SELF_ATTENTION_CHECK,
    check_positional_encoding,
    check_self_attention,
)
from attn_course.checks.softmax import SOFTMAX_CHECK, check_softmax

# Every check by exercise name, for graders that run and judge in separate processes.
CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        SOFTMAX_CHECK,
        SDPA_CHECK,
        CAUSAL_MASK_CHECK,
        SELF_ATTENTION_CHECK,
        POSITIONAL_ENCODING_CHECK,
        SPLIT_HEADS_CHECK,
        MERGE_HEADS_CHECK,
        MHA_CHECK,
    )
}

__all__ = [
    "CHECKS",
    "CAUSAL_MASK_CHECK",
    "MERGE_HEADS_CHECK",
    "MHA_CHECK",
    "POSITIONAL_ENCODING_CHECK",
    "SDPA_CHECK",
    "SELF_ATTENTION_CHECK",
    "SOFTMAX_CHECK",
    "SPLIT_HEADS_CHECK",
    "Case",
    "Check",
    "CheckFailed",
    "CheckResult",
    "Diagnosis",
    "Mistake",
    "Record",
    "Verdict",
    "check_causal_mask",
    "check_merge_heads",
    "check_multi_head_self_attention",
    "check_positional_encoding",
    "check_scaled_dot_product_attention",
    "check_self_attention",
    "check_softmax",
    "check_split_heads",
]
