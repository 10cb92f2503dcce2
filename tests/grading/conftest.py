"""One graded batch of the whole corpus (two parallel jobs), shared by the grading tests."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.grading import corpus

# The command line as `python -m`: the same code as the `attn-course` script, wherever pip put
# the scripts (a GPU node installs into a --target folder).
CLI = [sys.executable, "-m", "attn_course.cli"]


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def sandbox_processes() -> list[int]:
    """PIDs of the processes of any sandbox (must be none once grading is over).

    Every sandboxed process names its sandbox folder (`attn-grade-*`, under the sandboxes'
    scratch folder) in its command line: the launcher, bwrap and the kernel alike, with or without
    bwrap. When the grader runs as root, sandboxes also run under user ids of their own.
    """
    from attn_course.grading.sandbox import PREFIX, UID_BASE, UID_SLOTS, scratch_dir

    marker = (scratch_dir() / PREFIX).as_posix().encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        uid = next((int(ln.split()[1]) for ln in status.splitlines()
                    if ln.startswith("Uid:")), -1)
        if marker in cmdline or UID_BASE <= uid < UID_BASE + UID_SLOTS:
            pids.append(int(entry))
    return pids


@dataclass
class Batch:
    folder: Path
    outdir: Path
    proc: subprocess.CompletedProcess
    rows: list[dict]
    doc: dict
    sandboxed: bool

    def row(self, submission: str, grade_id: str) -> dict:
        return next(r for r in self.rows
                    if r["submission"] == submission and r["grade_id"] == grade_id)

    def result(self, submission: str) -> dict:
        return next(s for s in self.doc["submissions"] if s["submission"] == submission)


def _grade_corpus(root: Path, *extra: str, only: set[str] | None = None) -> Batch:
    from attn_course.grading.sandbox import bwrap_status

    folder, outdir = root / "submissions", root / "out"
    paths = corpus.build(folder, outdir)
    targets = [str(p) for p in paths if only is None or p.stem in only]
    proc = run_cli("grade", "--source", str(corpus.SOURCE), "--out", str(outdir),
                   "--jobs", "2", "--timeout", "10", "--submission-timeout", "120",
                   "--memory-limit", "2G", "--max-submission-size", "12M", *extra, *targets)
    rows = []
    if (outdir / "grades.csv").exists():
        with open(outdir / "grades.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    doc = json.loads((outdir / "grades.json").read_text()) if (outdir / "grades.json").exists() \
        else {}
    return Batch(folder, outdir, proc, rows, doc, bwrap_status()[0])


@pytest.fixture(scope="session")
def batch(tmp_path_factory) -> Batch:
    """Every submission of the corpus, graded as a class is (the answer policy on)."""
    return _grade_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def unchecked(tmp_path_factory) -> Batch:
    """The submissions the answer policy refuses, graded without it: the sandbox and the
    out-of-kernel judge must hold on their own, and a correct submission graded alongside
    them keeps its marks."""
    refused = {name for name, expect in corpus.EXPECT.items() if expect.policy}
    refused.add("reference")
    return _grade_corpus(tmp_path_factory.mktemp("unchecked"), "--no-answer-policy",
                         only=refused)
