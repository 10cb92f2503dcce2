"""Written answers: export them per question for the instructor, merge the scores back.

    OUTDIR/manual/<grade_id>.html   the question, the model answer and rubric, every student's
                                    answer (Markdown and math rendered safely, as written beside)
    OUTDIR/manual/<grade_id>.csv    submission,grade_id,max_score,score,status,answer
    OUTDIR/manual_scores.json       scores merged so far (kept across runs)

The instructor fills the ``score`` column (of these CSVs, or of any CSV with the columns
``submission,grade_id,score``) and passes it to ``attn-course grade --manual-scores FILE``.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from pathlib import Path

from attn_course.grading.markup import CSS, inline_html, to_html
from attn_course.grading.results import (
    FORMULA_STARTS,
    SubmissionResult,
    atomic_write,
    write_csv,
)
from attn_course.grading.source import Assignment, Item, holds_solution, lacks
from attn_course.grading.titles import titles


class ManualScoresError(ValueError):
    """The manual scores file cannot be used (the message names the line)."""


def read_scores(path: Path, assignment: Assignment) -> dict[str, dict[str, float]]:
    """Parse and validate a CSV of manual scores: {submission: {grade_id: score}}."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManualScoresError(f"cannot read {path}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    needed = {"submission", "grade_id", "score"}
    if reader.fieldnames is None or not needed <= set(reader.fieldnames):
        raise ManualScoresError(f"{path}: needs the columns submission,grade_id,score "
                                f"(found: {','.join(reader.fieldnames or [])})")
    items = {i.grade_id: i for i in assignment.items}  # written answers, and any test the
    # instructor overrides (e.g. points restored after an answer-policy refusal)
    scores: dict[str, dict[str, float]] = {}
    for line, row in enumerate(reader, start=2):
        raw = (row.get("score") or "").strip()
        if not raw:
            continue  # not graded yet
        grade_id = (row.get("grade_id") or "").strip()
        submission = _unprotected((row.get("submission") or "").strip())
        if grade_id not in items:
            raise ManualScoresError(f"{path}, line {line}: {grade_id!r} is not a graded item "
                                    f"of {assignment.name} ({', '.join(items) or 'none'})")
        if not submission:
            raise ManualScoresError(f"{path}, line {line}: empty submission")
        try:
            score = float(raw)
        except ValueError:
            raise ManualScoresError(f"{path}, line {line}: score {raw!r} is not a number") from None
        top = items[grade_id].points
        if not math.isfinite(score) or not 0 <= score <= top:
            raise ManualScoresError(f"{path}, line {line}: score {raw} is outside 0..{top:g} "
                                    f"for {grade_id}")
        scores.setdefault(submission, {})[grade_id] = score
    return scores


