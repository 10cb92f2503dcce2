"""Reference attention agrees with PyTorch's own functions."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from attn_course.reference import (
    causal_mask,
    key_padding_mask,
    padding_mask,
    scaled_dot_product_attention,
    softmax,
)

shapes = st.fixed_dictionaries(
    {
        "batch": st.lists(st.integers(1, 3), min_size=0, max_size=2),
        "T_q": st.integers(1, 6),
        "T_k": st.integers(1, 6),
        "d_k": st.integers(1, 8),
        "d_v": st.integers(1, 8),
        "seed": st.integers(0, 2**16),
    }
)


@settings(max_examples=40, deadline=None)
@given(shapes, st.booleans())
def test_matches_torch_sdpa(s, masked):
    g = torch.Generator().manual_seed(s["seed"])
    b = tuple(s["batch"])
    q = torch.randn(*b, s["T_q"], s["d_k"], generator=g, dtype=torch.float64)
    k = torch.randn(*b, s["T_k"], s["d_k"], generator=g, dtype=torch.float64)
    v = torch.randn(*b, s["T_k"], s["d_v"], generator=g, dtype=torch.float64)
    mask = None
    if masked:
        mask = torch.rand(s["T_q"], s["T_k"], generator=g) < 0.7
        mask[:, 0] = True  # no fully masked row
    out, w = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    scores = q @ k.transpose(-2, -1) / math.sqrt(s["d_k"])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    torch.testing.assert_close(w, torch.softmax(scores, dim=-1))
    assert out.shape == (*b, s["T_q"], s["d_v"]) and w.shape == (*b, s["T_q"], s["T_k"])


def test_fully_masked_rows_give_zeros_and_finite_gradients():
    q, k, v = (torch.randn(3, 4, dtype=torch.float64, requires_grad=True) for _ in range(3))
    mask = torch.ones(3, 3, dtype=torch.bool)
    mask[1] = False
    out, w = scaled_dot_product_attention(q, k, v, mask)
    assert torch.equal(w[1], torch.zeros(3, dtype=torch.float64))
    assert torch.equal(out[1], torch.zeros(4, dtype=torch.float64))
    (out.sum() + w.sum()).backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_softmax_is_stable_and_keeps_dtype(dtype):
    x = torch.tensor([[1000.0, 999.0, -1000.0], [-1e4, -1e4, -1e4]], dtype=dtype)
    y = softmax(x, dim=-1)
    assert y.dtype == dtype and torch.isfinite(y).all()
    torch.testing.assert_close(y, torch.softmax(x, dim=-1))
    torch.testing.assert_close(softmax(x, dim=0), torch.softmax(x, dim=0))
    assert torch.equal(softmax(torch.full((2,), float("-inf"))), torch.zeros(2))


def test_causal_mask():
    assert torch.equal(
        causal_mask(3),
        torch.tensor([[True, False, False], [True, True, False], [True, True, True]]),
    )
    assert causal_mask(1).shape == (1, 1) and causal_mask(1).dtype == torch.bool


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "4"])
def test_causal_mask_rejects_bad_lengths(bad):
    with pytest.raises(ValueError, match="positive int"):
        causal_mask(bad)


def test_padding_masks():
    m = padding_mask([2, 3], 4)
    assert m.tolist() == [[True, True, False, False], [True, True, True, False]]
    assert key_padding_mask([2, 3], 4).shape == (2, 1, 4)
    assert key_padding_mask(torch.tensor([2, 3]), 4, ndim=4).shape == (2, 1, 1, 4)
    with pytest.raises(ValueError, match=r"lie in \[0, T=4\]"):
        padding_mask([5], 4)
    with pytest.raises(ValueError, match="ndim must be 3"):
        key_padding_mask([1], 4, ndim=2)
    with pytest.raises(ValueError, match="1-D sequence of ints"):
        padding_mask([[1, 2]], 4)


def test_key_padding_mask_hides_padded_keys():
    q = torch.randn(2, 3, 4, dtype=torch.float64)
    k = v = torch.randn(2, 5, 4, dtype=torch.float64)
    _, w = scaled_dot_product_attention(q, k, v, key_padding_mask([2, 5], 5))
    assert torch.equal(w[0, :, 2:], torch.zeros(3, 3, dtype=torch.float64))
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, dtype=torch.float64))


def test_float_mask_is_rejected_with_advice():
    q = torch.randn(2, 4)
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        scaled_dot_product_attention(q, q, q, torch.ones(2, 2))
