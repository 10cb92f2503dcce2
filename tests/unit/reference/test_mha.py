"""The reference multi-head self-attention against torch.nn.MultiheadAttention."""

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from attn_course.reference.attention import causal_mask
from attn_course.reference.mha import (
    MultiHeadSelfAttention,
    copy_to_torch,
    divisors,
    from_torch,
    merge_heads,
    split_heads,
)

PAIRS = [(8, 1), (8, 2), (12, 3), (16, 4), (32, 8), (24, 24)]


def _mask(kind: str, B: int, T: int, gen: torch.Generator) -> torch.Tensor | None:
    if kind == "none":
        return None
    if kind == "causal":
        return causal_mask(T)
    # random (B, 1, T, T) mask; the diagonal stays allowed so no query row is empty
    m = torch.rand(B, 1, T, T, generator=gen) > 0.5
    return m | torch.eye(T, dtype=torch.bool)


@pytest.mark.parametrize("d_model,num_heads", PAIRS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("mask_kind", ["none", "causal", "random"])
def test_matches_torch_multihead_attention(d_model, num_heads, bias, mask_kind):
    gen = torch.Generator().manual_seed(d_model * 100 + num_heads)
    torch.manual_seed(d_model + num_heads)
    B, T = 3, 7
    mha = MultiHeadSelfAttention(d_model, num_heads, bias=bias).double()
    ref = copy_to_torch(mha)
    assert ref.batch_first
    x = torch.randn(B, T, d_model, generator=gen, dtype=torch.float64)
    mask = _mask(mask_kind, B, T, gen)
    torch_mask = None
    if mask is not None:  # torch: True = NOT allowed, 3-D masks are (B * H, T, T)
        torch_mask = ~mask.expand(B, num_heads, T, T).reshape(B * num_heads, T, T)

    out, weights = mha(x, mask=mask, return_weights=True)
    ref_out, ref_weights = ref(
        x, x, x, attn_mask=torch_mask, need_weights=True, average_attn_weights=False
    )
    assert out.shape == (B, T, d_model)
    assert weights.shape == (B, num_heads, T, T)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(weights, ref_weights)
    # the fast path (no weights) gives the same output
    torch.testing.assert_close(mha(x, mask=mask), ref_out)


def test_fast_path_matches_torch_fast_path_in_eval_no_grad():
    torch.manual_seed(0)
    mha = MultiHeadSelfAttention(48, 6).eval()
    ref = copy_to_torch(mha).eval()
    x = torch.randn(2, 33, 48)
    with torch.no_grad():
        torch.testing.assert_close(mha(x), ref(x, x, x, need_weights=False)[0])
        mask = causal_mask(33)
        torch.testing.assert_close(
            mha(x, mask=mask), ref(x, x, x, attn_mask=~mask, need_weights=False)[0]
        )


def test_gradients_match_torch():
    torch.manual_seed(1)
    mha = MultiHeadSelfAttention(16, 4).double()
    ref = copy_to_torch(mha)
    x1 = torch.randn(2, 5, 16, dtype=torch.float64, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    mask = causal_mask(5)
    mha(x1, mask=mask).square().sum().backward()
    ref(x2, x2, x2, attn_mask=~mask, need_weights=False)[0].square().sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    torch.testing.assert_close(
        torch.cat([mha.q_proj.weight.grad, mha.k_proj.weight.grad, mha.v_proj.weight.grad]),
        ref.in_proj_weight.grad,
    )


def test_weights_rows_sum_to_one_and_respect_causal_mask():
    torch.manual_seed(2)
    mha = MultiHeadSelfAttention(16, 2)
    _, w = mha(torch.randn(2, 6, 16), mask=causal_mask(6), return_weights=True)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 2, 6))
    assert (w.triu(diagonal=1) == 0).all()


def test_causal_output_ignores_future_tokens():
    torch.manual_seed(3)
    mha = MultiHeadSelfAttention(16, 4)
    x = torch.randn(1, 8, 16)
    y = x.clone()
    y[:, 5:] = torch.randn(1, 3, 16)
    mask = causal_mask(8)
    torch.testing.assert_close(mha(x, mask=mask)[:, :5], mha(y, mask=mask)[:, :5])
    assert not torch.allclose(mha(x)[:, :5], mha(y)[:, :5])


def test_from_torch_round_trip():
    torch.manual_seed(4)
    for bias in (True, False):
        ref = nn.MultiheadAttention(20, 5, bias=bias, batch_first=True)
        mha = from_torch(ref)
        assert (mha.q_proj.bias is None) == (not bias)
        x = torch.randn(2, 4, 20)
        torch.testing.assert_close(mha(x), ref(x, x, x, need_weights=False)[0])
        back = copy_to_torch(mha)
        torch.testing.assert_close(back.in_proj_weight, ref.in_proj_weight)


def test_from_torch_rejects_cross_attention_layouts():
    with pytest.raises(ValueError, match="plain self-attention"):
        from_torch(nn.MultiheadAttention(8, 2, kdim=4, vdim=4))
    with pytest.raises(ValueError, match="plain self-attention"):
        from_torch(nn.MultiheadAttention(8, 2, add_bias_kv=True))
    with pytest.raises(TypeError, match="nn.MultiheadAttention"):
        from_torch(nn.Linear(8, 8))


