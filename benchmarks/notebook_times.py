"""How long each solution notebook takes top to bottom, against its 90 s budget on a 2-core CPU.

    python benchmarks/notebook_times.py [solutions/01_*.ipynb ...]

Prints one line per notebook with the time and the ratio to the budget (≤ 1.00 meets it). The
kernel start-up is measured alone first and reported, since a student pays it once per session.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from attn_course.authoring.execute import run_notebook
from attn_course.authoring.release import source_notebooks

BUDGET_S = 90.0
ROOT = Path(__file__).resolve().parents[1]


def timed_run(nb, cwd) -> float:
    start = time.perf_counter()
    run_notebook(nb, cwd, timeout=600)
    return time.perf_counter() - start


def main(paths: list[str]) -> None:
    notebooks = [Path(p) for p in paths] or source_notebooks(ROOT / "solutions")
    empty = timed_run(new_notebook(cells=[new_code_cell("pass")]), ROOT)
    print(f"kernel start-up alone: {empty:.1f} s")
    print(f"{'notebook':45s} {'time':>8s} {'budget':>8s} {'ratio':>6s}")
    for path in notebooks:
        seconds = timed_run(nbformat.read(path, as_version=4), path.parent)
        verdict = "ok" if seconds <= BUDGET_S else "OVER BUDGET"
        ratio = seconds / BUDGET_S
        print(f"{path.name:45s} {seconds:7.1f}s {BUDGET_S:7.0f}s {ratio:6.2f} {verdict}")


if __name__ == "__main__":
    main(sys.argv[1:])
