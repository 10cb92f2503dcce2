"""Flash attention in PyTorch against attention that materialises the scores, and against SDPA.

At (B, H, N, d) = (1, 8, 4096, 64), float32, no gradients, on the CPU (or --device cuda):
  memory: extra peak memory of `reference.flash_attention` / of the naive attention
          (q k^T, softmax, @ v: two N x N tensors per head), goal <= 0.10;
  time:   `reference.flash_attention` / F.scaled_dot_product_attention, goal <= 2.5.
Each memory figure is measured in a fresh process, so one method's freed memory cannot hide the
other's peak.

    python benchmarks/bench_flash.py [--n 4096] [--block-size 256] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

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


def measure_memory(args) -> float:
    """Run in a child process: the extra peak MiB of one method."""
    q, k, v = inputs(args)
    fn = {"naive": lambda: naive_attention(q, k, v),
          "flash": lambda: flash_attention(q, k, v, block_size=args.block_size),
          "sdpa": lambda: F.scaled_dot_product_attention(q, k, v)}[args.method]
    with torch.no_grad():
        return peak_memory_mib(fn, args.device)


def memory_in_child(args, method: str) -> float:
    command = [sys.executable, __file__, "--child", method, "--n", str(args.n),
               "--batch", str(args.batch), "--heads", str(args.heads), "--d", str(args.d),
               "--block-size", str(args.block_size), "--device", args.device]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])["mib"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--block-size", type=int, default=BLOCK_SIZE)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--min-run-time", type=float, default=2.0, help="seconds per timing")
    parser.add_argument("--child", dest="method", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.method:
        print(json.dumps({"mib": measure_memory(args)}))
        return 0

    shape = f"(B, H, N, d) = ({args.batch}, {args.heads}, {args.n}, {args.d}), float32"
    print(f"{shape}, block {args.block_size}, {args.device}, {torch.get_num_threads()} threads")
    scores_mib = args.batch * args.heads * args.n**2 * 4 / 2**20
    memory = {m: memory_in_child(args, m) for m in ("naive", "flash", "sdpa")}
    print(f"one N x N score tensor: {scores_mib:.0f} MiB")
    for method, mib in memory.items():
        print(f"extra peak memory, {method:5s}: {mib:8.1f} MiB")
    ratio = memory["flash"] / memory["naive"]
    verdict = "ok" if ratio <= MEMORY_GOAL else "MISSED"
    print(f"memory: flash / naive = {ratio:.3f}  (goal <= {MEMORY_GOAL:.2f}) {verdict}")

    q, k, v = inputs(args)
    with torch.no_grad():
        flash = median_ms(lambda: flash_attention(q, k, v, block_size=args.block_size),
                          min_run_time=args.min_run_time)
        sdpa = median_ms(lambda: F.scaled_dot_product_attention(q, k, v),
                         min_run_time=args.min_run_time)
        naive = median_ms(lambda: naive_attention(q, k, v), min_run_time=args.min_run_time)
    print(f"time: flash {flash:.1f} ms, SDPA {sdpa:.1f} ms, naive {naive:.1f} ms")
    ratio = flash / sdpa
    verdict = "ok" if ratio <= TIME_GOAL else "MISSED"
    print(f"time: flash / SDPA = {ratio:.2f}  (goal <= {TIME_GOAL:.1f}) {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
