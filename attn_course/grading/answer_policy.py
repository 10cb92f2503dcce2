"""The answer policy, applied to a submission before anything of it runs.

    rules_for(assignment)                       -> {answer grade_id: Rules}   (from the source)
    violations_in(assignment, answers)          -> {answer grade_id: [Violation, ...]}

Each code cell the student wrote (autograded answers and code graded by hand) is read with
`attn_course.policy`: it may use its own names, the names the student's other answer cells
define, and the allowed modules, minus what the exercises tested after it forbid (the checks'
`forbidden`, found through the test cells' check calls). An answer that uses a name another
answer defines is judged with that answer: using a violating answer's names is a violation too.
The grader runs a violating cell as its blank stub and scores the items that depend on it 0.
"""

from __future__ import annotations

from attn_course.checks import CHECKS
from attn_course.grading.probes import plan_test_cell
from attn_course.grading.source import Assignment, role
from attn_course.policy import (
    Rules,
    Violation,
    bound_names,
    defined_names,
    names_used,
    violations,
)

__all__ = ["rules_for", "violations_in"]

STUDENT_CODE = ("answer", "manual")


def _student_cells(assignment: Assignment) -> dict[str, int]:
    """grade_id -> index of every code cell whose text the student writes."""
    cells = {}
    for index, cell in enumerate(assignment.notebook.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and role(cell) in STUDENT_CODE and grade_id:
            cells[grade_id] = index
    return cells


def rules_for(assignment: Assignment) -> dict[str, Rules]:
    """The rules of each student code cell, before the student's other answers are known."""
    student = _student_cells(assignment)
    notebook: set[str] = set()
    protected: set[str] = set()
    for index, cell in enumerate(assignment.notebook.cells):
        if cell.cell_type == "code" and index not in student.values():
            notebook |= bound_names(cell.source)
            protected |= defined_names(cell.source)
    forbidden: dict[str, set[str]] = {g: set() for g in student}
    for item in assignment.items:
        if item.kind != "auto":
            continue
        for probe in plan_test_cell(assignment.notebook.cells[item.index].source, "").probes:
            for answer in item.answers:
                if answer in forbidden:
                    forbidden[answer] |= set(CHECKS[probe.check].forbidden)
    return {
        grade_id: Rules(forbidden=tuple(sorted(forbidden[grade_id])),
                        exercise=frozenset(bound_names(assignment.blank.get(grade_id, ""))),
                        notebook=frozenset(notebook), protected=frozenset(protected))
        for grade_id in student
    }


def violations_in(assignment: Assignment, answers: dict[str, str]) -> dict[str, list[Violation]]:
    """The violations of each student code cell of a submission (cells without any left out).

    `answers` holds the student's text of each answer cell (a missing cell counts as its blank).
    """
    rules = rules_for(assignment)
    texts = {g: answers.get(g, assignment.blank.get(g, "")) for g in rules}
    defines = {g: bound_names(t) - rules[g].notebook for g, t in texts.items()}
    found: dict[str, list[Violation]] = {}
    for grade_id, text in texts.items():
        own = frozenset().union(*(d for g, d in defines.items() if g != grade_id))
        base = rules[grade_id]
        problems = violations(text, Rules(base.forbidden, base.exercise, own, base.notebook,
                                          base.protected))
        if problems:
            found[grade_id] = problems
    while True:  # names from a violating answer taint the answers that use them
        tainted = {}
        for grade_id, text in texts.items():
            if grade_id in found:
                continue
            used = names_used(text) - defines[grade_id]
            for other in found:
                shared = sorted(used & defines[other])
                if shared:
                    tainted[grade_id] = [Violation(0, shared[0], f"is defined by the answer cell "
                                                                 f"`{other}`, which breaks the "
                                                                 "answer policy")]
                    break
        if not tainted:
            return found
        found.update(tainted)
