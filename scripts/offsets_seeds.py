"""Train the multi-offset recall model over several seeds per head count; ship the results.

Notebook 04 shows these numbers (mean ± sd over seeds) instead of one run's. Writes
attn_course/data/offsets_seeds_d64.json: one record per (head count, seed) with the final scores
of `evaluate` and each head's attention mass per offset (`offset_mass`). No weights are saved.

    python scripts/offsets_seeds.py                       # H in 1..64, seeds 0-7: ~10 min, 2 jobs
    python scripts/offsets_seeds.py --add --heads 1 --seeds 8 9 10   # more seeds for one head
    python scripts/offsets_seeds.py --heads 1 4 --seeds 0 1 2 --out /tmp/check.json
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from attn_course.experiments.offsets import SEEDS_FILE, run_seed, seed_table
from attn_course.experiments.shipped import run_parallel, with_earlier, write_results
from attn_course.reference.mha import divisors

D_MODEL = 64
OUT = Path(__file__).resolve().parent.parent / "attn_course" / "data" / SEEDS_FILE


def _run(args: tuple[int, int, int]) -> dict:
    num_heads, seed, steps = args
    start = time.perf_counter()
    record = run_seed(D_MODEL, num_heads, seed, steps)
    print(
        f"H={num_heads:>2} seed={seed}: token accuracy {record['token_accuracy']:.1%} "
        f"({time.perf_counter() - start:.0f}s)",
        flush=True,
    )
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", type=int, nargs="+", default=divisors(D_MODEL))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2, help="processes, one torch thread each")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--add", action="store_true", help="keep the records already in --out, add these runs"
    )
    args = parser.parse_args()

    jobs = [(h, s, args.steps) for h in args.heads for s in args.seeds]
    jobs.sort(key=lambda job: -job[0])  # the slow many-head runs first
    records = run_parallel(_run, [(job,) for job in jobs], args.jobs)
    key = lambda r: (r["num_heads"], r["seed"])  # noqa: E731
    records = with_earlier(args.out, records, key) if args.add else sorted(records, key=key)
    payload = {
        "format": 1,
        "task": "multi-offset recall, attn_course.experiments.offsets.run_seed",
        "d_model": D_MODEL,
        "steps": args.steps,
        "head_counts": sorted({r["num_heads"] for r in records}),
        "seeds": {
            h: sorted(r["seed"] for r in records if r["num_heads"] == h)
            for h in sorted({r["num_heads"] for r in records})
        },
        "evaluate": {"n": 1024, "seed": 1234},
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, 1 CPU thread per run",
    }
    write_results(args.out, payload, records)
    print(seed_table(records))
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
