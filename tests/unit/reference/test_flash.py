"""Flash attention and the online softmax agree with PyTorch's attention and softmax."""

import math

import pytest
import torch
import torch.nn.functional as F

from attn_course.reference.flash import flash_attention, online_softmax, online_softmax_steps


def qkv(B=2, H=3, N=37, M=None, d=16, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    M = N if M is None else M
    return tuple(torch.randn(B, H, n, d, generator=g, dtype=dtype) for n in (N, M, M))


@pytest.mark.parametrize("block_size", [1, 5, 16, 64])
def test_online_softmax_is_softmax(block_size):
    x = 4 * torch.randn(3, 5, 29, dtype=torch.float64)
    torch.testing.assert_close(online_softmax(x, block_size), x.softmax(-1))


def test_online_softmax_rescales_when_the_maximum_arrives_late():
    x = torch.tensor([[0.0, 1.0, 2.0, 1000.0]], dtype=torch.float64)  # the max in the last block
    torch.testing.assert_close(online_softmax(x, block_size=1), x.softmax(-1))
    masked = torch.tensor([[-math.inf, -math.inf, 0.5, 1.5]], dtype=torch.float64)
    torch.testing.assert_close(online_softmax(masked, block_size=2), masked.softmax(-1))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(("N", "M", "block_size"), [(37, 37, 8), (37, 37, 64), (20, 45, 7),
                                                    (1, 9, 4), (64, 64, 16)])
def test_flash_attention_is_sdpa(causal, N, M, block_size):
    q, k, v = qkv(N=N, M=M)
    out, lse = flash_attention(q, k, v, causal=causal, block_size=block_size, return_lse=True)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=causal))
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        scores = scores.masked_fill(torch.ones(N, M, dtype=torch.bool).tril().logical_not(),
                                    -math.inf)
    torch.testing.assert_close(lse, scores.logsumexp(-1))


def test_flash_attention_in_float32_and_half_accumulates_in_float32():
    q, k, v = qkv(N=50, dtype=torch.float32)
    torch.testing.assert_close(flash_attention(q, k, v, block_size=16),
                               F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=1e-5)
    qh, kh, vh = (t.to(torch.bfloat16) for t in (q, k, v))
    out, lse = flash_attention(qh, kh, vh, causal=True, block_size=16, return_lse=True)
    assert out.dtype == torch.bfloat16 and lse.dtype == torch.float32
    want = F.scaled_dot_product_attention(*(t.float() for t in (qh, kh, vh)), is_causal=True)
    torch.testing.assert_close(out.float(), want, atol=2e-2, rtol=2e-2)


def test_causal_tiles_after_the_diagonal_are_skipped(monkeypatch):
    """Above the diagonal the tiles hold only masked keys: a causal pass reads about half."""
    calls = []
    matmul = torch.Tensor.__matmul__

    def counting(a, b):
        calls.append(b.shape)
        return matmul(a, b)

    q, k, v = qkv(B=1, H=1, N=64, d=8)
    monkeypatch.setattr(torch.Tensor, "__matmul__", counting)
    flash_attention(q, k, v, block_size=16)
    full = len(calls)
    calls.clear()
    flash_attention(q, k, v, causal=True, block_size=16)
    assert full == 2 * 16 and len(calls) == 2 * (1 + 2 + 3 + 4)  # 4 x 4 tiles, 10 on or below


def test_bad_inputs_get_clear_messages():
    q, k, v = qkv()
    with pytest.raises(ValueError, match="block_size must be a positive int"):
        flash_attention(q, k, v, block_size=0)
    with pytest.raises(ValueError, match=r"must be \(B, H, N, d\)"):
        flash_attention(q[0], k, v)
    with pytest.raises(ValueError, match="shapes do not fit"):
        flash_attention(q, k[..., :8], v)


def test_online_softmax_steps_trace_the_running_statistics():
    row = torch.tensor([1.0, 0.0, 3.0, 2.0, 5.0])
    steps = online_softmax_steps(row, block_size=2)
    assert [s["block"] for s in steps] == [(0, 2), (2, 4), (4, 5)]
    assert [s["m"] for s in steps] == [1.0, 3.0, 5.0]
    assert steps[0]["rescale"] == 0.0 and steps[1]["rescale"] == pytest.approx(math.exp(-2))
    assert steps[-1]["l"] == pytest.approx(float(torch.exp(row - 5).sum()))
    with pytest.raises(ValueError, match="one row"):
        online_softmax_steps(row[None])
