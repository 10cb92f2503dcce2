"""What the instructor and the students read: grades.csv, grades_by_student.csv, grades.json,
feedback (feedback.py), a summary.

All of it is regenerated from the per-submission results (OUTDIR/results/*.json) under an
exclusive lock and written atomically, so it is always complete and consistent, whichever
grader wrote last.
"""

from __future__ import annotations

import json
from collections import Counter

from attn_course.grading import manual
from attn_course.grading.feedback import MAX_MESSAGE, feedback_html
from attn_course.grading.results import (
    Lock,
    Store,
    SubmissionResult,
    atomic_write,
    totals,
    write_csv,
)
from attn_course.grading.source import Assignment
from attn_course.grading.titles import titles

COLUMNS = ["submission", "grade_id", "kind", "score", "max_score", "status", "message"]
# nbgrader's `nbgrader export` (CsvExportPlugin) columns, then what shows pending written answers
BY_STUDENT = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
              "email", "raw_score", "late_submission_penalty", "score", "max_score",
              "needs_manual_grade", "manual_pending"]


def _fmt(score: float | None) -> str:
    return "" if score is None else f"{score:g}"


def one_line(text: str) -> str:
    """`text`'s non-empty lines joined by " | ": one CSV row per item, whatever reads it."""
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())


def current_results(store: Store, assignment: Assignment) -> tuple[list[SubmissionResult], int]:
    """Results graded against this version of the source (and how many others were ignored)."""
    results, stale = [], 0
    for result in store.all():
        if result.source_sha256 == assignment.sha256:
            results.append(result)
        else:
            stale += 1
    scores = manual.stored_scores(store.outdir)
    for result in results:
        manual.apply_scores(result, scores)
    return results, stale


def grades_csv(results: list[SubmissionResult]) -> str:
    """One row per item and submission; messages on one line (grades.json has them whole)."""
    rows = [COLUMNS]
    for result in results:
        for item in result.items:
            rows.append([result.submission, item.grade_id, item.kind, _fmt(item.score),
                         f"{item.max_score:g}", item.status,
                         one_line(item.message[:MAX_MESSAGE])])
    return write_csv(rows)


def by_student_csv(assignment: Assignment, results: list[SubmissionResult]) -> str:
    """One row per submission, in `nbgrader export`'s columns: student_id is the submission's
    name, the assignment the source's file name without .ipynb. raw_score and score count what
    is graded so far (as nbgrader's do); needs_manual_grade and manual_pending say what is not."""
    rows = [BY_STUDENT]
    for result in results:
        t = totals(result)
        rows.append([assignment.name, "", "", result.submission, "", "", "", f"{t.score:g}",
                     "0", f"{t.score:g}", f"{assignment.max_score:g}",
                     str(t.pending > 0), str(t.pending)])
    return write_csv(rows)


def grades_json(assignment: Assignment, results: list[SubmissionResult]) -> str:
    subs = []
    for result in results:
        t = totals(result)
        subs.append({
            "submission": result.submission, "file": result.file, "sha256": result.sha256,
            "status": result.status, "message": result.message, "score": t.score,
            "max_score": t.max_score, "manual_pending": t.pending,
            "pending_points": t.pending_points, "sandbox": result.sandbox,
            "memory": result.memory, "gpu": result.gpu,
            "graded_at": result.graded_at, "seconds": round(result.seconds, 2),
            "notes": result.notes,
            "items": [{"grade_id": i.grade_id, "kind": i.kind, "score": i.score,
                       "max_score": i.max_score, "status": i.status,
                       "message": i.message[:MAX_MESSAGE], "error": i.error[:MAX_MESSAGE]}
                      for i in result.items],
        })
    names = titles(assignment)
    doc = {
        "source": assignment.name, "source_sha256": assignment.sha256,
        "max_score": assignment.max_score,
        "items": [{"grade_id": i.grade_id, "title": names[i.grade_id], "kind": i.kind,
                   "max_score": i.points} for i in assignment.items],
        "submissions": subs,
    }
    return json.dumps(doc, indent=1)


