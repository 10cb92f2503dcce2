"""A small source notebook with every nbgrader role, shared by the authoring tests."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output


def nbgrader_meta(grade_id, *, grade=False, solution=False, locked=False, points=None):
    meta = {
        "schema_version": 3,
        "grade": grade,
        "solution": solution,
        "locked": locked,
        "grade_id": grade_id,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def make_source() -> nbformat.NotebookNode:
    answer = new_code_cell(
        "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n",
        metadata=nbgrader_meta("double-answer", solution=True),
        execution_count=2,
    )
    answer.outputs = [new_output("stream", name="stdout", text="secret output\n")]
    answer.metadata["execution"] = {"iopub.execute_input": "2024-01-01T00:00:00.000000Z"}
    test = new_code_cell(
        "assert double(2) == 4\n### BEGIN HIDDEN TESTS\nassert double(-3) == -6\n"
        "### END HIDDEN TESTS\n",
        metadata=nbgrader_meta("double-test", grade=True, locked=True, points=2),
    )
    test.metadata["attn_course"] = {"judged_by_kernel": True}  # plain asserts, on purpose
    written = new_markdown_cell(
        "### BEGIN SOLUTION\nBecause doubling is linear.\n\n**Rubric:** 1 point for linear.\n"
        "### END SOLUTION",
        metadata=nbgrader_meta("why-double", grade=True, solution=True, points=1),
    )
    intro = new_markdown_cell("# Doubling", metadata=nbgrader_meta("intro", locked=True))
    nb = new_notebook(cells=[intro, answer, test, written])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


@pytest.fixture
def source() -> nbformat.NotebookNode:
    """A fresh source notebook: solution, hidden test, rubric, outputs and widget state."""
    return make_source()
