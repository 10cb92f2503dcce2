"""Measurements for notebook 06, on whatever device there is: heads looped against batched,
and PyTorch's attention backends against the sequence length.

    timing = heads_timing(device=device)          # loop vs batched heads, per head count
    cost = backend_cost(device=device)            # SDPA's backends: memory and time against T
    compiled = compile_timing(device=device)      # torch.compile of naive attention vs SDPA
    speed = kernel_speed(kernel, q, k, v)         # a Triton flash kernel vs SDPA's flash, TFLOP/s

Every time is a median from torch.utils.benchmark (`bench.median_ms`, thread count stated);
memory comes from `bench.peak_memory_mib`. Plain data; `viz` draws it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from tqdm.auto import tqdm

from attn_course.bench import median_ms, peak_memory_mib
from attn_course.experiments.flash_cost import naive_attention
from attn_course.reference.batched_heads import heads_batched, heads_loop

BACKENDS = {
    "math": SDPBackend.MATH,
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def heads_timing(
    head_counts: Sequence[int] = (1, 2, 4, 8, 16),
    *,
    batch: int = 8,
    seq_len: int = 256,
    d_model: int = 512,
    device: str | torch.device = "cpu",
    min_run_time: float = 0.1,
    progress: bool = True,
) -> dict:
    """Median forward time of `heads_loop` and `heads_batched` (heads of d_model / H), per H."""
    device = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, seq_len, d_model, generator=gen).to(device)
    result: dict = {"head_counts": list(head_counts), "batch": batch, "seq_len": seq_len,
                    "d_model": d_model, "device": str(device), "threads": torch.get_num_threads(),
                    "loop_ms": [], "batched_ms": []}
    for H in tqdm(result["head_counts"], desc="head counts", disable=not progress):
        d = d_model // H
        w = [torch.randn(H, d_model, d, generator=gen).to(device) / math.sqrt(d_model)
             for _ in range(3)]
        for key, fn in (("loop_ms", heads_loop), ("batched_ms", heads_batched)):
            result[key].append(median_ms(lambda fn=fn, w=w: fn(x, *w), min_run_time=min_run_time))
    return result


def available_backends(device: str | torch.device = "cpu") -> list[str]:
    """The SDPA backends that run here on a small float32 (or, on CUDA, float16) input."""
    device = torch.device(device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    q = torch.randn(1, 2, 16, 64, device=device, dtype=dtype)
    found = []
    for name, backend in BACKENDS.items():
        try:
            with sdpa_kernel(backend):
                F.scaled_dot_product_attention(q, q, q)
            found.append(name)
        except RuntimeError:
            continue
    return found


@torch.no_grad()
def backend_cost(
    seq_lens: Sequence[int] = (512, 1024, 2048, 4096),
    *,
    heads: int = 4,
    head_dim: int = 64,
    device: str | torch.device = "cpu",
    min_run_time: float = 0.1,
    progress: bool = True,
) -> dict:
    """Per T, each available SDPA backend's extra peak memory (MiB) and median time (ms), on
    one sequence; float32 on the CPU, float16 on CUDA. Same format as `flash_cost`, the methods
    named "sdpa:<backend>". On a CPU the memory counts the tensors PyTorch's operations create:
    the math backend's scores show, a fused kernel's scratch memory does not."""
    device = torch.device(device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    names = available_backends(device)
    result: dict = {"seq_lens": [int(t) for t in seq_lens], "heads": heads, "head_dim": head_dim,
                    "device": str(device), "dtype": str(dtype).removeprefix("torch."),
                    "threads": torch.get_num_threads(),
                    "scores_mib": [heads * int(t) ** 2 * dtype.itemsize / 2**20 for t in seq_lens],
                    "memory_mib": {f"sdpa:{n}": [] for n in names},
                    "time_ms": {f"sdpa:{n}": [] for n in names}}
    gen = torch.Generator().manual_seed(0)
    for T in tqdm(result["seq_lens"], desc="sequence lengths", disable=not progress):
        q, k, v = (torch.randn(1, heads, T, head_dim, generator=gen).to(device, dtype)
                   for _ in range(3))
        for name in names:
            def attend(backend=BACKENDS[name], q=q, k=k, v=v):
                with sdpa_kernel(backend):
                    return F.scaled_dot_product_attention(q, k, v)

            result["memory_mib"][f"sdpa:{name}"].append(peak_memory_mib(attend, device))
            result["time_ms"][f"sdpa:{name}"].append(median_ms(attend, min_run_time=min_run_time))
    return result


def compile_timing(
    *, heads: int = 8, seq_len: int = 1024, head_dim: int = 64,
    device: str | torch.device = "cpu", min_run_time: float = 0.2,
) -> dict:
    """torch.compile of `naive_attention` against eager and SDPA: the first call's time (the
    compilation) and the median of the compiled one; {"error": ...} when compiling fails here
    (on a CPU it needs a C++ compiler)."""
    device = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, heads, seq_len, head_dim, generator=gen).to(device)
               for _ in range(3))
    result: dict = {"heads": heads, "seq_len": seq_len, "head_dim": head_dim,
                    "device": str(device), "threads": torch.get_num_threads()}
    with torch.no_grad():
        result["eager_ms"] = median_ms(lambda: naive_attention(q, k, v), min_run_time=min_run_time)
        result["sdpa_ms"] = median_ms(lambda: F.scaled_dot_product_attention(q, k, v),
                                      min_run_time=min_run_time)
        try:
            compiled = torch.compile(naive_attention)
            start = time.perf_counter()
            out = compiled(q, k, v)
            _sync(device)
            result["first_call_s"] = time.perf_counter() - start
            result["max_error"] = (out - F.scaled_dot_product_attention(q, k, v)).abs().max().item()
            result["compiled_ms"] = median_ms(lambda: compiled(q, k, v), min_run_time=min_run_time)
        except Exception as exc:  # no compiler, an unsupported platform: say so, go on
            result["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return result


def attention_flops(B: int, H: int, N: int, M: int, d: int, causal: bool) -> float:
    """Floating-point operations of attention's forward pass: two products of 2·N·M·d per head
    (q kᵀ and p v), half of them under a causal mask (N = M)."""
    return 4.0 * B * H * N * M * d * (0.5 if causal else 1.0)


@torch.no_grad()
def kernel_speed(kernel, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *,
                 causal: bool = True, block: int = 64, block_n: int | None = None,
                 min_run_time: float = 0.5, **launch: int) -> dict:
    """A Triton flash kernel (FLASH_SIGNATURE, launched by `launch_flash_kernel` on tiles of
    `block` queries and `block_n` keys, with Triton's `launch` options) against SDPA's flash
    backend on the same q, k, v (B, H, N, d) on a GPU: milliseconds and TFLOP/s each, and the
    kernel's throughput as a fraction of SDPA's."""
    from attn_course.reference.flash_triton import launch_flash_kernel

    B, H, N, d = q.shape
    block_n = block if block_n is None else block_n
    flops = attention_flops(B, H, N, k.shape[2], d, causal)
    triton_ms = median_ms(lambda: launch_flash_kernel(kernel, q, k, v, causal, block, block_n,
                                                      **launch), min_run_time=min_run_time)
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        sdpa_ms = median_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
                            min_run_time=min_run_time)
    where = torch.cuda.get_device_name(q.device) if q.is_cuda else str(q.device)
    return {"shape": [B, H, N, d], "dtype": str(q.dtype).removeprefix("torch."),
            "causal": causal, "block": block, "block_n": block_n, "device": where,
            "triton_ms": triton_ms, "sdpa_flash_ms": sdpa_ms,
            "triton_tflops": flops / triton_ms / 1e9, "sdpa_flash_tflops": flops / sdpa_ms / 1e9,
            "ratio": sdpa_ms / triton_ms}
