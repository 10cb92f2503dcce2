"""The head-count explorer's kernel side: what one update of the picture costs, without a browser.

For each head count (d_model 64), the explorer's update time (`explorer.update_ms`: weights,
picture, numbers line) when its picture must be drawn for a head count never shown before (a
new layout: the whole figure), drawn for a head count shown before with another input (a known
layout: only what changed), and kept from before (going back to it). No event loop runs here,
so nothing is drawn ahead and no change is put off. The browser's side, and the goals, are in
bench_head_explorer_browser.py; this shows where the kernel's share comes from.

    python benchmarks/bench_head_explorer.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

KERNEL_SHARE_MS = 100.0  # of the 150 ms a step may take; the rest is messages and the browser


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="sweeps over every head count")
    args = parser.parse_args()

    start = time.perf_counter()
    import torch

    from attn_course.viz.heads_png import forget_frames
    from attn_course.widgets import HeadExplorer
    from attn_course.widgets.head_explorer import SEQUENCES

    imported = time.perf_counter()
    explorer = HeadExplorer(draw_ahead=False)
    first = time.perf_counter() - imported
    print(f"{torch.get_num_threads()} torch threads; explorer built and drawn in {first:.2f} s "
          f"({imported - start:.2f} s of imports before)")  # fmt: skip

    heads = list(explorer.num_heads.options)
    sequences = list(SEQUENCES)
    times: dict[str, dict[int, list[float]]] = {k: {h: [] for h in heads} for k in
                                                ("new layout", "known layout", "kept")}  # fmt: skip
    for _ in range(args.rounds):
        forget_frames()  # every head count is a new layout again
        explorer.pictures.clear()
        for kind, sequence in (("new layout", sequences[0]), ("known layout", sequences[1])):
            with explorer.hold_render():
                explorer.sequence.value = sequence
                explorer.num_heads.value = heads[0]
            for h in heads[1:] + heads[:1]:  # heads[0] was drawn by the reset just above
                explorer.num_heads.value = h
                if h != heads[0]:
                    assert explorer.last_picture == "drawn", (kind, h, explorer.last_picture)
                    times[kind][h].append(explorer.update_ms)
        for h in heads[1:]:
            explorer.num_heads.value = h
            assert explorer.last_picture == "kept", (h, explorer.last_picture)
            times["kept"][h].append(explorer.update_ms)

    print("kernel update per head count, median ms (picture drawn for a new layout / for a "
          "known layout / kept):")  # fmt: skip
    for h in heads[1:]:
        cols = [statistics.median(times[k][h]) for k in ("new layout", "known layout", "kept")]
        print(f"  {h:>3} heads: {cols[0]:6.1f}  {cols[1]:6.1f}  {cols[2]:5.1f}")
    worst = max(statistics.median(times["known layout"][h]) for h in heads[1:])
    print(
        f"slowest picture of a known layout: {worst:.1f} ms, {worst / KERNEL_SHARE_MS:.2f}x the "
        f"kernel's share of a step ({KERNEL_SHARE_MS:.0f} ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
