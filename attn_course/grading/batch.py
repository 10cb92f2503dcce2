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

import hashlib
import os
import sys
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from attn_course.grading.kernel import STOP
from attn_course.grading.reports import rebuild_reports
from attn_course.grading.results import Store, SubmissionResult, grader_error_items, reusable
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
    replaced: list[str] = field(default_factory=list)  # the file changed since it was graded
    conflicts: list[str] = field(default_factory=list)  # the name holds another file's result
    unsaved: list[str] = field(default_factory=list)  # graded, but OUTDIR could not keep it
    problems: list[str] = field(default_factory=list)  # what went wrong writing OUTDIR
    results: list[SubmissionResult] = field(default_factory=list)
    stale: int = 0  # stored results for another version of the source, left out
    seconds: float = 0.0


SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
MAX_NAME = 150


def submission_name(relative: PurePath) -> str:
    """A file name for a submission, from its path relative to what was given, one to one.

    Folders are joined with "+", `.ipynb` is dropped, and every other character outside
    [A-Za-z0-9._-] (and a leading ".") is written %XX, so two paths never share a name:
    alice/ps1/01_attention.ipynb -> alice+ps1+01_attention. A name over `MAX_NAME` characters
    keeps its start and ends with a hash of the whole path.
    """
    parts = list(relative.parts)
    if parts and parts[-1].endswith(".ipynb"):
        parts[-1] = parts[-1][: -len(".ipynb")]

    def encode(part: str) -> str:
        out = "".join(ch if ch in SAFE else "".join(
            f"%{b:02X}" for b in ch.encode("utf-8", "surrogateescape"))  # bytes of no charset
            for ch in part)
        return "%2E" + out[1:] if out.startswith(".") else out

    name = "+".join(encode(p) for p in parts) or "%00"
    return _tagged(name) if len(name) > MAX_NAME else name


def _tagged(name: str) -> str:
    """`name` cut to fit `MAX_NAME`, ending "~" and a hash of all of it ("~" is written %7E in
    any other name, so a tagged name is like no other)."""
    return name[: MAX_NAME - 17] + "~" + hashlib.sha256(name.encode()).hexdigest()[:16]


def _case_distinct(names: list[str]) -> list[str]:
    """Names that differ in case only (Alice, alice) would share a result file where file
    names ignore case (macOS, Windows): those are tagged with a hash."""
    folded = Counter(n.casefold() for n in names)
    return [n if folded[n.casefold()] == 1 else _tagged(n) for n in names]


def _walk(root: Path, warnings: list[str]) -> Iterator[Path]:
    """The *.ipynb files under `root`, without recursion (any depth), links or hidden entries.

    A folder that cannot be listed (no permission, a path longer than the system allows) is
    named in `warnings` and skipped.
    """
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as error:
            shown = str(folder) if len(str(folder)) <= 200 else f"{str(folder)[:200]}…"
            warnings.append(f"{shown}: folder skipped ({error.strerror or error})")
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.name.endswith(".ipynb") and entry.is_file(follow_symlinks=False):
                yield Path(entry.path)


def discover(inputs: list[str | Path]) -> tuple[list[tuple[Path, str]], list[str]]:
    """Files to grade (folders: their *.ipynb at any depth) and a unique name for each.

    A name comes from the file's whole path below the folder given (a file given by itself:
    its name). Should two of this run's files still share a name (the same path below two
    folders), every name is taken from the path below the folders' common parent instead:
    batch1/s1.ipynb and late/s1.ipynb become batch1+s1 and late+s1.
    """
    files: list[tuple[Path, Path, Path]] = []  # (file, the argument, path below it)
    warnings: list[str] = []
    seen: set[Path] = set()
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found = [(f, path, f.relative_to(path)) for f in _walk(path, warnings)]
            if not found:
                warnings.append(f"{path}: no .ipynb files in this folder")
        elif path.exists() or path.is_symlink():
            found = [(path, path.parent, Path(path.name))]
        else:
            warnings.append(f"{path}: no such file or folder")
            found = []
        for f, base, rel in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                files.append((f, base, rel))
    names = [submission_name(rel) for _, _, rel in files]
    if len(set(names)) < len(names):
        common = Path(os.path.commonpath([str(b.resolve()) for _, b, _ in files]))
        names = [submission_name(f.resolve().relative_to(common)) for f, _, _ in files]
    names = _case_distinct(names)
    return [(f, name) for (f, _, _), name in zip(files, names, strict=True)], warnings


def _grader_error(assignment: Assignment, path: Path, name: str, message: str,
                  max_bytes: int) -> SubmissionResult:
    items = grader_error_items(assignment.items, message)
    return SubmissionResult(name, str(Path(path).resolve()), file_sha256(path, max_bytes),
                            assignment.name, assignment.sha256, "grader_error", message, items)


def grade_one(assignment: Assignment, settings: Settings, outdir: Path, path: Path, name: str,
              force: bool) -> tuple[str, SubmissionResult | None]:
    """("graded" | "cached" | "busy" | "unsaved", result) for one file, under its lock."""
    from attn_course.grading.grader import grade_submission

    store = Store(outdir)
    lock = store.lock(name)
    if not lock.acquire():
        return "busy", None
    try:
        if not force:
            cached = store.cached(name, file_sha256(path, settings.max_bytes), assignment.sha256)
            if cached is not None:
                return "cached", cached
        try:
            result = grade_submission(assignment, path, name, settings)
        except Exception as exc:  # a bug of the grader: keep the batch going, retry next run
            detail = "".join(traceback.format_exception_only(exc)).strip()
            result = _grader_error(assignment, path, name, f"grader error: {detail}",
                                   settings.max_bytes)
        try:
            store.save(result)
        except OSError as exc:  # a full disk: the machine's fault, graded again next run
            print(f"warning: {name}: the result could not be saved: {exc}", file=sys.stderr)
            return "unsaved", result
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
        stored = store.load(name)
        if stored is not None and not force:
            if Path(stored.file).resolve() != path.resolve():
                report.conflicts.append(f"{name}: {outdir} holds the result of {stored.file}, "
                                        f"not {path}")
                continue
            if reusable(stored, file_sha256(path, settings.max_bytes), assignment.sha256):
                report.cached.append(name)
                continue
            if stored.source_sha256 == assignment.sha256 and stored.cacheable:
                report.replaced.append(name)
        todo.append((path, name))
    bar = _progress(len(files), len(report.cached), progress)
    last_report = 0.0

    def done(name: str, state: str) -> None:
        nonlocal last_report
        getattr(report, state).append(name)
        bar.update(1)
        if state == "graded" and time.monotonic() - last_report > 2.0:
            _note(report, rebuild_reports(store, assignment, manual_export=False,
                                          feedback_for=[name])[2])
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
        report.results, report.stale, problem = rebuild_reports(store, assignment)
        _note(report, problem)
        report.seconds = time.monotonic() - start
    return report


def _note(report: BatchReport, problem: str) -> None:
    if problem:
        report.problems.append(problem)


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
                    state = _record_error(assignment, settings, outdir, path, name,
                                          f"{type(exc).__name__}: {exc}")
                done(name, state)
        except KeyboardInterrupt:
            STOP.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _record_error(assignment, settings, outdir, path, name, message) -> str:
    try:
        Store(outdir).save(_grader_error(assignment, path, name, f"grader error: {message}",
                                         settings.max_bytes))
    except OSError as exc:
        print(f"warning: {name}: {message}; the result could not be saved: {exc}",
              file=sys.stderr)
        return "unsaved"
    return "graded"
