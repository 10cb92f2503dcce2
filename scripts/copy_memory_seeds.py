"""Run the copy-memory task for every model, gap and seed; ship the results.

The course shows these numbers (mean ± sd over seeds) instead of one run's. Writes
attn_course/data/copy_memory_seeds.json: one record per (model, gap, seed), the result of
`copy_memory` without its per-step loss (the learning curve is kept). No weights are saved.

    python scripts/copy_memory_seeds.py                  # 3 models x 6 gaps x seeds 0-3, 2 jobs
    python scripts/copy_memory_seeds.py --add --models lstm --gaps 10 --seeds 4 5
    python scripts/copy_memory_seeds.py --gaps 0 50 --seeds 0 --out /tmp/check.json
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from attn_course.experiments.copy_memory import (
    BATCH_SIZE,
    EVAL_N,
    EVAL_SEED,
    GAPS,
    LR,
    MODELS,
    SEEDS_FILE,
    STEPS,
    copy_table,
    run_seed,
)
from attn_course.experiments.shipped import run_parallel, with_earlier, write_results

OUT = Path(__file__).resolve().parent.parent / "attn_course" / "data" / SEEDS_FILE


def _run(args: tuple[str, int, int, int]) -> dict:
    model, gap, seed, steps = args
    start = time.perf_counter()
    record = run_seed(model, gap, seed, steps)
    print(
        f"{model:<11} gap={gap:>3} seed={seed}: accuracy {record['accuracy']:.1%} "
        f"({time.perf_counter() - start:.0f}s)",
        flush=True,
    )
    return record


def _key(record: dict) -> tuple[int, int, int]:
    return MODELS.index(record["model"]), record["gap"], record["seed"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--gaps", type=int, nargs="+", default=list(GAPS))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(4)))
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--jobs", type=int, default=2, help="processes, one torch thread each")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--add", action="store_true", help="keep the records already in --out, add these runs"
    )
    args = parser.parse_args()

    jobs = [(m, g, s, args.steps) for m in args.models for g in args.gaps for s in args.seeds]
    jobs.sort(key=lambda job: -job[1])  # the long sequences first
    records = run_parallel(_run, [(job,) for job in jobs], args.jobs)
    records = with_earlier(args.out, records, _key) if args.add else sorted(records, key=_key)
    models = [m for m in MODELS if any(r["model"] == m for r in records)]
    payload = {
        "format": 1,
        "task": "copy memory, attn_course.experiments.copy_memory.run_seed",
        "steps": args.steps,
        "batch_size": BATCH_SIZE,
        "lr": LR,
        "models": models,
        "gaps": sorted({r["gap"] for r in records}),
        "seeds": {m: sorted({r["seed"] for r in records if r["model"] == m}) for m in models},
        "evaluate": {"n": EVAL_N, "seed": EVAL_SEED},
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, 1 CPU thread per run",
    }
    write_results(args.out, payload, records)
    print(copy_table(records))
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
