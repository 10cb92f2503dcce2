"""Train the multi-offset recall models that the head-count explorer offers, and ship them.

One model per (d_model, num_heads) with d_model in D_MODELS and every divisor as head count,
seed 0, written as float32 state_dicts to attn_course/data/offsets_d{D}_h{H}.pt.

    python scripts/train_head_explorer.py                  # all configurations, ~3 min on 2 cores
    python scripts/train_head_explorer.py --only 64,4      # one configuration
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from attn_course.experiments.offsets import D_MODELS, save_pretrained, train
from attn_course.reference.mha import divisors

DATA_DIR = Path(__file__).resolve().parent.parent / "attn_course" / "data"


def parse_config(text: str) -> tuple[int, int]:
    try:
        d_model, num_heads = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected D_MODEL,NUM_HEADS such as 64,4; got {text!r}"
        ) from None
    if num_heads < 1 or d_model % num_heads:
        raise argparse.ArgumentTypeError(f"{num_heads} heads do not divide d_model={d_model}")
    return d_model, num_heads


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", type=parse_config, action="append", metavar="D,H")
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()

    configs = args.only or [(d, h) for d in D_MODELS for h in divisors(d)]
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{'d_model':>7} {'heads':>5} {'token acc':>9} {'all 4':>7} {'to 90%':>6} {'time':>6}")
    for d_model, num_heads in configs:
        start = time.perf_counter()
        model, history = train(d_model, num_heads, args.steps, args.seed, not args.no_progress)
        name = save_pretrained(model, history, args.out)
        f = history.final
        to90 = history.steps_to(0.9)
        print(
            f"{d_model:>7} {num_heads:>5} {f['token_accuracy']:>9.1%} {f['all_correct']:>7.1%} "
            f"{to90 if to90 is not None else 'never':>6} {time.perf_counter() - start:>5.1f}s"
            f"  -> {name}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
