"""Grading throughput: 2 jobs against 1, and the cost of the sandbox and out-of-kernel judging.

    python benchmarks/bench_grade.py [--n 20] [--baseline 5] [--source solutions/01_*.ipynb]

Builds N correct submissions of the source's student notebook, then measures in this run:
  - a bare nbclient execution (default kernel, no sandbox, checks judged in the kernel) of the
    rebuilt notebook, on the first `--baseline` submissions;
  - `grade_batch` with 1 job and with 2 jobs on all N (sandbox, probes, judging, result files).
Prints the per-submission ratio graded / bare (goal <= 1.25), the same against a bare run with
the sandbox's kernel settings (Agg backend, one BLAS thread: what isolation itself costs), and
the throughput ratio 2 jobs / 1 job (goal >= 1.6 on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from nbclient import NotebookClient

from attn_course.authoring.release import student_version
from attn_course.grading.batch import grade_batch
from attn_course.grading.grader import Settings
from attn_course.grading.rebuild import rebuild
from attn_course.grading.sandbox import bwrap_status
from attn_course.grading.source import load_source
from attn_course.grading.submission import read_submission

ROOT = Path(__file__).resolve().parents[1]
PER_SUBMISSION_GOAL = 1.25
JOBS_GOAL = 1.6


def write_submissions(source: Path, folder: Path, n: int) -> list[tuple[Path, str]]:
    """N student notebooks whose answer cells hold the source's own answers."""
    assignment = load_source(source)
    solved = {c.metadata.nbgrader.grade_id: c.source for c in assignment.notebook.cells
              if c.metadata.get("nbgrader", {}).get("grade_id") in assignment.answer_ids}
    student = json.loads(__import__("nbformat").writes(student_version(assignment.notebook)))
    files = []
    for i in range(n):
        nb = json.loads(json.dumps(student))
        for cell in nb["cells"]:
            grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
            if grade_id in solved:
                cell["source"] = solved[grade_id] + f"\n# submission {i}\n"
        path = folder / f"student{i:02d}.ipynb"
        path.write_text(json.dumps(nb))
        files.append((path, path.stem))
    return files


# What the sandboxed kernel sets besides isolation: figures are not rendered, one BLAS thread.
SAME_SETTINGS = {"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                 "OPENBLAS_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def bare_seconds(source: Path, files: list[tuple[Path, str]], env: dict | None = None) -> float:
    """Mean time of a plain nbclient run of each rebuilt notebook."""
    assignment = load_source(source)
    times = []
    for path, _ in files:
        nb = rebuild(assignment, read_submission(path, assignment.answer_ids)).notebook
        start = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute(
            env={**os.environ, **(env or {})})
        times.append(time.perf_counter() - start)
    return sum(times) / len(times)


def batch_seconds(source: Path, files, outdir: Path, jobs: int) -> float:
    assignment = load_source(source)
    start = time.perf_counter()
    report = grade_batch(assignment, files, outdir, Settings(), jobs=jobs, progress=False)
    seconds = time.perf_counter() - start
    failed = [r.submission for r in report.results
              if any(i.kind == "auto" and i.status != "passed" for i in r.items)]
    if failed:
        raise SystemExit(f"benchmark submissions did not pass: {failed}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path,
                        default=ROOT / "solutions" / "01_scaled_dot_product_attention.ipynb")
    parser.add_argument("--n", type=int, default=20, help="submissions per batch")
    parser.add_argument("--baseline", type=int, default=5, help="bare nbclient runs")
    args = parser.parse_args()

    print(f"sandbox: {bwrap_status()[1]}; cpus: {os.cpu_count()}; source: {args.source.name}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "subs"
        folder.mkdir()
        files = write_submissions(args.source, folder, args.n)
        bare = bare_seconds(args.source, files[: args.baseline])
        same = bare_seconds(args.source, files[: args.baseline], SAME_SETTINGS)
        one = batch_seconds(args.source, files, Path(tmp) / "out1", jobs=1)
        two = batch_seconds(args.source, files, Path(tmp) / "out2", jobs=2)
    per = one / args.n
    ratio = per / bare
    speedup = one / two
    print(f"bare nbclient run        : {bare:6.2f} s per submission (mean of {args.baseline})")
    print(f"  same, Agg + 1 thread   : {same:6.2f} s per submission (isolates the sandbox cost)")
    print(f"graded, 1 job            : {per:6.2f} s per submission ({one:.1f} s for {args.n})")
    print(f"graded, 2 jobs           : {two / args.n:6.2f} s per submission ({two:.1f} s)")
    print(f"per-submission ratio     : {ratio:.2f} (graded / bare, goal <= "
          f"{PER_SUBMISSION_GOAL}) {'ok' if ratio <= PER_SUBMISSION_GOAL else 'OVER'}")
    print(f"sandbox + judging cost   : {per / same:.2f} (graded / bare with the same kernel "
          "settings)")
    print(f"throughput 2 jobs / 1 job: {speedup:.2f} (goal >= {JOBS_GOAL}) "
          f"{'ok' if speedup >= JOBS_GOAL else 'UNDER'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