def _unprotected(cell: str) -> str:
    """A cell as written before `spreadsheet_safe` protected it from formula evaluation."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def stored_scores(outdir: Path) -> dict[str, dict[str, float]]:
    try:
        data = json.loads((Path(outdir) / "manual_scores.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def store_scores(outdir: Path, new: dict[str, dict[str, float]]) -> None:
    """Merge `new` into OUTDIR/manual_scores.json (later files win)."""
    scores = stored_scores(outdir)
    for submission, items in new.items():
        scores.setdefault(submission, {}).update(items)
    atomic_write(Path(outdir) / "manual_scores.json", json.dumps(scores, indent=1, sort_keys=True))


def apply_scores(result: SubmissionResult, scores: dict[str, dict[str, float]]) -> None:
    """Put the instructor's scores into `result` (in place): written answers, and tests whose
    automatic score the instructor overrides."""
    given = scores.get(result.submission, {})
    for item in result.items:
        if isinstance(given.get(item.grade_id), int | float):
            was = f" (the automatic grade: {item.status})" if item.kind == "auto" else ""
            item.score = float(given[item.grade_id])
            item.status = "graded"
            item.message = f"Graded by the instructor{was}."


def _rubric(assignment: Assignment, grade_id: str) -> str:
    """The model answer and rubric: the source cell without its solution markers ("" when the
    cell holds none, as in a student copy graded with --allow-student-source)."""
    cell = assignment.notebook.cells[assignment.item(grade_id).index]
    if not holds_solution(cell) or "model answers" in lacks(assignment):
        return ""
    lines = [ln for ln in cell.source.splitlines() if "BEGIN SOLUTION" not in ln
             and "END SOLUTION" not in ln]
    return "\n".join(lines).strip()


def _question(assignment: Assignment, grade_id: str) -> str:
    """The markdown cell just before the answer: usually the question."""
    index = assignment.item(grade_id).index
    for cell in reversed(assignment.notebook.cells[:index]):
        if cell.cell_type == "markdown":
            return cell.source.strip()
    return ""


def export(outdir: Path, assignment: Assignment, results: list[SubmissionResult]) -> list[Path]:
    """Write OUTDIR/manual/<grade_id>.html and .csv for every manually graded item."""
    folder = Path(outdir) / "manual"
    folder.mkdir(exist_ok=True)
    names = titles(assignment)
    written = []
    for item in (i for i in assignment.items if i.kind == "manual"):
        rows = []
        for result in results:
            got = next((i for i in result.items if i.grade_id == item.grade_id), None)
            if got is None:
                continue
            answer = result.answers.get(item.grade_id, "")
            score = "" if got.score is None else f"{got.score:g}"
            rows.append((result.submission, score, got.status, answer))
        table = [["submission", "grade_id", "max_score", "score", "status", "answer"]]
        table += [[submission, item.grade_id, f"{item.points:g}", score, status, answer]
                  for submission, score, status, answer in rows]
        atomic_write(folder / f"{item.grade_id}.csv", write_csv(table))
        atomic_write(folder / f"{item.grade_id}.html",
                     _html(assignment, item, names[item.grade_id], rows))
        written += [folder / f"{item.grade_id}.csv", folder / f"{item.grade_id}.html"]
    return written


STYLE = ("body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto}"
         "pre{white-space:pre-wrap;background:#f6f8fa;padding:.6em;border-radius:4px}"
         ".answer{border-top:1px solid #ccc;padding:.4em 0}.meta{color:#555}"
         ".text{background:#fbfbf8;padding:.1em .8em;border-radius:4px}" + CSS)


def _html(assignment: Assignment, item: Item, title: str, rows) -> str:
    e = html.escape
    cell = assignment.notebook.cells[item.index]
    markdown = cell.cell_type == "markdown"
    rubric = _rubric(assignment, item.grade_id)
    question = _question(assignment, item.grade_id)
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>{e(assignment.name)} · {e(item.grade_id)}</title>",
        f"<style>{STYLE}</style>",
        f"<h1>{e(assignment.name)}: {inline_html(title)} ({item.points:g} points)</h1>",
        f"<p class='meta'>grade id <code>{e(item.grade_id)}</code></p>",
        "<h2>Question</h2>",
        _shown(question, True, raw=False) if question else
        "<p class='meta'>(no text above this cell)</p>",
        "<h2>Model answer and rubric</h2>",
        _shown(rubric, markdown, raw=False) if rubric else
        "<p class='meta'>None: this source's answer cells hold no solution (a student's copy, "
        "graded with --allow-student-source).</p>",
        f"<h2>Answers ({len(rows)})</h2>",
        f"<p class='meta'>Fill the <code>score</code> column of {e(item.grade_id)}.csv and run "
        "<code>attn-course grade --source … --out … --manual-scores "
        f"{e(item.grade_id)}.csv</code>.</p>",
    ]
    for submission, score, status, answer in rows:
        shown = f"score {e(score)}" if score else "not scored yet"
        body = _shown(answer, markdown) if answer.strip() else "<p><em>(no answer)</em></p>"
        parts.append(f"<div class='answer'><h3>{e(submission)}</h3>"
                     f"<p class='meta'>{e(status)} · {shown}</p>{body}</div>")
    return "\n".join(parts) + "\n"


def _shown(text: str, markdown: bool, raw: bool = True) -> str:
    """Markdown rendered (safely: see markup.py), with the text as written under a fold when
    `raw`; code as written."""
    if not markdown:
        return f"<pre>{html.escape(text)}</pre>"
    fold = (f"<details><summary class='meta'>As written</summary><pre>{html.escape(text)}"
            "</pre></details>") if raw else ""
    return f"<div class='text'>{to_html(text)}</div>{fold}"
