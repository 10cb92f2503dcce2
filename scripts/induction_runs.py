"""Train notebook 10's attention-only models over seeds; ship the results.

Writes attn_course/data/induction_runs.json, one record per run (`induction.run`): 1 and 2
layers of 4 heads, each head's induction and previous-token scores, the loss change on the
repeat when each head is ablated, the induction heads ablated together against as many heads at
random, and the training loss every 10 steps. No weights are saved (a run takes 8 s).

    python scripts/induction_runs.py                 # seeds 0-4, 2 jobs, about 1 minute
    python scripts/induction_runs.py --seeds 7 --out /tmp/check.json
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import torch

from attn_course.experiments.induction import RUNS_FILE, STEPS, run
from attn_course.experiments.shipped import run_parallel, with_earlier, write_results

OUT = Path(__file__).resolve().parent.parent / "attn_course" / "data" / RUNS_FILE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--add", action="store_true", help="keep the file's other runs")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    jobs = [(layers, seed, args.steps) for layers in args.layers for seed in args.seeds]
    records = run_parallel(run, jobs, processes=args.jobs)
    for r in records:
        print(f"{r['num_layers']} layer(s), seed {r['seed']}: accuracy {r['accuracy']:.3f}, "
              f"best induction score {max(max(row) for row in r['induction']):.2f}")
    if args.add:
        records = with_earlier(args.out, records, key=lambda r: (r["num_layers"], r["seed"]))
    header = {"format": 1, "steps": args.steps, "seeds": sorted({r["seed"] for r in records}),
              "machine": f"{platform.machine()}, 1 thread per run", "torch": torch.__version__}
    write_results(args.out, header, records)
    print(f"{len(records)} runs -> {args.out}")


if __name__ == "__main__":
    main()
