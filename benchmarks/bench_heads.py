"""Heads looped against heads batched (`reference.heads_loop` / `reference.heads_batched`).

Forward time at (B, T, d_model) = (8, 512, 512) for 1, 4, 8 and 16 heads of d_model / H each,
torch.no_grad(), both in the same process on the same weights. Prints loop / batched per head
count. On a GPU, batching is the point (one launch for all heads instead of one per head): the
goal is loop / batched >= 1.3 at 16 heads. On a CPU the loop can be as fast, so there is no goal.

    python benchmarks/bench_heads.py [--device cuda] [--min-run-time 0.5]
"""

from __future__ import annotations

import argparse

import torch

from attn_course.experiments.gpu_speed import heads_timing

GOAL = 1.3  # loop time / batched time at the largest head count, on a GPU


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--heads", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--min-run-time", type=float, default=0.5, help="seconds per timing")
    args = parser.parse_args()
    timing = heads_timing(args.heads, batch=8, seq_len=512, d_model=512, device=args.device,
                          min_run_time=args.min_run_time, progress=False)
    where = (torch.cuda.get_device_name(0) if args.device.startswith("cuda")
             else f"cpu, {timing['threads']} threads")
    print(f"(B, T, d_model) = (8, 512, 512) on {where}")
    for H, loop, batched in zip(timing["head_counts"], timing["loop_ms"], timing["batched_ms"],
                                strict=True):
        print(f"H = {H:2d}: loop {loop:7.3f} ms, batched {batched:7.3f} ms, "
              f"loop / batched = {loop / batched:.2f}")
    ratio = timing["loop_ms"][-1] / timing["batched_ms"][-1]
    if args.device.startswith("cuda"):
        verdict = "ok" if ratio >= GOAL else "MISSED"
        print(f"loop / batched at H = {timing['head_counts'][-1]}: {ratio:.2f} "
              f"(goal >= {GOAL}) {verdict}")
    else:
        print(f"loop / batched at H = {timing['head_counts'][-1]}: {ratio:.2f} (no goal on a "
              "CPU: batching heads pays on a GPU)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
