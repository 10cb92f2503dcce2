"""The tiny GPT's parts: the pre-LN block, the K/V cache step, generation, head ablation and
the induction and previous-token scores."""

import pytest
import torch

from attn_course.reference import (
    Block,
    MultiHeadSelfAttention,
    TinyGPT,
    attend_with_cache,
    causal_mask,
    induction_score,
    pre_ln_block,
    previous_token_score,
)
from attn_course.reference.gpt import generate, heads_ablated, logits_with_cache


@pytest.fixture
def model():
    torch.manual_seed(0)
    return TinyGPT(11, context=16, d_model=16, num_heads=4, num_layers=2).eval()


def test_pre_ln_block_adds_each_sublayer_to_the_stream():
    torch.manual_seed(0)
    block = Block(8, 2).eval()
    x = torch.randn(2, 5, 8)
    after_attention = x + block.attn(block.ln1(x), causal_mask(5))
    expected = after_attention + block.mlp(block.ln2(after_attention))
    assert torch.allclose(block(x, causal_mask(5)), expected)
    assert torch.allclose(pre_ln_block(block, x, causal_mask(5)), expected)


def test_an_attention_only_block_has_no_mlp_and_runs_a_given_forward():
    block = Block(8, 2, mlp=False)
    assert block.mlp is None and block.ln2 is None
    calls = []
    block.forward_fn = lambda b, x, mask: calls.append(mask) or x
    x = torch.randn(1, 3, 8)
    assert block(x) is x and calls == [None]


def test_the_cache_step_equals_the_last_row_of_the_whole_sequence():
    torch.manual_seed(0)
    mha = MultiHeadSelfAttention(12, 3).double().eval()
    x = torch.randn(2, 6, 12, dtype=torch.float64)
    full = mha(x, causal_mask(6))
    k = v = None
    for t in range(6):
        out, k, v = attend_with_cache(mha, x[:, t:t + 1], k, v)
        assert torch.allclose(out, full[:, t:t + 1])
    assert k.shape == v.shape == (2, 3, 6, 4)


def test_cached_logits_and_generation_match_the_uncached_model(model):
    idx = torch.randint(11, (2, 16))
    assert torch.allclose(logits_with_cache(model, idx), model(idx), atol=1e-5)
    prompt = idx[:, :3]
    plain = generate(model, prompt, 10, generator=torch.Generator().manual_seed(1))
    cached = generate(model, prompt, 10, step=attend_with_cache,
                      generator=torch.Generator().manual_seed(1))
    assert torch.equal(plain, cached) and plain.shape == (2, 13)


def test_generation_limits(model):
    prompt = torch.zeros(1, 10, dtype=torch.long)
    assert generate(model, prompt, 20).shape == (1, 30)  # uncached: crops to the context
    with pytest.raises(ValueError, match="fit the context"):
        generate(model, prompt, 20, step=attend_with_cache)
    with pytest.raises(ValueError, match="crop the input"):
        model(torch.zeros(1, 17, dtype=torch.long))
    top1 = generate(model, prompt[:, :2], 3, top_k=1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(top1[:, 2:], generate(model, prompt[:, :2], 3, temperature=1e-4)[:, 2:])


def test_heads_ablated_zeroes_only_the_chosen_heads_and_restores(model):
    idx = torch.randint(11, (1, 8))
    before = model(idx)
    merged = []
    with heads_ablated(model, [(1, 2)]):  # a hook registered after the ablation's sees its input
        hook = model.blocks[1].attn.out_proj.register_forward_pre_hook(
            lambda m, args: merged.append(args[0].clone()))
        changed = model(idx)
        hook.remove()
    d = 16 // 4
    assert torch.all(merged[0][..., 2 * d:3 * d] == 0) and merged[0][..., :2 * d].abs().sum() > 0
    assert not torch.allclose(changed, before)
    assert torch.equal(model(idx), before)
    with pytest.raises(ValueError, match="not in a model"):
        with heads_ablated(model, [(2, 0)]):
            pass


def test_attention_maps_are_causal_distributions(model):
    maps = model.attention_maps(torch.randint(11, (2, 7)))
    assert len(maps) == 2 and maps[0].shape == (2, 4, 7, 7)
    assert torch.allclose(maps[1].sum(-1), torch.ones(2, 4, 7))
    assert torch.all(maps[0].triu(1) == 0)


def test_scores_of_ideal_heads():
    T, period = 10, 4
    ideal = torch.zeros(1, 2, T, T)
    for t in range(T):
        ideal[0, 0, t, max(t - 1, 0)] = 1  # a previous-token head
        ideal[0, 1, t, t - period + 1 if t >= period else 0] = 1  # an induction head
    assert induction_score(ideal, period).tolist() == [0.0, 1.0]
    assert previous_token_score(ideal)[0] == 1.0 and previous_token_score(ideal)[1] < 0.5
