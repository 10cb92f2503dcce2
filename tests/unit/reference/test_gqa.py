"""Grouped-query attention, the head mask and the K/V cache against PyTorch's own pieces."""

import pytest
import torch
import torch.nn.functional as F

from attn_course.reference import GroupedQueryAttention, MultiHeadSelfAttention, causal_mask
from attn_course.reference.gqa import grouped_query_attention, kv_cache_bytes, mask_heads
from attn_course.reference.mha import merge_heads


@pytest.mark.parametrize(("H", "G"), [(8, 8), (8, 4), (8, 2), (6, 3), (4, 1)])
@pytest.mark.parametrize("causal", [False, True])
def test_grouped_query_attention_is_torchs_enable_gqa(H, G, causal):
    g = torch.Generator().manual_seed(H * 10 + G)
    q = torch.randn(2, H, 7, 4, generator=g, dtype=torch.float64)
    k, v = (torch.randn(2, G, 7, 4, generator=g, dtype=torch.float64) for _ in range(2))
    want = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
    torch.testing.assert_close(grouped_query_attention(q, k, v, causal), want)


def test_kv_heads_that_do_not_divide_the_query_heads_are_refused():
    with pytest.raises(ValueError, match="must divide"):
        grouped_query_attention(torch.randn(1, 6, 3, 2), torch.randn(1, 4, 3, 2),
                                torch.randn(1, 4, 3, 2))
    with pytest.raises(ValueError, match=r"pick kv_heads among \[1, 2, 3, 6\]"):
        GroupedQueryAttention(12, 6, 4)


def test_mask_heads_scales_each_head_before_the_projection():
    g = torch.Generator().manual_seed(0)
    heads = torch.randn(2, 3, 4, 5, generator=g)
    w_o, b_o = torch.randn(6, 15, generator=g), torch.randn(6, generator=g)
    ones = mask_heads(heads, torch.ones(3), w_o, b_o)
    torch.testing.assert_close(ones, merge_heads(heads) @ w_o.T + b_o)
    only_head_1 = mask_heads(heads, torch.tensor([0.0, 1.0, 0.0]), w_o, b_o)
    torch.testing.assert_close(only_head_1, heads[:, 1] @ w_o[:, 5:10].T + b_o)


def test_with_as_many_kv_heads_as_query_heads_it_is_multi_head_attention():
    torch.manual_seed(0)
    gqa = GroupedQueryAttention(16, 4)
    mha = MultiHeadSelfAttention(16, 4)
    mha.load_state_dict(gqa.state_dict())
    x = torch.randn(2, 5, 16)
    out, weights = gqa(x, return_weights=True)
    want, want_weights = mha(x, mask=causal_mask(5), return_weights=True)
    torch.testing.assert_close(out, want)
    torch.testing.assert_close(weights, want_weights)


def test_the_cache_holds_g_heads_and_its_bytes_follow_the_formula():
    x = torch.randn(3, 24, 32)
    for G in (8, 4, 2, 1):
        layer = GroupedQueryAttention(32, 8, G)
        cache = layer.kv_cache(x)
        assert cache["k"].shape == cache["v"].shape == (3, G, 24, 4)
        measured = sum(t.nbytes for t in cache.values()) // 3  # per sequence
        assert measured == kv_cache_bytes(1, G, 4, 24, bytes_per_value=4)
    assert kv_cache_bytes(80, 8, 128, 4096) == 2 * 80 * 8 * 128 * 4096 * 2


def test_a_head_mask_of_zeros_leaves_only_the_bias_and_has_a_gradient():
    layer = GroupedQueryAttention(16, 4, 2)
    x = torch.randn(2, 5, 16)
    torch.testing.assert_close(layer(x, head_mask=torch.zeros(4)),
                               layer.out_proj.bias.expand(2, 5, 16))
    xi = torch.ones(4, requires_grad=True)
    layer(x, head_mask=xi).pow(2).sum().backward()
    assert xi.grad is not None and xi.grad.abs().min() > 0


def test_forward_gates_the_heads_through_the_mask_function_it_is_given():
    torch.manual_seed(0)
    attn = GroupedQueryAttention(8, 4, 2)
    x = torch.randn(2, 5, 8)
    seen = []

    def gate(heads, xi, w_o, b_o):
        seen.append(xi)
        return torch.zeros(heads.shape[0], heads.shape[2], w_o.shape[0])

    xi = torch.tensor([1.0, 0.0, 1.0, 1.0])
    assert torch.equal(attn(x, head_mask=xi, mask_fn=gate), torch.zeros(2, 5, 8))
    assert seen[0] is xi
    assert not torch.equal(attn(x, head_mask=xi), torch.zeros(2, 5, 8))
