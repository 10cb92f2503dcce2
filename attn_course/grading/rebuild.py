"""Rebuild a submission from the source: the source's cells, with only the answers swapped in.

Instructions, demos, tests and hidden tests always come from the source, so edited or deleted
test cells are restored. A missing answer cell is replaced by its blank student version (the
`raise NotImplementedError()` stub), so the notebook still runs and the tests that need it fail
with a message naming the missing cell.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from nbformat import NotebookNode

from attn_course.grading.source import Assignment, nbgrader_meta, role
from attn_course.grading.submission import Submission


@dataclass
class Rebuilt:
    """cells: the source's cells with the student's answers; missing: answer ids not found."""

    notebook: NotebookNode
    roles: list[str]
    grade_ids: list[str | None]
    missing: list[str] = field(default_factory=list)


def rebuild(assignment: Assignment, submission: Submission,
            withheld: frozenset[str] = frozenset()) -> Rebuilt:
    """The notebook to run: the source (loaded without outputs or widget state, see
    `source.load_source`) with the submission's answer cells. Answers in `withheld` (they
    break the answer policy) run as their blank stub."""
    nb = copy.deepcopy(assignment.notebook)
    roles, ids, missing = [], [], []
    for cell in nb.cells:
        kind = role(cell)
        grade_id = nbgrader_meta(cell).get("grade_id")
        roles.append(kind)
        ids.append(grade_id)
        if kind in ("answer", "manual"):
            if grade_id in withheld:
                cell.source = assignment.blank.get(grade_id, "")
            elif grade_id in submission.answers:
                cell.source = submission.answers[grade_id]
            else:
                missing.append(grade_id)
                cell.source = assignment.blank.get(grade_id, "")
    return Rebuilt(nb, roles, ids, missing)
