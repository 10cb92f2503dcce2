"""attn-course: a tested, interactive course on multi-head self-attention."""

__version__ = "0.1.0"
