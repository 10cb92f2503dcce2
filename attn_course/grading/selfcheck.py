"""`attn-course check`: a student grades their own notebook the way the grader will.

The notebook runs top to bottom in a fresh kernel (sandboxed where possible) against the public
tests only: the source's hidden tests are removed, exactly as in the released notebook. Without
a source notebook the student notebook's own test cells are used.
"""

from __future__ import annotations

from pathlib import Path

from attn_course.grading.grader import Settings, grade_submission
from attn_course.grading.results import SubmissionResult
from attn_course.grading.sandbox import package_dir
from attn_course.grading.source import Assignment, load_source, nbgrader_meta, public_version

BLANK_CODE = "# YOUR CODE HERE\nraise NotImplementedError()"
BLANK_TEXT = "YOUR ANSWER HERE"


def default_source(notebook: Path) -> Path | None:
    """solutions/NN_*.ipynb of the course folder the package lives in, if there is one."""
    folder = package_dir().parent / "solutions"
    prefix = notebook.name.split("_", 1)[0]
    if prefix.isdigit():
        matches = sorted(folder.glob(f"{prefix}_*.ipynb"))
        if matches:
            return matches[0]
    same = folder / notebook.name
    return same if same.is_file() else None


def public_assignment(notebook: Path, source: Path | None) -> tuple[Assignment, str]:
    """The assignment to check against, and a line saying where its tests come from."""
    if source is not None:
        return public_version(load_source(source)), f"the public tests of {source}"
    assignment = load_source(notebook)
    # the notebook is its own source: what a blank answer looks like comes from nbgrader
    for cell in assignment.notebook.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in assignment.answer_ids:
            assignment.blank[grade_id] = BLANK_CODE if cell.cell_type == "code" else BLANK_TEXT
    return assignment, "the test cells in the notebook itself"


def render(result: SubmissionResult, origin: str) -> str:
    lines = [f"Checked {result.file} against {origin}.", ""]
    if result.status != "graded":
        lines.append(f"The notebook could not be graded: {result.message}")
        return "\n".join(lines)
    for item in result.items:
        score = "-" if item.score is None else f"{item.score:g}"
        label = {"manual": "written answer: graded by your instructor",
                 "unanswered": "written answer: not answered yet"}.get(item.status, item.status)
        lines.append(f"  {item.grade_id:<28} {score:>4} / {item.max_score:<4g} {label}")
        if item.kind == "auto" and item.status != "passed" and item.message:
            lines += ["      " + line for line in item.message.splitlines()]
    auto = [i for i in result.items if i.kind == "auto"]
    got = sum(i.score or 0 for i in auto)
    top = sum(i.max_score for i in auto)
    written = sum(i.max_score for i in result.items if i.kind == "manual")
    lines += ["", f"Expected score from the tests: {got:g} / {top:g} points."]
    if written:
        lines.append(f"Written answers are worth {written:g} more points, graded by hand.")
    lines.append("Hidden tests may still find mistakes the public tests miss.")
    if result.message:
        lines.append(result.message)
    return "\n".join(lines)


def check_notebook(notebook: Path, source: Path | None, settings: Settings) -> str:
    """Grade `notebook` on the public tests; return the text report."""
    assignment, origin = public_assignment(notebook, source)
    result = grade_submission(assignment, notebook, notebook.stem, settings)
    return render(result, origin)