def test_split_heads_feature_ownership_and_merge_inverse():
    x = torch.arange(2 * 3 * 12, dtype=torch.float32).view(2, 3, 12)
    s = split_heads(x, 4)
    assert s.shape == (2, 4, 3, 3)
    for i in range(4):
        torch.testing.assert_close(s[:, i], x[..., i * 3 : (i + 1) * 3])
    torch.testing.assert_close(merge_heads(s), x)
    y = torch.randn(2, 4, 5, 6)
    torch.testing.assert_close(split_heads(merge_heads(y), 4), y)


def test_split_and_merge_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"divisible by num_heads=5.*\[1, 2, 3, 4, 6, 12\]"):
        split_heads(torch.zeros(1, 2, 12), 5)
    with pytest.raises(ValueError, match=r"\(B, T, D\), got \(2, 12\)"):
        split_heads(torch.zeros(2, 12), 2)
    with pytest.raises(ValueError, match=r"\(B, H, T, d\), got \(2, 3, 4\)"):
        merge_heads(torch.zeros(2, 3, 4))


def test_divisors():
    assert divisors(12) == [1, 2, 3, 4, 6, 12]
    assert divisors(64) == [1, 2, 4, 8, 16, 32, 64]


@pytest.mark.parametrize(
    "d_model,num_heads,match",
    [
        (10, 3, r"d_model=10 is not divisible by num_heads=3.*\[1, 2, 5, 10\]"),
        (8, 0, "num_heads must be a positive int"),
        (8, 2.0, "num_heads must be a positive int"),
        (-4, 2, "d_model must be a positive int"),
    ],
)
def test_constructor_errors(d_model, num_heads, match):
    with pytest.raises(ValueError, match=match):
        MultiHeadSelfAttention(d_model, num_heads)


def test_forward_input_errors():
    mha = MultiHeadSelfAttention(8, 2)
    with pytest.raises(ValueError, match=r"\(B, T, d_model=8\), got \(5, 8\).*unsqueeze"):
        mha(torch.zeros(5, 8))
    with pytest.raises(ValueError, match=r"got \(1, 5, 6\)"):
        mha(torch.zeros(1, 5, 6))
    with pytest.raises(TypeError, match="torch.Tensor"):
        mha([[0.0] * 8])
    with pytest.raises(TypeError, match="float64.*float32"):
        mha(torch.zeros(1, 5, 8, dtype=torch.float64))


def test_forward_mask_errors():
    mha = MultiHeadSelfAttention(8, 2)
    x = torch.zeros(2, 5, 8)
    with pytest.raises(TypeError, match="bool tensor.*torch.float32"):
        mha(x, mask=causal_mask(5).float())
    with pytest.raises(ValueError, match=r"\(4, 4\) does not broadcast to .*\(2, 2, 5, 5\)"):
        mha(x, mask=causal_mask(4))
    for bad in [(3, 5, 5), (2, 3, 5, 5), (1, 1, 1, 5, 5), (5, 1, 5)]:
        with pytest.raises(ValueError, match="does not broadcast"):
            mha(x, mask=torch.ones(bad, dtype=torch.bool))
    for good in [(5, 5), (1, 5), (2, 1, 5, 5), (2, 2, 5, 5), (2, 1, 1, 5)]:
        assert mha(x, mask=torch.ones(good, dtype=torch.bool)).shape == (2, 5, 8)


def test_query_with_no_allowed_key_gets_zero_weights_on_both_paths():
    torch.manual_seed(6)
    mha = MultiHeadSelfAttention(8, 2)
    x = torch.randn(2, 5, 8)
    mask = causal_mask(5).clone()
    mask[2] = False
    out, w = mha(x, mask=mask, return_weights=True)
    assert (w[:, :, 2] == 0).all()
    torch.testing.assert_close(out[:, 2], mha.out_proj.bias.expand(2, 8))
    torch.testing.assert_close(mha(x, mask=mask), out)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    torch.manual_seed(5)
    mha = MultiHeadSelfAttention(64, 8)
    x = torch.randn(2, 32, 64)
    mask = causal_mask(32)
    cpu_out, cpu_w = mha(x, mask=mask, return_weights=True)
    cpu_fast = mha(x, mask=mask)
    gpu = MultiHeadSelfAttention(64, 8).cuda()
    gpu.load_state_dict(mha.state_dict())
    with torch.no_grad():
        out, w = gpu(x.cuda(), mask=mask.cuda(), return_weights=True)
        fast = gpu(x.cuda(), mask=mask.cuda())
    torch.testing.assert_close(out.cpu(), cpu_out, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(w.cpu(), cpu_w, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(fast.cpu(), cpu_fast, atol=1e-4, rtol=1e-4)


@settings(max_examples=40, deadline=None)
@given(B=st.integers(1, 3), T=st.integers(1, 6), H=st.integers(1, 5), d=st.integers(1, 4))
def test_split_merge_round_trip_any_shape(B, T, H, d):
    x = torch.randn(B, T, H * d)
    s = split_heads(x, H)
    assert s.shape == (B, H, T, d)
    torch.testing.assert_close(merge_heads(s), x)


def test_shapes_in_messages_are_written_as_python_tuples():
    with pytest.raises(ValueError, match=r"got \(5,\)\.$"):
        MultiHeadSelfAttention(8, 2)(torch.zeros(5))
    with pytest.raises(ValueError, match=r"shape \(B, T, D\), got \(5,\)\."):
        split_heads(torch.zeros(5), 2)
    with pytest.raises(ValueError, match=r"shape \(B, H, T, d\), got \(2, 3\)\."):
        merge_heads(torch.zeros(2, 3))
