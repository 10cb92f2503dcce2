"""The course's Triton flash kernel against PyTorch's flash backend (FlashAttention-2), on a GPU.

At (B, H, N, d) = (4, 16, 4096, 64) in bfloat16 (and float16), causal and not, forward only: the
kernel's best time over a small grid of tile sizes and launch options, SDPA's time with
sdpa_kernel(FLASH_ATTENTION), each in TFLOP/s (4·B·H·N²·d operations, half under the causal
mask), and the kernel's throughput as a fraction of SDPA's (goal >= 0.6 on an H100 or H200).
Both run in the same process on the same inputs; the kernel's output is checked against SDPA's
first. Without a GPU the kernel only runs in Triton's interpreter, which is for checking, not
timing: the script says so and stops.

    python benchmarks/bench_triton.py [--n 4096] [--dtype bfloat16 float16] [--min-run-time 0.5]
"""

from __future__ import annotations

import argparse
import itertools

import torch
import torch.nn.functional as F

from attn_course.experiments.gpu_speed import kernel_speed
from attn_course.reference.flash_triton import (
    launch_flash_kernel,
    reference_kernel,
    triton_available,
)

GOAL = 0.6  # kernel TFLOP/s / SDPA flash TFLOP/s
TILES = [(64, 32), (64, 64), (128, 32), (128, 64)]  # (BLOCK_M, BLOCK_N)
LAUNCH = [{"num_warps": w, "num_stages": s} for w, s in itertools.product((4, 8), (2, 3))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--dtype", nargs="+", default=["bfloat16", "float16"])
    parser.add_argument("--min-run-time", type=float, default=0.5, help="seconds per timing")
    args = parser.parse_args()
    ok, why = triton_available()
    if not ok or not torch.cuda.is_available():
        print("bench_triton: needs a CUDA GPU (Triton's interpreter checks kernels, it does not "
              f"time them). {why}".strip())
        return 0
    kernel = reference_kernel()
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}; (B, H, N, d) = "
          f"({args.batch}, {args.heads}, {args.n}, {args.d})")
    status = 0
    for dtype_name, causal in itertools.product(args.dtype, (False, True)):
        dtype = getattr(torch, dtype_name)
        g = torch.Generator(device="cuda").manual_seed(0)
        q, k, v = (torch.randn(args.batch, args.heads, args.n, args.d, device="cuda",
                               dtype=dtype, generator=g) for _ in range(3))
        out, _ = launch_flash_kernel(kernel, q, k, v, causal, 64, 64)
        want = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        error = (out.float() - want.float()).abs().max().item()
        best = None
        for (block_m, block_n), launch in itertools.product(TILES, LAUNCH):
            try:
                speed = kernel_speed(kernel, q, k, v, causal=causal, block=block_m,
                                     block_n=block_n, min_run_time=args.min_run_time, **launch)
            except Exception as exc:  # e.g. out of shared memory for this tile size
                print(f"  tiles {block_m}x{block_n} {launch}: {type(exc).__name__}")
                continue
            if best is None or speed["triton_ms"] < best["triton_ms"]:
                best = speed | {"launch": launch}
        if best is None:
            print(f"{dtype_name}, causal={causal}: no configuration ran")
            status = 1
            continue
        verdict = "ok" if best["ratio"] >= GOAL else "MISSED"
        print(f"{dtype_name}, causal={causal}: max |kernel - SDPA| = {error:.1e}; kernel "
              f"{best['triton_ms']:.3f} ms = {best['triton_tflops']:.0f} TFLOP/s (tiles "
              f"{best['block']}x{best['block_n']}, {best['launch']}); SDPA flash "
              f"{best['sdpa_flash_ms']:.3f} ms = {best['sdpa_flash_tflops']:.0f} TFLOP/s; "
              f"kernel / SDPA = {best['ratio']:.2f} (goal >= {GOAL}) {verdict}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
