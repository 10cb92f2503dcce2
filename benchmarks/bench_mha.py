"""Forward time of the reference MultiHeadSelfAttention against torch.nn.MultiheadAttention.

Both hold the same weights and run in the same process: (B, T, d_model) = (8, 512, 768),
12 heads, eval mode, torch.no_grad(), no weights returned. Prints the median of each and the ratio.

    python benchmarks/bench_mha.py [--device cuda] [--min-run-time 3]
"""

from __future__ import annotations

import argparse

import torch

from attn_course.bench import median_ms
from attn_course.reference.attention import causal_mask
from attn_course.reference.mha import MultiHeadSelfAttention, copy_to_torch

GOAL = 1.10  # reference median / torch median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--d-model", type=int, default=768)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--min-run-time", type=float, default=3.0, help="seconds per timing")
    args = parser.parse_args()

    torch.manual_seed(0)
    device = torch.device(args.device)
    mha = MultiHeadSelfAttention(args.d_model, args.heads).to(device).eval()
    ref = copy_to_torch(mha).eval()
    x = torch.randn(args.batch, args.seq_len, args.d_model, device=device)
    mask = causal_mask(args.seq_len, device=device)

    print(
        f"B={args.batch} T={args.seq_len} d_model={args.d_model} H={args.heads} on {device}, "
        f"{torch.get_num_threads()} threads, eval + no_grad, median of blocked_autorange"
    )
    cases = {
        "no mask": (lambda: mha(x), lambda: ref(x, x, x, need_weights=False)),
        "causal": (
            lambda: mha(x, mask=mask),
            lambda: ref(x, x, x, attn_mask=~mask, need_weights=False),
        ),
    }
    ratios = {}
    with torch.no_grad():
        for name, (ours, theirs) in cases.items():
            t_ref = median_ms(theirs, min_run_time=args.min_run_time)
            t_ours = median_ms(ours, min_run_time=args.min_run_time)
            ratios[name] = t_ours / t_ref
            print(
                f"{name:>8}: reference {t_ours:8.2f} ms | nn.MultiheadAttention {t_ref:8.2f} ms "
                f"| ratio {ratios[name]:.2f}x"
            )
    ratio = ratios["no mask"]
    print(
        f"goal (no mask): ratio <= {GOAL:.2f}x; measured {ratio:.2f}x: "
        f"{'met' if ratio <= GOAL else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
