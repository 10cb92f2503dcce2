"""Grading many submissions: resumable, locked per submission, several kernels at once.

Each submission is graded under its lock file and its result written atomically as soon as it
is done, so a run killed at any moment loses only the submissions in flight, and a second
grader on the same OUTDIR skips what the first is working on. Reports are regenerated from
all stored results while the batch runs and once at the end.

`--jobs N` runs N grading threads, each owning one sandboxed kernel at a time. The work is in
the kernels (other processes); the grader's share (reading results, judging) is small, so
threads cost less than worker processes, which would each import torch again.
"""

from __future__ import annotations

import re
import sys
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from attn_course.grading.kernel import STOP
from attn_course.grading.reports import write_reports
from attn_course.grading.results import ItemResult, Store, SubmissionResult
from attn_course.grading.sandbox import sweep
from attn_course.grading.source import Assignment
from attn_course.grading.submission import file_sha256

if TYPE_CHECKING:
    from attn_course.grading.settings import Settings


@dataclass
class BatchReport:
    graded: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # being graded by another grader
    results: list[SubmissionResult] = field(default_factory=list)
    stale: int = 0  # stored results for another version of the source, left out
    seconds: float = 0.0


def _safe(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "_"
    return name[:120]


def discover(inputs: list[str | Path]) -> tuple[list[tuple[Path, str]], list[str]]:
    """Files to grade (folders: their *.ipynb, recursively) with a unique, safe name for each.

    The name is the file's stem; files with the same stem are told apart by their path inside
    the folder given (submitted/alice/ps1/01.ipynb -> alice__ps1__01).
    """
    files: list[tuple[Path, Path]] = []  # (file, path relative to the argument)
    warnings: list[str] = []
    seen: set[Path] = set()
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                f for f in path.rglob("*.ipynb")
                if not f.is_symlink() and f.is_file()
                and not any(part.startswith(".") for part in f.relative_to(path).parts)
            )
            if not found:
                warnings.append(f"{path}: no .ipynb files in this folder")
            candidates = [(f, f.relative_to(path)) for f in found]
        elif path.exists() or path.is_symlink():
            candidates = [(path, Path(path.parent.name) / path.name)]
        else:
            warnings.append(f"{path}: no such file or folder")
            candidates = []
        for f, rel in candidates:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                files.append((f, rel))
    stems: dict[str, int] = {}
    for f, _ in files:
        stems[_safe(f.stem)] = stems.get(_safe(f.stem), 0) + 1
    named: list[tuple[Path, str]] = []
    used: set[str] = set()
    for f, rel in files:
        name = _safe(f.stem)
        if stems[name] > 1:
            name = _safe("__".join(p for p in rel.with_suffix("").parts if p))
        base, n = name, 2
        while name in used:
            name, n = f"{base}-{n}", n + 1
        used.add(name)
        named.append((f, name))
    return named, warnings


def _grader_error(assignment: Assignment, path: Path, name: str, message: str) -> SubmissionResult:
    items = [ItemResult(i.grade_id, i.kind, i.points, None if i.kind == "manual" else 0.0,
                        "grader_error", message) for i in assignment.items]
    return SubmissionResult(name, str(path), file_sha256(path), assignment.name,
                            assignment.sha256, "grader_error", message, items)


def grade_one(assignment: Assignment, settings: Settings, outdir: Path, path: Path, name: str,
              force: bool) -> tuple[str, SubmissionResult | None]:
    """("graded" | "cached" | "busy", result) for one file, under its lock."""
    from attn_course.grading.grader import grade_submission

    store = Store(outdir)
    lock = store.lock(name)
    if not lock.acquire():
        return "busy", None
    try:
        if not force:
            cached = store.cached(name, file_sha256(path), assignment.sha256)
            if cached is not None:
                return "cached", cached
        try:
            result = grade_submission(assignment, path, name, settings)
        except Exception as exc:  # a bug of the grader: keep the batch going, retry next run
            detail = "".join(traceback.format_exception_only(exc)).strip()
            result = _grader_error(assignment, path, name, f"grader error: {detail}")
        store.save(result)
        return "graded", result
    finally:
        lock.release()


def _progress(total: int, initial: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="submission", desc="grading",
                file=sys.stderr, disable=not enabled, dynamic_ncols=True, mininterval=0.5)


def grade_batch(assignment: Assignment, files: list[tuple[Path, str]], outdir: Path,
                settings: Settings, *, jobs: int = 1, force: bool = False,
                progress: bool = True) -> BatchReport:
    """Grade `files` (path, name) into OUTDIR; returns what was graded, reused or skipped."""
    start = time.monotonic()
    outdir = Path(outdir)
    store = Store(outdir)
    store.prepare()
    sweep()
    report = BatchReport()
    todo: list[tuple[Path, str]] = []
    for path, name in files:
        if not force and store.cached(name, file_sha256(path), assignment.sha256) is not None:
            report.cached.append(name)
        else:
            todo.append((path, name))
    bar = _progress(len(files), len(report.cached), progress)
    last_report = 0.0

    def done(name: str, state: str) -> None:
        nonlocal last_report
        getattr(report, {"graded": "graded", "cached": "cached", "busy": "busy"}[state]).append(
            name)
        bar.update(1)
        if state == "graded" and time.monotonic() - last_report > 2.0:
            write_reports(store, assignment, manual_export=False, feedback_for=[name])
            last_report = time.monotonic()

    try:
        STOP.clear()
        if jobs <= 1 or len(todo) <= 1:
            for path, name in todo:
                state, _ = grade_one(assignment, settings, outdir, path, name, force)
                done(name, state)
        else:
            _run_threads(assignment, settings, outdir, todo, jobs, force, done)
    finally:
        bar.close()
        report.results, report.stale = write_reports(store, assignment)
        report.seconds = time.monotonic() - start
    return report


def _run_threads(assignment, settings, outdir, todo, jobs, force, done) -> None:
    """Grade `todo` in `jobs` threads; Ctrl-C stops every kernel and drops the work in flight."""
    with ThreadPoolExecutor(min(jobs, len(todo)), thread_name_prefix="grade") as pool:
        futures: dict[Future, tuple[Path, str]] = {
            pool.submit(grade_one, assignment, settings, outdir, path, name, force): (path, name)
            for path, name in todo
        }
        try:
            for future in as_completed(futures):
                path, name = futures[future]
                try:
                    state, _ = future.result()
                except Exception as exc:  # e.g. the disk is full: report it, keep going
                    state = _record_error(assignment, outdir, path, name,
                                          f"{type(exc).__name__}: {exc}")
                done(name, state)
        except KeyboardInterrupt:
            STOP.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _record_error(assignment, outdir, path, name, message) -> str:
    try:
        Store(outdir).save(_grader_error(assignment, path, name, f"grader error: {message}"))
    except OSError as exc:
        print(f"warning: {name}: {message}; the result could not be saved: {exc}",
              file=sys.stderr)
    return "graded"
