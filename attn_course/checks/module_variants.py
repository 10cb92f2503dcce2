"""The reference attention modules as replaceable steps: a known mistake replaces one step.

    SelfAttentionSteps       project -> attend
    MultiHeadSteps           project -> split -> attend -> merge -> finish (and weights)
    variant(base, **steps)   a copy of `base` with some steps replaced

`attend` is an attention from `attention_variants` (q, k, v, mask) -> (out, weights), so the
mistakes every attention can make are the same functions in every exercise (`catalogue`).
Variants keep the reference's class name, as the student's class has it.
"""

from __future__ import annotations

import math

from attn_course.checks import attention_variants as av
from attn_course.reference.mha import MultiHeadSelfAttention
from attn_course.reference.self_attention import SelfAttention

__all__ = ["MultiHeadSteps", "SelfAttentionSteps", "TimeFirst", "scaled_by_d_model", "variant"]

_STATIC = ("attend", "split", "merge")  # plain functions, not methods


def variant(base: type, **steps) -> type:
    """A subclass of `base` (a *Steps class) with `steps` replaced, named like the reference."""
    body = {k: staticmethod(v) if k in _STATIC else v for k, v in steps.items()}
    return type(base.__mro__[1].__name__, (base,), body)


class SelfAttentionSteps(SelfAttention):
    """SelfAttention.forward as steps."""

    attend = staticmethod(av.attention)

    def project(self, x):  # q, k (B, T, d_k), v (B, T, d_v)
        return self.q_proj(x), self.k_proj(x), self.v_proj(x)

    def forward(self, x, mask=None):
        q, k, v = self.project(x)
        return self.attend(q, k, v, mask)  # (B, T, d_v), (B, T, T)


def _split(t, num_heads):  # (B, T, D) -> (B, H, T, d)
    B, T, D = t.shape
    return t.reshape(B, T, num_heads, D // num_heads).transpose(1, 2)


def _merge(y):  # (B, H, T, d) -> (B, T, H * d)
    B, H, T, d = y.shape
    return y.transpose(1, 2).reshape(B, T, H * d)


class MultiHeadSteps(MultiHeadSelfAttention):
    """MultiHeadSelfAttention.forward as steps."""

    split = staticmethod(_split)
    attend = staticmethod(av.attention)
    merge = staticmethod(_merge)

    def heads(self):
        return self.num_heads

    def project(self, x):  # (B, T, D) each
        return self.q_proj(x), self.k_proj(x), self.v_proj(x)

    def finish(self, y):  # (B, T, D) -> (B, T, D)
        return self.out_proj(y)

    def weights(self, w):  # (B, H, T, T) as returned
        return w

    def forward(self, x, mask=None, return_weights=False):
        H = self.heads()
        q, k, v = (self.split(t, H) for t in self.project(x))  # (B, H, T, d) each
        y, w = self.attend(q, k, v, mask)  # (B, H, T, d), (B, H, T, T)
        out = self.finish(self.merge(y))  # (B, T, D)
        return (out, self.weights(w)) if return_weights else out


def scaled_by_d_model(q, k, v, mask=None):
    """Per-head attention scaled by 1/√d_model: q (B, H, T, d), so d_model = H * d."""
    return av.from_scores(av.raw_scores(q, k) / math.sqrt(q.shape[1] * q.shape[-1]), v, mask)


class TimeFirst(MultiHeadSteps):
    """x read as (T, B, d_model): the transposes around the reference."""

    def forward(self, x, mask=None, return_weights=False):
        result = super().forward(x.transpose(0, 1), mask, return_weights)
        if return_weights:
            return result[0].transpose(0, 1), result[1]
        return result.transpose(0, 1)


TimeFirst.__name__ = TimeFirst.__qualname__ = "MultiHeadSelfAttention"
