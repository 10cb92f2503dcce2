"""Flash attention in PyTorch against attention that materialises the scores, and against SDPA.

At (B, H, N, d) = (1, 8, 4096, 64), float32, no gradients, on the CPU (or --device cuda):
  memory: extra peak memory of `reference.flash_attention` / of the naive attention
          (q k^T, softmax, @ v: two N x N tensors per head), goal <= 0.10;
  time:   `reference.flash_attention` / F.scaled_dot_product_attention, goal <= 2.5.
Memory is `bench.peak_memory_mib`: the CUDA allocator's peak on a GPU; on a CPU the tensors the
method creates while they are alive (a fused kernel's own scratch memory is not seen).

    python benchmarks/bench_flash.py [--n 4096] [--block-size 256] [--device cuda]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from attn_course.bench import median_ms, peak_memory_mib
from attn_course.experiments.flash_cost import naive_attention
from attn_course.reference.flash import BLOCK_SIZE, flash_attention

MEMORY_GOAL, TIME_GOAL = 0.10, 2.5


def inputs(args):
    g = torch.Generator().manual_seed(0)
    shape = (args.batch, args.heads, args.n, args.d)
    return [torch.randn(*shape, generator=g).to(args.device) for _ in range(3)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--block-size", type=int, default=BLOCK_SIZE)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--min-run-time", type=float, default=2.0, help="seconds per timing")
    args = parser.parse_args()

    shape = f"(B, H, N, d) = ({args.batch}, {args.heads}, {args.n}, {args.d}), float32"
    print(f"{shape}, block {args.block_size}, {args.device}, {torch.get_num_threads()} threads")
    scores_mib = args.batch * args.heads * args.n**2 * 4 / 2**20
    q, k, v = inputs(args)
    methods = {"naive": lambda: naive_attention(q, k, v),
               "flash": lambda: flash_attention(q, k, v, block_size=args.block_size),
               "sdpa": lambda: F.scaled_dot_product_attention(q, k, v)}
    with torch.no_grad():
        memory = {name: peak_memory_mib(fn, args.device) for name, fn in methods.items()}
    print(f"one N x N score tensor: {scores_mib:.0f} MiB")
    for method, mib in memory.items():
        print(f"extra peak memory, {method:5s}: {mib:8.1f} MiB")
    ratio = memory["flash"] / memory["naive"]
    verdict = "ok" if ratio <= MEMORY_GOAL else "MISSED"
    print(f"memory: flash / naive = {ratio:.3f}  (goal <= {MEMORY_GOAL:.2f}) {verdict}")

    with torch.no_grad():
        flash, sdpa, naive = (median_ms(methods[m], min_run_time=args.min_run_time)
                              for m in ("flash", "sdpa", "naive"))
    print(f"time: flash {flash:.1f} ms, SDPA {sdpa:.1f} ms, naive {naive:.1f} ms")
    ratio = flash / sdpa
    verdict = "ok" if ratio <= TIME_GOAL else "MISSED"
    print(f"time: flash / SDPA = {ratio:.2f}  (goal <= {TIME_GOAL:.1f}) {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
