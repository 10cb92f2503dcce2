"""Train every configuration notebook 07 shows over seeds; ship the results.

Writes attn_course/data/heads_sweep.json, one record per run (`heads_sweep.run`):
  sweep  multi-offset recall at width 64 with 1 .. 64 heads, and the lookup task at width 32
         with 1 .. 32 heads (its heads of size 1 cannot match keys by content); seed 0 keeps
         its attention maps for the explorer, and its importance and pruning curve at 8 heads;
  gqa    the lookup task at width 32 with 8 query heads and 1, 2, 4 or 8 K/V heads.
No weights are saved.

    python scripts/heads_sweep_runs.py                 # seeds 0-3, 2 jobs, about 8 minutes
    python scripts/heads_sweep_runs.py --add --seeds 4 5
    python scripts/heads_sweep_runs.py --kinds gqa --seeds 0 --out /tmp/check.json
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from attn_course.experiments.heads_sweep import SWEEP_FILE, run, summarize, sweep_table
from attn_course.experiments.shipped import run_parallel, with_earlier, write_results

OUT = Path(__file__).resolve().parent.parent / "attn_course" / "data" / SWEEP_FILE
STEPS = 1000
SWEEPS = {"offsets": (64, (1, 2, 4, 8, 16, 32, 64)), "lookup": (32, (1, 2, 4, 8, 16, 32))}
GQA = ("lookup", 32, 8, (1, 2, 4, 8))  # task, width, query heads, K/V heads


def _run(args: tuple) -> dict:
    kind, task, d_model, num_heads, kv_heads, seed, steps = args
    start = time.perf_counter()
    first = seed == 0 and kind == "sweep"
    record = run(num_heads, task=task, seed=seed, steps=steps, d_model=d_model,
                 kv_heads=kv_heads, maps=first, pruning=first and num_heads == 8)
    record["kind"] = kind
    print(f"{kind:<5} {task:<7} d={d_model} H={num_heads:>2} G={record['kv_heads']:>2} "
          f"seed={seed}: {record['accuracy']:.1%} ({time.perf_counter() - start:.0f}s)",
          flush=True)
    return record


def _key(r: dict) -> tuple:
    return r["kind"], r["task"], r["d_model"], r["num_heads"], r["kv_heads"], r["seed"]


def jobs(kinds, seeds, steps) -> list[tuple]:
    out = []
    if "sweep" in kinds:
        for task, (d_model, heads) in SWEEPS.items():
            out += [("sweep", task, d_model, h, h, s, steps) for h in heads for s in seeds]
    if "gqa" in kinds:
        task, d_model, h, groups = GQA
        out += [("gqa", task, d_model, h, g, s, steps) for g in groups for s in seeds]
    return sorted(out, key=lambda j: -j[3])  # the slow many-head runs first


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", choices=("sweep", "gqa"), default=["sweep", "gqa"])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(4)))
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--jobs", type=int, default=2, help="processes, one torch thread each")
    parser.add_argument("--add", action="store_true", help="keep the file's other runs")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    start = time.perf_counter()
    records = run_parallel(_run, [(j,) for j in jobs(args.kinds, args.seeds, args.steps)],
                           args.jobs)
    if args.add:
        records = with_earlier(args.out, records, _key)
    records = sorted(records, key=_key)
    header = {"format": 1, "task": "attn_course.experiments.heads_sweep.run",
              "steps": args.steps, "sweeps": {t: {"d_model": d, "head_counts": list(h)}
                                              for t, (d, h) in SWEEPS.items()},
              "gqa": {"task": GQA[0], "d_model": GQA[1], "num_heads": GQA[2],
                      "kv_heads": list(GQA[3])},
              "torch": torch.__version__,
              "machine": f"{platform.machine()}, 1 CPU thread per run"}
    write_results(args.out, header, records)
    for task in SWEEPS:
        print(f"\n{task}:\n" + sweep_table(summarize(
            [r for r in records if r["kind"] == "sweep" and r["task"] == task])))
    print("\ngqa:\n" + sweep_table(summarize([r for r in records if r["kind"] == "gqa"],
                                            "kv_heads"), "kv_heads"))
    print(f"\nwrote {args.out} in {time.perf_counter() - start:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
