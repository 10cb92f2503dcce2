"""The head-count explorer in a real browser: JupyterLab 4 in headless Chromium, notebook 04.

Goals: a slider step shows the new picture within 150 ms for every head count (64 included);
the first render takes at most 1 s; a drag to 64 heads settles without a backlog of stale
pictures. Times are taken inside the page (see tests/ui/explorer_timing.py for exactly where
each one starts and ends):

  first render  running the explorer cell -> its picture shown, in a fresh kernel that has
                run the cells above it (cold: only the import cell)
  step          the slider's keydown -> the picture for the new head count decoded and painted;
                "first visit": the first time the slider asks for that state in the kernel,
                "revisit": a state it has shown before; "until src": the kernel and the
                messages both ways, "(kernel)": the explorer's own update time in it,
                "drawing": the browser's decoding, layout and paint. The kernel also says
                where each first visit's picture came from: "drawn" on demand, or "drawn
                ahead" while it was idle (--no-draw-ahead: never)
  drag to 64    press the handle at 1 head, drag to the end over ~0.3 s, let go;
                settle = letting go -> the last picture shown (the one for 64 heads)
  key burst     six ArrowRight presses 30 ms apart (1 -> 64); settle = last key -> last picture

Each run starts its own server and browser (tests/ui/conftest.py); the numbers printed are the
medians over the runs of each run's median. Needs Chromium (/usr/bin/chromium, or
ATTN_COURSE_CHROMIUM) and the playwright package; no `playwright install`.

    python benchmarks/bench_head_explorer_browser.py [--runs 3] [--rounds 3] [--first-renders 3]
        [--no-draw-ahead] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HARNESS = "tests/ui/explorer_timing.py"
STEP_GOAL_MS = 150.0
FIRST_RENDER_GOAL_MS = 1000.0
SETTLE_GOAL_MS = 150.0  # after letting go, the last picture comes like one step


def run_once(rounds: int, first_renders: int, draw_ahead: bool) -> dict:
    """One server, one browser, one notebook: the harness's measurements."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "timings.json"
        env = dict(
            os.environ,
            ATTN_COURSE_EXPLORER_TIMINGS=str(out),
            ATTN_COURSE_EXPLORER_ROUNDS=str(rounds),
            ATTN_COURSE_EXPLORER_FIRST_RENDERS=str(first_renders),
            ATTN_COURSE_EXPLORER_DRAW_AHEAD="1" if draw_ahead else "0",
        )
        command = [sys.executable, "-m", "pytest", HARNESS, "-q", "-p", "no:cacheprovider"]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0 or not out.exists():
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
            raise SystemExit(f"the browser run failed (exit {done.returncode}):\n{tail}")
        return json.loads(out.read_text())


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(run: dict) -> dict:
    """One run's medians: per head count (first visits, revisits) and overall."""
    steps = run["steps"]
    per_heads = {}
    for heads in run["head_options"]:
        mine = [s for s in steps if s["heads"] == heads]
        first = [s for s in mine if s["first_visit"]]
        again = [s for s in mine if not s["first_visit"]]
        per_heads[heads] = {
            "first_visit": median([s["step_ms"] for s in first]),
            "revisit": median([s["step_ms"] for s in again]),
            "all": median([s["step_ms"] for s in mine]),
            "worst": max((s["step_ms"] for s in mine), default=float("nan")),
            "until_src": median([s["until_src_ms"] for s in mine]),
            "kernel": median([s["kernel"]["update_ms"] or float("nan") for s in mine]),
            "drawing": median([s["drawing_ms"] for s in mine]),
        }
    work = {
        kind: median([s["main_thread_ms"][kind] for s in steps])
        for kind in steps[0]["main_thread_ms"]
    }
    sources = {}
    for s in steps:
        if s["first_visit"]:
            sources[s["kernel"]["picture"]] = sources.get(s["kernel"]["picture"], 0) + 1
    return {
        "first_visit_pictures": sources,
        "first_render": median(run["first_render_ms"]),
        "cold_first_render": median(run["cold_first_render_ms"]),
        "per_heads": per_heads,
        "main_thread": work,
        "drag_settle": median([d["settle_ms"] for d in run["drags"]]),
        "drag_from_press": median([d["from_press_ms"] for d in run["drags"]]),
        "drag_pictures": median([d["pictures"] for d in run["drags"]]),
        "burst_settle": median([b["settle_ms"] for b in run["bursts"]]),
        "burst_pictures": median([b["pictures"] for b in run["bursts"]]),
    }