def write_reports(store: Store, assignment: Assignment, *, manual_export: bool = True,
                  feedback_for: list[str] | None = None) -> tuple[list[SubmissionResult], int]:
    """Regenerate grades.csv, grades_by_student.csv, grades.json, feedback (all, or
    `feedback_for`) and manual/."""
    with Lock(store.outdir / ".lock", blocking=True):
        results, stale = current_results(store, assignment)
        atomic_write(store.outdir / "grades.csv", grades_csv(results))
        atomic_write(store.outdir / "grades_by_student.csv", by_student_csv(assignment, results))
        atomic_write(store.outdir / "grades.json", grades_json(assignment, results))
        folder = store.outdir / "feedback"
        folder.mkdir(exist_ok=True)
        for result in results:
            if feedback_for is None or result.submission in feedback_for:
                atomic_write(folder / f"{result.submission}.html",
                             feedback_html(assignment, result))
        if manual_export:
            manual.export(store.outdir, assignment, results)
    return results, stale


def rebuild_reports(store: Store, assignment: Assignment, **options
                    ) -> tuple[list[SubmissionResult], int, str]:
    """`write_reports`, where a full disk is said rather than raised: (results, stale, problem),
    the problem "" when the reports were written. The results already saved stay."""
    try:
        return (*write_reports(store, assignment, **options), "")
    except OSError as exc:
        return (*current_results(store, assignment), f"the reports could not be written: {exc}")


def how_run(results: list[SubmissionResult], names: list[str], wants_gpu: bool) -> str:
    """One line: the sandbox, memory limit and GPU use of the submissions graded in this run."""
    graded = [r for r in results if r.submission in names and r.sandbox]
    if not graded:
        return "Sandbox: no kernel was started in this run."
    sandboxes = sorted({r.sandbox for r in graded})
    memory = sorted({r.memory for r in graded if r.memory})
    gpus = sorted({r.gpu for r in graded if r.gpu})
    line = (f"Sandbox: {', '.join(sandboxes)}; memory limit per kernel: "
            f"{'; '.join(memory) or 'none'}")
    if gpus:
        line += f"; one submission at a time on each GPU ({', '.join(gpus)})"
    elif wants_gpu:
        line += "; the source asks for a GPU, none was found: graded on the CPU"
    return line + "."


def summary(assignment: Assignment, results: list[SubmissionResult]) -> str:
    """A plain-text table: per item the mean and the count of each status; the spread of the
    totals. Written answers still to be graded are pending, never 0: submissions with some are
    left out of the total and its spread, and the autograded part is shown for every one."""
    if not results:
        return "No graded submissions yet."
    lines = [f"{'item':<24} {'kind':<6} {'max':>5} {'mean':>6}  statuses"]
    for item in assignment.items:
        got = [i for r in results for i in r.items if i.grade_id == item.grade_id]
        scored = [i.score for i in got if i.score is not None]
        mean = f"{sum(scored) / len(scored):.2f}" if scored else "-"
        counts = Counter(i.status for i in got)
        statuses = ", ".join(f"{k} {v}" for k, v in counts.most_common())
        lines.append(f"{item.grade_id[:24]:<24} {item.kind:<6} {item.points:>5g} {mean:>6}  "
                     f"{statuses}")
    complete = [totals(r).score for r in results if not totals(r).pending]
    top = assignment.max_score
    mean = f"{sum(complete) / len(complete):.2f}" if complete else "-"
    waiting = len(results) - len(complete)
    shown = f"  ({len(complete)} fully graded)" if waiting else ""
    lines.append(f"{'total':<24} {'':<6} {top:>5g} {mean:>6}{shown}")
    if complete:
        lines.append(f"Score distribution ({len(complete)} fully graded submissions): "
                     f"{_spread(complete, top)}")
    if waiting:
        pending = sum(totals(r).pending for r in results)
        lines.append(f"Pending: {waiting} submission(s) have written answers still to be graded "
                     f"by hand ({pending} answer(s)); their totals are left out until the scores "
                     "are merged with --manual-scores.")
        auto_top = sum(i.points for i in assignment.items if i.kind == "auto")
        auto = [sum(i.score or 0.0 for i in r.items if i.kind == "auto") for r in results]
        lines.append(f"Autograded part, {auto_top:g} points ({len(results)} submissions): "
                     f"mean {sum(auto) / len(auto):.2f}; {_spread(auto, auto_top)}")
    problems = Counter(r.status for r in results if r.status != "graded")
    if problems:
        lines.append("Not graded normally: " + ", ".join(f"{k} {v}" for k, v in
                                                         problems.most_common()))
    return "\n".join(lines)


def _spread(scores: list[float], top: float) -> str:
    """How many scores fall in each fifth of `top`."""
    bins = Counter(min(4, int(5 * s / top)) if top else 0 for s in scores)
    return "  ".join(f"{100 * b // 5}-{100 * (b + 1) // 5}%: {bins.get(b, 0)}" for b in range(5))
