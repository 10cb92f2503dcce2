"""The assignment: a source notebook read as a list of roles (answers, tests, written answers).

Everything the grader trusts comes from here. A submission only contributes the text of its
answer cells, matched by nbgrader ``grade_id``.

Roles, from the nbgrader v3 cell metadata:

    solution, not grade        autograded answer (the student's code)
    grade, not solution        test cell (scored automatically, all or nothing)
    grade and solution         written answer, or code graded by hand (scored by the instructor)
    task                       a task graded by hand
    anything else              instructions and demos, always taken from the source
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor
from nbformat import NotebookNode

from attn_course.authoring.preprocessors import ClearWidgetState, preprocessed
from attn_course.authoring.release import student_version


class SourceError(ValueError):
    """The source notebook cannot be used for grading (the message says why)."""


@dataclass(frozen=True)
class Item:
    """One graded item. kind: "auto" (test cell) or "manual" (written answer, task).

    answers: the autograded answer cells since the previous test cell, which this test most
    likely exercises (used to explain failures caused by a missing or broken answer cell).
    """

    grade_id: str
    kind: str
    points: float
    index: int
    answers: tuple[str, ...] = ()


@dataclass
class Assignment:
    """A parsed source notebook. `blank` holds the student version of each answer cell."""

    path: Path
    name: str
    sha256: str
    notebook: NotebookNode
    items: list[Item]
    answer_ids: list[str]
    blank: dict[str, str] = field(default_factory=dict)

    @property
    def uses_gpu(self) -> bool:
        """Whether the source asks for a GPU (notebook metadata ``attn_course.gpu``)."""
        meta = self.notebook.metadata.get("attn_course", {})
        return isinstance(meta, dict) and meta.get("gpu") is True

    @property
    def max_score(self) -> float:
        return sum(i.points for i in self.items)

    def item(self, grade_id: str) -> Item | None:
        return next((i for i in self.items if i.grade_id == grade_id), None)


# A source cell tagged so holds a demo or an experiment that no graded item depends on (a live
# training run, a plot): the grader does not run it. Only the source's tags count, and only on
# cells that are neither answers nor tests.
SKIP_WHEN_GRADING = "skip-when-grading"


def skipped_when_grading(cell: NotebookNode) -> bool:
    """True for a source cell the grader leaves out (see SKIP_WHEN_GRADING)."""
    return role(cell) in ("other", "task") and SKIP_WHEN_GRADING in cell.metadata.get("tags", [])


def nbgrader_meta(cell: NotebookNode) -> dict:
    """The cell's nbgrader metadata ({} if absent or malformed)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def role(cell: NotebookNode) -> str:
    """"answer", "test", "manual", "task" or "other"."""
    meta = nbgrader_meta(cell)
    if meta.get("grade") and meta.get("solution"):
        return "manual"
    if meta.get("solution"):
        return "answer"
    if meta.get("grade"):
        return "test" if cell.cell_type == "code" else "manual"
    if meta.get("task"):
        return "task"
    return "other"


def parse_source(nb: NotebookNode, path: Path, sha256: str) -> Assignment:
    """Build the Assignment of a source notebook; raise SourceError if it cannot be graded."""
    items: list[Item] = []
    answer_ids: list[str] = []
    seen: set[str] = set()
    pending: list[str] = []
    for index, cell in enumerate(nb.cells):
        kind = role(cell)
        if kind == "other":
            continue
        grade_id = nbgrader_meta(cell).get("grade_id")
        if not isinstance(grade_id, str) or not grade_id:
            raise SourceError(f"{path}: cell {index} has nbgrader flags but no grade_id")
        if grade_id in seen:
            raise SourceError(f"{path}: grade_id {grade_id!r} is used twice")
        seen.add(grade_id)
        points = nbgrader_meta(cell).get("points", 0)
        if kind in ("test", "manual", "task"):
            try:
                points = float(points)
            except (TypeError, ValueError):
                raise SourceError(f"{path}: {grade_id}: points must be a number") from None
            if points < 0:
                raise SourceError(f"{path}: {grade_id}: points must not be negative")
        if kind == "answer":
            answer_ids.append(grade_id)
            pending.append(grade_id)
        elif kind == "test":
            _probes_only(path, grade_id, cell)
            items.append(Item(grade_id, "auto", points, index, tuple(pending)))
            pending = []
        else:
            if kind == "manual":
                answer_ids.append(grade_id)
            items.append(Item(grade_id, "manual", points, index))
    if not items:
        raise SourceError(f"{path}: no graded cell (nbgrader 'grade': true) in this notebook")
    try:
        released = student_version(nb)
    except Exception as exc:  # nbgrader rejects malformed solution / hidden-test markers
        raise SourceError(f"{path}: nbgrader cannot release this notebook: {exc}") from None
    blank = {}
    for cell in released.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in answer_ids:
            blank[grade_id] = cell.source
    return Assignment(path, path.stem, sha256, _without_outputs(nb), items, answer_ids, blank)


