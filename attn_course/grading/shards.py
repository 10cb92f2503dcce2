"""Grading beyond one machine: each grader takes a fixed share of the batch, then the shares join.

    attn-course grade --shard 3/8 --out part-3 ... SUBMISSIONS   grades share 3 of 8
    attn-course grade --out all --merge part-1 ... part-8          joins the shares

A submission belongs to share ``1 + sha256(name) mod N``: every grader that is given the same
folders finds the same names, so the N shares cover the batch exactly once, whatever machine
each runs on and in whatever order. Merging copies each share's results into one OUTDIR, never
replacing a result of another file silently, and rebuilds the reports from them.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

from attn_course.grading import manual
from attn_course.grading.results import Store, SubmissionResult
from attn_course.grading.source import Assignment


def parse_shard(text: str) -> tuple[int, int]:
    """"K/N" -> (K, N), with 1 <= K <= N; ValueError with the reason otherwise."""
    k, sep, n = text.partition("/")
    try:
        part, parts = int(k), int(n)
    except ValueError:
        part = parts = 0
    if not sep or not 1 <= part <= parts:
        raise ValueError(f"--shard {text!r}: expected K/N with 1 <= K <= N, e.g. --shard 2/8 "
                         "(share 2 of 8)")
    return part, parts


def shard_of(name: str, parts: int) -> int:
    """The share (1..parts) that grades the submission called `name`."""
    return 1 + int(hashlib.sha256(name.encode()).hexdigest(), 16) % parts


@dataclass
class MergeReport:
    copied: list[str] = field(default_factory=list)
    same: list[str] = field(default_factory=list)  # already in OUTDIR, identical
    replaced: list[str] = field(default_factory=list)  # a newer grading of the same file
    kept: list[str] = field(default_factory=list)  # OUTDIR's result is the newer one
    conflicts: list[str] = field(default_factory=list)  # another file under the same name
    busy: list[str] = field(default_factory=list)  # being graded into OUTDIR right now
    stale: int = 0  # graded against another version of the source
    unreadable: list[str] = field(default_factory=list)
    unsaved: list[str] = field(default_factory=list)  # OUTDIR could not hold them (disk full)
    scores: int = 0  # manual scores taken over
    score_conflicts: list[str] = field(default_factory=list)


def _better(new: SubmissionResult, old: SubmissionResult) -> bool:
    """Whether `new` (the same file's grading) should replace `old`: a failed grading never
    replaces a real one; otherwise the later grading wins."""
    if new.cacheable != old.cacheable:
        return new.cacheable
    return new.graded_at > old.graded_at


def merge(store: Store, assignment: Assignment, parts: list[Path], *,
          force: bool = False) -> MergeReport:
    """Copy every result of `parts` (OUTDIRs graded from the same source) into `store`.

    A name that holds the result of another file, in OUTDIR or in an earlier part, is a
    conflict: left as it is unless `force`, when the part's result replaces it. Manual scores
    are joined the same way. The caller rebuilds the reports.
    """
    report = MergeReport()
    for part in parts:
        source = Store(Path(part))
        for path in sorted(source.results.glob("*.json")):
            result = source.load(path.stem)
            if result is None or result.submission != path.stem:
                report.unreadable.append(str(path))
                continue
            if result.source_sha256 != assignment.sha256:
                report.stale += 1
                continue
            _merge_one(store, result, part, report, force)
        _merge_scores(store, source, report, force)
    return report


def _merge_one(store: Store, result: SubmissionResult, part: Path, report: MergeReport,
               force: bool) -> None:
    name = result.submission
    lock = store.lock(name)
    if not lock.acquire():
        report.busy.append(name)
        return
    try:
        old = store.load(name)
        if old is None:
            store.save(result)
            report.copied.append(name)
        elif old.to_dict() == result.to_dict():
            report.same.append(name)
        elif old.file != result.file and not force:
            report.conflicts.append(f"{name}: {store.outdir} holds the result of {old.file}, "
                                    f"{part} that of {result.file}")
        elif force or _better(result, old):
            store.save(result)
            report.replaced.append(name)
        else:
            report.kept.append(name)
    except OSError as exc:
        report.unsaved.append(f"{name} ({exc})")
    finally:
        lock.release()


def _merge_scores(store: Store, source: Store, report: MergeReport, force: bool) -> None:
    given = manual.stored_scores(source.outdir)
    if not given:
        return
    have = manual.stored_scores(store.outdir)
    new: dict[str, dict[str, float]] = {}
    for submission, items in given.items():
        if not isinstance(items, dict):
            continue
        for grade_id, score in items.items():
            if not isinstance(score, int | float) or not math.isfinite(score):
                continue
            old = have.get(submission, {}).get(grade_id)
            if old is not None and old != score and not force:
                report.score_conflicts.append(
                    f"{submission} {grade_id}: {store.outdir} has {old:g}, "
                    f"{source.outdir} {score:g}")
                continue
            if old != score:
                new.setdefault(submission, {})[grade_id] = score
                report.scores += 1
    if new:
        try:
            manual.store_scores(store.outdir, new)
        except OSError as exc:
            report.unsaved.append(f"the manual scores of {source.outdir} ({exc})")
            report.scores -= sum(len(items) for items in new.values())


def describe(report: MergeReport, parts: list[Path]) -> list[str]:
    """What the merge did, as lines for the instructor (warnings start with 'warning:')."""
    lines = [f"Merged {len(parts)} part(s): {len(report.copied)} result(s) copied, "
             f"{len(report.replaced)} replaced by a later grading of the same file, "
             f"{len(report.same) + len(report.kept)} already here."]
    if report.scores:
        lines.append(f"Took over {report.scores} manual score(s).")
    if report.stale:
        lines.append(f"warning: {report.stale} result(s) were graded against another version of "
                     "the source and were left out.")
    for name in report.busy:
        lines.append(f"warning: {name} is being graded into this OUTDIR right now: not merged.")
    for path in report.unreadable:
        lines.append(f"warning: {path} is not a result file of this version of attn-course: "
                     "left out (grade that part again).")
    for what in report.unsaved:
        lines.append(f"warning: not merged, {what}: is the disk full? Merge again with space "
                     "to spare.")
    for conflict in report.conflicts + report.score_conflicts:
        lines.append(f"warning: not merged, {conflict}: pass --force to take the part's.")
    return lines

