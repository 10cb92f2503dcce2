"""Train `offset_recall` runs over seeds, learning curves included; ship them for notebook 05.

Notebook 05 trains one run live and sets it beside these: each head count on the multi-offset
recall task and on its "colours" control, over several seeds. Writes
attn_course/data/offset_recall_runs.json, one record a line (the per-step loss is left out; the
learning curve, the per-offset accuracy, each head's mass and the head ablation stay).

    python scripts/offset_recall_runs.py           # 2 tasks x H in 1, 2, 4 x seeds 0-4: ~4 min
    python scripts/offset_recall_runs.py --tasks colours --heads 1 --seeds 5 6 --add
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from attn_course.experiments.offsets import RUNS_FILE, TASKS, offset_recall, runs_table
from attn_course.experiments.shipped import run_parallel, with_earlier, write_results

OUT = Path(__file__).resolve().parent.parent / "attn_course" / "data" / RUNS_FILE


def _rounded(value):
    if isinstance(value, float):
        return round(value, 5)
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def _run(task: str, num_heads: int, seed: int, steps: int) -> dict:
    start = time.perf_counter()
    record = offset_recall(num_heads, steps=steps, seed=seed, progress=False, task=task)
    del record["loss"]
    print(
        f"{task} H={num_heads} seed={seed}: accuracy {record['accuracy']:.1%} "
        f"({time.perf_counter() - start:.0f}s)",
        flush=True,
    )
    return _rounded(record)


def _key(record: dict) -> tuple:
    return (TASKS.index(record["task"]), record["num_heads"], record["seed"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--heads", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(5)))
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2, help="processes, one torch thread each")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--add", action="store_true", help="keep the records already in --out, add these runs"
    )
    args = parser.parse_args()

    jobs = [(t, h, s, args.steps) for t in args.tasks for h in args.heads for s in args.seeds]
    records = run_parallel(_run, jobs, args.jobs)
    records = with_earlier(args.out, records, _key) if args.add else sorted(records, key=_key)
    payload = {
        "format": 1,
        "task": "attn_course.experiments.offsets.offset_recall (loss per step left out)",
        "steps": args.steps,
        "evaluate": {"n": 1024, "seed": 1234},
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, 1 CPU thread per run",
    }
    write_results(args.out, payload, records)
    print(runs_table(records))
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
