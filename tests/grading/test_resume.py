"""Nothing lost: a grader killed with SIGKILL resumes, two graders share an OUTDIR safely."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.grading import corpus
from tests.grading.conftest import CLI, run_cli, sandbox_processes

pytestmark = pytest.mark.slow

ANSWERS = {"ref": corpus.CORRECT, "textbook": corpus.TEXTBOOK, "blank": None}


def _submissions(folder: Path) -> Path:
    folder.mkdir()
    for name, answer in ANSWERS.items():
        (folder / f"{name}.ipynb").write_bytes(corpus.dump(corpus.filled(answer)))
    return folder


def _grade_args(folder: Path, outdir: Path, jobs: int) -> list[str]:
    return ["grade", "--source", str(corpus.SOURCE), "--out", str(outdir), "--jobs", str(jobs),
            "--timeout", "30", "-q", str(folder)]


def _counts(stdout: str) -> tuple[int, int, int]:
    m = re.search(r"Graded (\d+), reused (\d+)(?: earlier result\(s\))?"
                  r"(?:, skipped (\d+))?", stdout)
    assert m, stdout
    return int(m[1]), int(m[2]), int(m[3] or 0)


def _rows(outdir: Path) -> list[dict]:
    with open(outdir / "grades.csv", newline="") as f:
        return list(csv.DictReader(f))


def _wait_no_sandbox(seconds: float = 15) -> list[int]:
    end = time.monotonic() + seconds
    while sandbox_processes() and time.monotonic() < end:
        time.sleep(0.2)
    return sandbox_processes()


@pytest.mark.parametrize("mode", ["bwrap", "rlimits"])
def test_the_process_scan_sees_a_live_sandbox(mode):
    from attn_course.grading.kernel import Kernel
    from attn_course.grading.sandbox import Limits, Sandbox, bwrap_status

    if mode == "bwrap" and not bwrap_status()[0]:
        pytest.skip(bwrap_status()[1])
    with Sandbox(Limits(), mode=mode) as sandbox:
        kernel = Kernel(sandbox)
        try:
            assert sandbox_processes(), "a running sandbox must be seen"
        finally:
            kernel.shutdown()
    assert _wait_no_sandbox() == []


def test_sigkill_mid_batch_loses_only_the_submissions_in_flight(tmp_path):
    folder, outdir = _submissions(tmp_path / "subs"), tmp_path / "out"
    proc = subprocess.Popen([*CLI, *_grade_args(folder, outdir, 2)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    results = outdir / "results"
    try:
        end = time.monotonic() + 180
        while time.monotonic() < end and not (results.exists() and any(results.glob("*.json"))):
            time.sleep(0.1)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done = {p.name: p.stat().st_mtime_ns for p in results.glob("*.json")}
    assert 1 <= len(done) < len(ANSWERS)
    assert not list(results.glob(".*.tmp")), "a half-written result was left behind"
    assert _wait_no_sandbox() == [], "the sandboxes must die with the grader"

    again = run_cli(*_grade_args(folder, outdir, 2))
    assert again.returncode == 0, again.stderr
    graded, reused, _ = _counts(again.stdout)
    assert (graded, reused) == (len(ANSWERS) - len(done), len(done))
    for name, mtime in done.items():
        assert (results / name).stat().st_mtime_ns == mtime  # not graded twice
    from attn_course.grading.sandbox import sweep

    assert sweep() == 0, "the rerun removes the sandbox folders of the killed grader"
    rows = _rows(outdir)
    assert len(rows) == 2 * len(ANSWERS)
    assert {r["submission"] for r in rows} == set(ANSWERS)


def test_two_graders_on_one_outdir_grade_each_submission_once(tmp_path):
    folder, outdir = _submissions(tmp_path / "subs"), tmp_path / "out"
    procs = [subprocess.Popen([*CLI, *_grade_args(folder, outdir, 1)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    counts = [_counts(out) for out, _ in outs]
    assert sum(c[0] for c in counts) == len(ANSWERS), counts  # each graded exactly once
    rows = _rows(outdir)
    assert len(rows) == 2 * len(ANSWERS)
    scores = {r["submission"]: r["score"] for r in rows if r["grade_id"] == corpus.TEST}
    assert scores == {"ref": "3", "textbook": "0", "blank": "0"}
    assert not list(outdir.rglob(".*.tmp"))


def test_force_grades_again(tmp_path):
    folder, outdir = tmp_path / "subs", tmp_path / "out"
    folder.mkdir()
    (folder / "ref.ipynb").write_bytes(corpus.dump(corpus.filled(corpus.TEXTBOOK)))
    assert run_cli(*_grade_args(folder, outdir, 1)).returncode == 0
    first = (outdir / "results" / "ref.json").stat().st_mtime_ns
    again = run_cli(*_grade_args(folder, outdir, 1), "--force")
    assert _counts(again.stdout)[:2] == (1, 0)
    assert (outdir / "results" / "ref.json").stat().st_mtime_ns != first
