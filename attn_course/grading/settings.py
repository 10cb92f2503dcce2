"""How submissions are run: timeouts, limits, sandbox mode (kept free of heavy imports)."""

from __future__ import annotations

from dataclasses import dataclass, field

from attn_course.grading.sandbox import Limits
from attn_course.grading.submission import MAX_SUBMISSION_BYTES


@dataclass(frozen=True)
class Settings:
    """How submissions are run. Timeouts in seconds."""

    cell_timeout: float = 60.0
    submission_timeout: float = 600.0
    limits: Limits = field(default_factory=Limits)
    sandbox: str = "auto"  # "auto", "bwrap" or "rlimits"
    gpu: bool = True  # False (--no-gpu): no sandbox sees a GPU, even for a GPU source
    answer_policy: bool = True  # False (--no-answer-policy): answers may use any code
    max_bytes: int = MAX_SUBMISSION_BYTES
    protected: tuple[str, ...] = ()  # paths the sandbox must never expose
