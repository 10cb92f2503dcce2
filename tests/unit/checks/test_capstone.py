"""Notebook 10's checks: their cases and oracles say what the notebook says."""

import torch

from attn_course import reference
from attn_course.checks import (
    ATTEND_WITH_CACHE_CHECK,
    INDUCTION_SCORE_CHECK,
    PRE_LN_BLOCK_CHECK,
    check_attend_with_cache,
)
from attn_course.checks.kv_cache import whole_sequence_oracle
from attn_course.reference.attention import causal_mask
from attn_course.reference.mha import split_heads


def test_the_cache_oracle_is_the_last_row_of_the_whole_sequence():
    torch.manual_seed(0)
    mha = reference.MultiHeadSelfAttention(8, 2).double().eval()
    x = torch.randn(3, 5, 8, dtype=torch.float64)
    with torch.no_grad():
        k, v = split_heads(mha.k_proj(x[:, :4]), 2), split_heads(mha.v_proj(x[:, :4]), 2)
        out, k_all, v_all = whole_sequence_oracle(mha, x[:, 4:], k, v)
        assert torch.allclose(out, mha(x, causal_mask(5))[:, 4:])
    assert k_all.shape == v_all.shape == (3, 2, 5, 4)
    for seed in (0, 7):
        cases = ATTEND_WITH_CACHE_CHECK.cases(seed)
        for case in cases:
            mine = reference.attend_with_cache(**case.inputs)
            theirs = whole_sequence_oracle(**case.inputs)
            assert all(torch.allclose(a, b) for a, b in zip(mine, theirs, strict=True))


def test_the_cases_cover_what_the_notebook_asks_for():
    block_cases = PRE_LN_BLOCK_CHECK.cases(0)
    assert any(c.inputs["block"].mlp is None for c in block_cases)  # attention-only
    assert any(c.inputs["mask"] is None for c in block_cases)
    cache_cases = ATTEND_WITH_CACHE_CHECK.cases(0)
    assert any(c.inputs["k_cache"] is None for c in cache_cases)  # the first position
    for case in INDUCTION_SCORE_CHECK.cases(7):
        w = case.inputs["weights"]
        assert torch.allclose(w.sum(-1), torch.ones_like(w.sum(-1)), atol=1e-5)
        assert torch.all(w.triu(1) == 0)  # causal, as a model's weights are


def test_a_cache_answer_that_keeps_a_stale_cache_is_named():
    """The output is right but the cache is only the new position: the next step would lose
    the past; the verdict says so instead of passing."""
    def stale(mha, x_new, k_cache, v_cache):
        B, _, D = x_new.shape
        H = mha.num_heads
        q, k, v = (p(x_new).view(B, 1, H, D // H).transpose(1, 2)
                   for p in (mha.q_proj, mha.k_proj, mha.v_proj))
        k_all = k if k_cache is None else torch.cat([k_cache, k], dim=2)
        v_all = v if v_cache is None else torch.cat([v_cache, v], dim=2)
        w = torch.softmax(q @ k_all.transpose(-2, -1) / (D // H) ** 0.5, dim=-1)
        return mha.out_proj((w @ v_all).transpose(1, 2).reshape(B, 1, D)), k, v

    try:
        check_attend_with_cache(stale)
    except AssertionError as failure:
        assert "holds only the new position" in str(failure)
    else:
        raise AssertionError("a stale cache passed the check")
