"""Draw the README's figures from the course's own results, so they never go stale.

    python scripts/figures.py [--out docs/figures]      (or: make figures)

- heads_sweep.png   accuracy and step time against the number of heads (notebook 07, shipped)
- copy_memory.png   Transformer, LSTM and CNN against the distance to recall (notebook 05, shipped)
- flash_memory.png  naive against flash attention's memory and time against N (notebook 08,
                    measured now on this machine: its name is in the figure's title)
- induction.png     induction heads need two layers, and ablating them (notebook 10, shipped)

Each figure is drawn by `attn_course.viz` from the same data the notebooks use; a caption file
(`captions.json`) records what each shows and where it was measured.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from attn_course import viz
from attn_course.experiments import copy_memory as cm
from attn_course.experiments.flash_cost import flash_cost
from attn_course.experiments.heads_sweep import load_sweep, summarize
from attn_course.experiments.induction import load_induction_runs

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    return f"{platform.machine()}, {torch.get_num_threads()} CPU threads, torch {torch.__version__}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "figures")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    captions = {}

    records = load_sweep()["records"]
    sweeps = {"multi-offset recall, width 64": summarize(
        [r for r in records if r["kind"] == "sweep" and r["task"] == "offsets"]),
        "key-value lookup, width 32": summarize(
        [r for r in records if r["kind"] == "sweep" and r["task"] == "lookup"])}
    fig = viz.plot_heads_sweep(sweeps, pyplot=False)
    (args.out / "heads_sweep.png").write_bytes(viz.png_bytes(fig, dpi=90))
    captions["heads_sweep.png"] = ("Notebook 07: accuracy (mean ± sd over 4 seeds) and step time "
                                   "against the number of heads at a fixed width; shipped runs")

    fig = viz.plot_copy_memory(cm.summarize(cm.load_copy_results()["records"]), pyplot=False)
    (args.out / "copy_memory.png").write_bytes(viz.png_bytes(fig, dpi=90))
    captions["copy_memory.png"] = ("Notebook 05: recall against the distance to the symbols, "
                                   "Transformer, LSTM and CNN at the same parameter budget "
                                   "(mean ± sd over 4 seeds); shipped runs")

    cost = flash_cost((512, 1024, 2048, 4096), heads=4, progress=False)
    fig = viz.plot_flash_cost(cost, pyplot=False)
    (args.out / "flash_memory.png").write_bytes(viz.png_bytes(fig, dpi=90))
    captions["flash_memory.png"] = (f"Notebook 08: extra memory and time of naive and flash "
                                    f"attention against N, 4 heads of 64, float32; measured on "
                                    f"{machine()}")

    runs = load_induction_runs()
    fig = viz.plot_induction(runs["records"], pyplot=False)
    (args.out / "induction.png").write_bytes(viz.png_bytes(fig, dpi=90))
    captions["induction.png"] = (f"Notebook 10: the best induction score per layer of 1- and "
                                 f"2-layer attention-only models, and the loss on the repeated "
                                 f"half with heads ablated (mean ± sd over {len(runs['seeds'])} "
                                 f"seeds); shipped runs")

    (args.out / "captions.json").write_text(json.dumps(captions, indent=1) + "\n")
    for name, caption in captions.items():
        print(f"{args.out / name}: {caption}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
