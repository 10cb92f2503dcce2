"""What the instructor and the students read: grades.csv, grades.json, feedback, a summary.

All of it is regenerated from the per-submission results (OUTDIR/results/*.json) under an
exclusive lock and written atomically, so it is always complete and consistent, whichever
grader wrote last.
"""

from __future__ import annotations

import html
import json
from collections import Counter

from attn_course.grading import manual
from attn_course.grading.results import Lock, Store, SubmissionResult, atomic_write, write_csv
from attn_course.grading.source import Assignment

COLUMNS = ["submission", "grade_id", "kind", "score", "max_score", "status", "message"]
MAX_MESSAGE = 4000


def _fmt(score: float | None) -> str:
    return "" if score is None else f"{score:g}"


def totals(result: SubmissionResult) -> tuple[float, float, int]:
    """(score so far, max score, manual items still to grade)."""
    score = sum(i.score or 0.0 for i in result.items)
    top = sum(i.max_score for i in result.items)
    pending = sum(i.score is None for i in result.items)
    return score, top, pending


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
    rows = [COLUMNS]
    for result in results:
        for item in result.items:
            rows.append([result.submission, item.grade_id, item.kind, _fmt(item.score),
                         f"{item.max_score:g}", item.status, item.message[:MAX_MESSAGE]])
    return write_csv(rows)


def grades_json(assignment: Assignment, results: list[SubmissionResult]) -> str:
    subs = []
    for result in results:
        score, top, pending = totals(result)
        subs.append({
            "submission": result.submission, "file": result.file, "sha256": result.sha256,
            "status": result.status, "message": result.message, "score": score,
            "max_score": top, "manual_pending": pending, "sandbox": result.sandbox,
            "memory": result.memory, "gpu": result.gpu,
            "graded_at": result.graded_at, "seconds": round(result.seconds, 2),
            "notes": result.notes,
            "items": [{"grade_id": i.grade_id, "kind": i.kind, "score": i.score,
                       "max_score": i.max_score, "status": i.status,
                       "message": i.message[:MAX_MESSAGE], "error": i.error[:MAX_MESSAGE]}
                      for i in result.items],
        })
    doc = {
        "source": assignment.name, "source_sha256": assignment.sha256,
        "max_score": assignment.max_score,
        "items": [{"grade_id": i.grade_id, "kind": i.kind, "max_score": i.points}
                  for i in assignment.items],
        "submissions": subs,
    }
    return json.dumps(doc, indent=1)


_COLORS = {"passed": "#2e7d32", "graded": "#2e7d32", "manual": "#6d6d6d"}


def feedback_html(assignment: Assignment, result: SubmissionResult) -> str:
    """One student's feedback: every item with its points, the check's message, their error."""
    e = html.escape
    score, top, pending = totals(result)
    waiting = f" ({pending} written answer(s) still to be graded)" if pending else ""
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>{e(assignment.name)}: feedback for {e(result.submission)}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto}"
        "pre{white-space:pre-wrap;background:#f6f8fa;padding:.6em;border-radius:4px}"
        ".item{border-left:4px solid #c62828;padding:.2em .8em;margin:1em 0}"
        ".meta{color:#555}</style>",
        f"<h1>{e(assignment.name)}</h1>",
        f"<p><b>{e(result.submission)}</b>: {score:g} / {top:g} points{e(waiting)}</p>",
    ]
    if result.message:
        parts.append(f"<p><b>{e(result.message)}</b></p>")
    for note in result.notes:
        parts.append(f"<p class='meta'>Note: {e(note)}</p>")
    for item in result.items:
        color = _COLORS.get(item.status, "#c62828")
        points = ("awaiting manual grading" if item.score is None
                  else f"{item.score:g} / {item.max_score:g}")
        parts.append(f"<div class='item' style='border-color:{color}'>"
                     f"<h2>{e(item.grade_id)}: {e(points)}</h2>"
                     f"<p class='meta'>{e(item.status)}</p>")
        if item.message:
            parts.append(f"<pre>{e(item.message[:MAX_MESSAGE])}</pre>")
        if item.error:
            parts.append(f"<p>Your error:</p><pre>{e(item.error[:MAX_MESSAGE])}</pre>")
        parts.append("</div>")
    parts.append(f"<p class='meta'>File SHA-256 {e(result.sha256)} · graded "
                 f"{e(result.graded_at)}</p>")
    return "\n".join(parts) + "\n"


def write_reports(store: Store, assignment: Assignment, *, manual_export: bool = True,
                  feedback_for: list[str] | None = None) -> tuple[list[SubmissionResult], int]:
    """Regenerate grades.csv, grades.json, feedback (all, or `feedback_for`) and manual/."""
    with Lock(store.outdir / ".lock", blocking=True):
        results, stale = current_results(store, assignment)
        atomic_write(store.outdir / "grades.csv", grades_csv(results))
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
    """A plain-text table: per item the mean and the count of each status; score spread."""
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
    scores = [totals(r)[0] for r in results]
    top = assignment.max_score
    mean = sum(scores) / len(scores)
    lines.append(f"{'total':<24} {'':<6} {top:>5g} {mean:>6.2f}")
    bins = Counter(min(4, int(5 * s / top)) if top else 0 for s in scores)
    spread = "  ".join(
        f"{100 * b // 5}-{100 * (b + 1) // 5}%: {bins.get(b, 0)}" for b in range(5))
    lines.append(f"Score distribution ({len(results)} submissions): {spread}")
    problems = Counter(r.status for r in results if r.status != "graded")
    if problems:
        lines.append("Not graded normally: " + ", ".join(f"{k} {v}" for k, v in
                                                         problems.most_common()))
    return "\n".join(lines)
