"""The Triton flash attention kernel: in Triton's interpreter on the CPU at small sizes, and on
the GPU (marked gpu) at real ones, against F.scaled_dot_product_attention."""

import math

import pytest
import torch
import torch.nn.functional as F

from attn_course.reference.flash import flash_attention
from attn_course.reference.flash_triton import triton_available, triton_flash_attention

pytestmark = pytest.mark.skipif(not triton_available()[0], reason=triton_available()[1])


def qkv(B=1, H=2, N=64, M=None, d=32, dtype=torch.float32, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    M = N if M is None else M
    return tuple(torch.randn(B, H, n, d, generator=g).to(dtype=dtype, device=device)
                 for n in (N, M, M))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(("N", "M"), [(64, 64), (50, 70), (33, 33), (1, 40)])
def test_the_kernel_is_sdpa_in_the_interpreter(causal, N, M):
    q, k, v = qkv(N=N, M=M)
    out, lse = triton_flash_attention(q, k, v, causal=causal)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=causal),
                               atol=2e-6, rtol=1e-5)
    _, want = flash_attention(q, k, v, causal=causal, return_lse=True)
    torch.testing.assert_close(lse, want, atol=2e-6, rtol=1e-5)


def test_half_precision_and_strided_inputs():
    q, k, v = qkv(N=48, d=64)
    q16, k16, v16 = (t.half() for t in (q, k, v))
    out, lse = triton_flash_attention(q16, k16, v16, causal=True)
    assert out.dtype == torch.float16 and lse.dtype == torch.float32
    want = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(out.float(), want, atol=2e-3, rtol=2e-3)
    # (B, N, H, d) memory seen as (B, H, N, d): the kernel follows the strides
    qt, kt, vt = (t.transpose(1, 2).contiguous().transpose(1, 2) for t in (q, k, v))
    assert not qt.is_contiguous()
    torch.testing.assert_close(triton_flash_attention(qt, kt, vt)[0],
                               F.scaled_dot_product_attention(q, k, v), atol=2e-6, rtol=1e-5)


def test_unsupported_inputs_get_clear_messages():
    q, k, v = qkv(d=24)
    with pytest.raises(ValueError, match="power of two"):
        triton_flash_attention(q, k, v)
    q, k, v = qkv()
    with pytest.raises(ValueError, match="one dtype"):
        triton_flash_attention(q.double(), k.double(), v.double())
    with pytest.raises(ValueError, match=r"\(B, H, N, d\)"):
        triton_flash_attention(q[0], k, v)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("causal", [False, True])
def test_on_the_gpu_it_matches_the_cpu(causal):
    q, k, v = qkv(B=2, H=4, N=1024, d=64, dtype=torch.float16, device="cuda")
    out, lse = triton_flash_attention(q, k, v, causal=causal, block_m=64, block_n=64)
    want = F.scaled_dot_product_attention(*(t.float().cpu() for t in (q, k, v)), is_causal=causal)
    torch.testing.assert_close(out.float().cpu(), want, atol=2e-3, rtol=2e-3)
    assert math.isfinite(lse.float().abs().max().item())
