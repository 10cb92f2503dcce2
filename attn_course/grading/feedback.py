"""One student's feedback page: each item under its title, with its points, the check's message
and the student's error; written answers not graded yet are said to be pending, never 0."""

from __future__ import annotations

import html

from attn_course.grading.markup import CSS, inline_html
from attn_course.grading.results import ItemResult, SubmissionResult, totals
from attn_course.grading.source import Assignment
from attn_course.grading.titles import titles

MAX_MESSAGE = 4000  # characters of a message or error shown in a report
COLORS = {"passed": "#2e7d32", "graded": "#2e7d32", "manual": "#6d6d6d"}
STYLE = ("body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto}"
         "pre{white-space:pre-wrap;background:#f6f8fa;padding:.6em;border-radius:4px}"
         ".item{border-left:4px solid #c62828;padding:.2em .8em;margin:1em 0}"
         ".meta{color:#555}" + CSS)


def score_line(result: SubmissionResult) -> str:
    """The submission's points, with what is still to be graded by hand."""
    t = totals(result)
    if not t.pending:
        return f"{t.score:g} / {t.max_score:g} points"
    answers = "written answer" if t.pending == 1 else "written answers"
    return (f"{t.score:g} / {t.max_score:g} points so far: {t.pending} {answers} worth "
            f"{t.pending_points:g} points still to be graded by hand, so the final score will "
            f"be between {t.score:g} and {t.score + t.pending_points:g}")


def feedback_html(assignment: Assignment, result: SubmissionResult) -> str:
    """The page: every item with its title, points, the check's message and the error."""
    e = html.escape
    names = titles(assignment)
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>{e(assignment.name)}: feedback for {e(result.submission)}</title>",
        f"<style>{STYLE}</style>",
        f"<h1>{e(assignment.name)}</h1>",
        f"<p><b>{e(result.submission)}</b>: {e(score_line(result))}.</p>",
    ]
    if result.message:
        parts.append(f"<p><b>{e(result.message)}</b></p>")
    for note in result.notes:
        parts.append(f"<p class='meta'>Note: {e(note)}</p>")
    for item in result.items:
        color = COLORS.get(item.status, "#c62828")
        points = (f"pending, up to {item.max_score:g} points" if item.score is None
                  else f"{item.score:g} / {item.max_score:g}")
        title = inline_html(names.get(item.grade_id, item.grade_id))
        parts.append(f"<div class='item' style='border-color:{color}'>"
                     f"<h2>{title} — {e(points)}</h2>"
                     f"<p class='meta'>{e(_status(item))} · <code>{e(item.grade_id)}</code></p>")
        if item.message:
            parts.append(f"<pre>{e(item.message[:MAX_MESSAGE])}</pre>")
        if item.error:
            parts.append(f"<p>Your error:</p><pre>{e(item.error[:MAX_MESSAGE])}</pre>")
        parts.append("</div>")
    parts.append(f"<p class='meta'>File SHA-256 {e(result.sha256)} · graded "
                 f"{e(result.graded_at)}</p>")
    return "\n".join(parts) + "\n"


def _status(item: ItemResult) -> str:
    """The item's status, "pending" for a written answer not graded yet."""
    return "pending" if item.score is None and item.status == "manual" else item.status
