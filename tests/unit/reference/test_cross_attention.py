"""Reference cross-attention: queries from x, keys and values from memory."""

import torch
import torch.nn.functional as F

from attn_course.reference import cross_attention, key_padding_mask


def _inputs(T_q=4, T_k=6, D=8, d_k=5, d_v=3, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    x, memory = (torch.randn(2, T, D, generator=g, dtype=dtype) for T in (T_q, T_k))
    w = [torch.randn(D, d, generator=g, dtype=dtype) for d in (d_k, d_k, d_v)]
    return x, memory, *w


def test_it_is_torch_attention_on_projections_of_two_sequences():
    x, memory, w_q, w_k, w_v = _inputs()
    out, weights = cross_attention(x, memory, w_q, w_k, w_v)
    assert out.shape == (2, 4, 3) and weights.shape == (2, 4, 6)  # one row per query, T_q ≠ T_k
    want = F.scaled_dot_product_attention(x @ w_q, memory @ w_k, memory @ w_v)
    torch.testing.assert_close(out, want)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, dtype=torch.float64))


def test_the_memory_padding_mask_hides_padded_memory_tokens():
    x, memory, w_q, w_k, w_v = _inputs()
    mask = key_padding_mask(torch.tensor([6, 3]), 6)  # (2, 1, 6)
    out, weights = cross_attention(x, memory, w_q, w_k, w_v, mask)
    assert (weights[1, :, 3:] == 0).all()
    short, _ = cross_attention(x[1:], memory[1:, :3], w_q, w_k, w_v)
    torch.testing.assert_close(out[1:], short)


def test_changing_x_never_changes_keys_and_values():
    x, memory, w_q, w_k, w_v = _inputs()
    out, weights = cross_attention(x, memory, w_q, w_k, w_v)
    out2, weights2 = cross_attention(x[:, :2], memory, w_q, w_k, w_v)  # fewer queries
    torch.testing.assert_close(out2, out[:, :2])
    torch.testing.assert_close(weights2, weights[:, :2])
