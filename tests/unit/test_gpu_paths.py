"""The GPU paths of notebooks 06 and 08 give the CPU's results (marked gpu: skipped without
CUDA; benchmarks/gpu_check.sh runs them on a GPU machine)."""

import pytest
import torch
import torch.nn.functional as F

from attn_course.experiments.gpu_speed import available_backends, backend_cost, heads_timing
from attn_course.reference import flash_attention, heads_batched, heads_loop

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_batched_heads_on_the_gpu_match_the_cpu():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 128, 256, generator=g)
    w = [torch.randn(8, 256, 32, generator=g) / 16 for _ in range(3)]
    want = heads_loop(x, *w)
    got = heads_batched(x.cuda(), *(t.cuda() for t in w)).cpu()
    torch.testing.assert_close(got, want, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("causal", [False, True])
def test_flash_attention_on_the_gpu_matches_the_cpu(causal):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 1000, 64, generator=g) for _ in range(3))
    want = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    out, lse = flash_attention(q.cuda(), k.cuda(), v.cuda(), causal=causal, return_lse=True)
    torch.testing.assert_close(out.cpu(), want, atol=1e-3, rtol=1e-3)
    half = flash_attention(q.cuda().half(), k.cuda().half(), v.cuda().half(), causal=causal)
    torch.testing.assert_close(half.float().cpu(), want, atol=2e-2, rtol=2e-2)


def test_the_gpu_measurements_run():
    assert "math" in available_backends("cuda")
    cost = backend_cost((256, 512), device="cuda", min_run_time=0.01, progress=False)
    assert all(len(v) == 2 for v in cost["time_ms"].values())
    timing = heads_timing((1, 8), device="cuda", min_run_time=0.01, progress=False)
    assert all(t > 0 for t in timing["loop_ms"] + timing["batched_ms"])