SOLUTION_MARK, HIDDEN_MARK = "BEGIN SOLUTION", "BEGIN HIDDEN TESTS"
STUBS = ("YOUR CODE HERE", "YOUR ANSWER HERE")  # what nbgrader writes in place of a solution


def is_stub(cell: NotebookNode) -> bool:
    """Whether an answer cell is empty or still holds what nbgrader writes for a student."""
    return not cell.source.strip() or any(stub in cell.source for stub in STUBS)


def holds_solution(cell: NotebookNode) -> bool:
    """Whether an answer cell of a source shows its solution: a solution region, or (nbgrader's
    other way) a whole cell that is not a stub."""
    return SOLUTION_MARK in cell.source or not is_stub(cell)


def lacks(assignment: Assignment) -> list[str]:
    """What `assignment` lacks of a full source: "hidden tests" (no test cell has any), and
    "model answers" when it is a student's notebook: no answer cell has a solution region, and
    some still hold nbgrader's stub (a released copy) or there are no hidden tests either (a
    student's filled-in copy). Whole-cell solutions with hidden tests make a source."""
    answers = [c for c in assignment.notebook.cells if role(c) in ("answer", "manual")]
    tests = [assignment.notebook.cells[i.index] for i in assignment.items if i.kind == "auto"]
    hidden = any(HIDDEN_MARK in c.source for c in tests)
    missing = [] if hidden else ["hidden tests"]
    regions = any(SOLUTION_MARK in c.source for c in answers)
    if answers and not regions and (not hidden or any(is_stub(c) for c in answers)):
        missing.insert(0, "model answers")
    return missing


def student_copy_problem(assignment: Assignment) -> str:
    """Why `assignment` is a student notebook rather than its source ("" for a source, with or
    without hidden tests: see `lacks`)."""
    missing = lacks(assignment)
    if "model answers" not in missing:
        return ""
    path = assignment.path
    source = path.resolve().parent.parent / "solutions" / path.name
    instead = (f"--source {source}" if source.is_file() and source != path.resolve()
               else f"the source notebook (solutions/{path.name} in this course)")
    hidden = ", and it has no hidden tests" if "hidden tests" in missing else ""
    return (f"{path} is a student notebook, not a source: none of its answer cells holds a "
            f"solution (### BEGIN SOLUTION ... ### END SOLUTION){hidden}. Pass {instead}, or "
            f"add --allow-student-source to grade against this copy (no "
            f"{' and no '.join(missing)}).")


def judged_by_kernel_on_purpose(cell: NotebookNode) -> bool:
    """Whether the source accepts that this test cell is judged by the kernel's reply
    (cell metadata ``"attn_course": {"judged_by_kernel": true}``)."""
    meta = cell.get("metadata", {}).get("attn_course", {})
    return isinstance(meta, dict) and meta.get("judged_by_kernel") is True


def kernel_judged_problems(path: Path) -> list[str]:
    """Why each graded cell of a source would be judged by the kernel's reply (none: [])."""
    nb = nbformat.read(path, as_version=4)
    problems = []
    for cell in nb.cells:
        if role(cell) == "test":
            try:
                _probes_only(path, nbgrader_meta(cell).get("grade_id", "?"), cell)
            except SourceError as exc:
                problems.append(str(exc))
    return problems


def _probes_only(path: Path, grade_id: str, cell: NotebookNode) -> None:
    """Refuse a test cell the grader could only judge by the kernel's reply (which code in the
    kernel can fake), unless the source marks it as meant."""
    from attn_course.grading.probes import plan_test_cell

    plan = plan_test_cell(cell.source, "")
    if plan.kernel_judged and not judged_by_kernel_on_purpose(cell):
        raise SourceError(
            f"{path}: test cell {grade_id!r} would be judged by the kernel's reply, which code "
            f"in the kernel can fake: {plan.reason}. Write its tests as check calls "
            "(check_<name>(answer) with literal options), or mark the cell with the metadata "
            '"attn_course": {"judged_by_kernel": true} to accept that.')


def _without_outputs(nb: NotebookNode) -> NotebookNode:
    """The grader never needs the source's outputs or widget state: the Assignment stays small,
    and every notebook rebuilt from it starts clean."""
    return preprocessed(nb, [ClearOutputPreprocessor(), ClearWidgetState()])


def load_source(path: str | Path) -> Assignment:
    """Read and parse a source notebook (nbgrader v3 metadata)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read the source notebook {path}: {exc.strerror}") from None
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as exc:
        raise SourceError(f"{path} is not a readable notebook: {exc}") from None
    return parse_source(nb, path, hashlib.sha256(data).hexdigest())


def public_version(assignment: Assignment) -> Assignment:
    """The assignment as a student sees it: hidden tests removed (for `attn-course check`)."""
    nb = student_version(assignment.notebook)
    text = nbformat.writes(nb)
    return parse_source(nb, assignment.path, hashlib.sha256(text.encode()).hexdigest())