def across(summaries: list[dict], *path) -> float:
    """The median over runs of one number, found in each summary by `path`."""
    values = []
    for summary in summaries:
        value = summary
        for key in path:
            value = value[key]
        values.append(value)
    return median(values)


def ratio(ms: float, goal: float) -> str:
    return f"{ms / goal:.2f}x goal ({'met' if ms <= goal else 'NOT met'})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="servers and browsers, one by one")
    parser.add_argument("--rounds", type=int, default=3, help="sweeps 1 -> 64 -> 1 per run")
    parser.add_argument("--first-renders", type=int, default=3, help="per run")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument(
        "--no-draw-ahead", action="store_true", help="the explorer draws nothing ahead when idle"
    )
    args = parser.parse_args()

    runs = []
    for i in range(args.runs):
        runs.append(run_once(args.rounds, args.first_renders, not args.no_draw_ahead))
        print(f"run {i + 1}/{args.runs} done", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    summaries = [summarize(run) for run in runs]
    options = runs[0]["head_options"]

    print(
        f"Head-count explorer in headless Chromium, JupyterLab, notebook 04: {args.runs} runs x "
        f"{args.rounds} rounds; medians over runs of each run's median; {os.cpu_count()} CPUs"
    )
    knows = any(s["kernel"]["picture"] != "?" for run in runs for s in run["steps"])
    ahead = ("on" if runs[0]["draw_ahead"] else "off") if knows else "not an option of it"
    print(f"kernel imported attn_course from {runs[0]['package']}; drawing ahead: {ahead}")
    first = across(summaries, "first_render")
    cold = across(summaries, "cold_first_render")
    print(f"first render (run cell -> picture shown, after the cells above): {first:.0f} ms, "
          f"{ratio(first, FIRST_RENDER_GOAL_MS)}; cold (after the imports alone): "
          f"{cold:.0f} ms, {ratio(cold, FIRST_RENDER_GOAL_MS)}")  # fmt: skip
    print(f"step (keydown -> new picture shown), goal <= {STEP_GOAL_MS:.0f} ms:")
    print("  heads  first visit  revisit   all  worst  until src  (kernel)  drawing  ratio (all)")
    worst_median = 0.0
    for heads in options:
        cols = [across(summaries, "per_heads", heads, k) for k in
                ("first_visit", "revisit", "all", "worst", "until_src", "kernel",
                 "drawing")]  # fmt: skip
        worst_median = max(worst_median, cols[2])
        print(
            f"  {heads:>5}  {cols[0]:>8.0f} ms  {cols[1]:>4.0f} ms  {cols[2]:>4.0f}"
            f"  {cols[3]:>5.0f}  {cols[4]:>6.0f} ms  {cols[5]:>5.0f} ms  {cols[6]:>4.0f} ms"
            f"  {cols[2] / STEP_GOAL_MS:.2f}x"
        )
    first_visits = [across(summaries, "per_heads", h, "first_visit") for h in options]
    first_visits = [ms for ms in first_visits if ms == ms]  # no NaN (1 head: never a first)
    print(f"  every head count: {ratio(worst_median, STEP_GOAL_MS)}; "
          f"slowest first visit {max(first_visits):.0f} ms, "
          f"{ratio(max(first_visits), STEP_GOAL_MS)}")  # fmt: skip
    sources: dict[str, int] = {}
    for summary in summaries:
        for source, n in summary["first_visit_pictures"].items():
            sources[source] = sources.get(source, 0) + n
    print("  pictures of the first visits, all runs: "
          + ", ".join(f"{source} {n}" for source, n in sorted(sources.items())))  # fmt: skip
    work = {k: across(summaries, "main_thread", k) for k in summaries[0]["main_thread"]}
    print("  browser main thread per step (incl. 0.4 s quiet after it): "
          + ", ".join(f"{k} {ms:.0f} ms" for k, ms in work.items()))  # fmt: skip
    settle = across(summaries, "drag_settle")
    print(
        f"drag 1 -> 64: settle {settle:.0f} ms after letting go, {ratio(settle, SETTLE_GOAL_MS)}; "
        f"{across(summaries, 'drag_from_press'):.0f} ms from the press; "
        f"{across(summaries, 'drag_pictures'):.0f} pictures shown"
    )
    burst = across(summaries, "burst_settle")
    print(
        f"key burst 1 -> 64 ({len(options) - 1} keys, 30 ms apart): settle {burst:.0f} ms after "
        f"the last key, {ratio(burst, SETTLE_GOAL_MS)}; "
        f"{across(summaries, 'burst_pictures'):.0f} pictures shown"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
