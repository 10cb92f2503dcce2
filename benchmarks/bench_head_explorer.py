"""Responsiveness of the head-count explorer: first render and each head-count change.

Goals on a 2-core CPU: first render <= 3 s (imports, model loaded from disk, first picture);
median head-count change <= 150 ms (maps, PNG and timing line recomputed).

    python benchmarks/bench_head_explorer.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

FIRST_RENDER_GOAL_S = 3.0
CHANGE_GOAL_MS = 150.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="sweeps over every head count")
    parser.add_argument("--d-model", type=int, default=64)
    args = parser.parse_args()

    start = time.perf_counter()
    import torch

    from attn_course.widgets import HeadExplorer

    imported = time.perf_counter()
    explorer = HeadExplorer(d_model=args.d_model)
    first = time.perf_counter() - imported
    total = first + imported - start
    print(f"{torch.get_num_threads()} torch threads")
    print(
        f"first render: {first:.2f} s, {total:.2f} s with the imports (torch, matplotlib, "
        f"ipywidgets) (goal <= {FIRST_RENDER_GOAL_S:.0f} s with the imports): "
        f"{'met' if total <= FIRST_RENDER_GOAL_S else 'NOT met'}"
    )

    heads = list(explorer.num_heads.options)
    per_head: dict[int, list[float]] = {h: [] for h in heads}
    for _ in range(args.rounds):
        for h in heads[1:] + heads[:1]:  # every change moves to a new value
            t0 = time.perf_counter()
            explorer.num_heads.value = h
            per_head[h].append((time.perf_counter() - t0) * 1e3)
    for h, times in per_head.items():
        print(
            f"  {h:>3} heads: median {statistics.median(times):6.1f} ms, "
            f"first visit {times[0]:6.1f} ms"
        )
    all_times = [t for times in per_head.values() for t in times]
    median = statistics.median(all_times)
    print(
        f"head-count change: median {median:.1f} ms over {len(all_times)} changes, "
        f"max {max(all_times):.1f} ms (goal median <= {CHANGE_GOAL_MS:.0f} ms): "
        f"{'met' if median <= CHANGE_GOAL_MS else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
