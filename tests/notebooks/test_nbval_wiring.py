"""The wiring itself: in a student notebook, a passing test cell (a leaked solution) fails."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]


def student_notebook(answer_body: str) -> nbformat.NotebookNode:
    def meta(grade_id, **flags):
        base = {"schema_version": 3, "grade": False, "solution": False, "locked": True}
        return {"nbgrader": {**base, "grade_id": grade_id, **flags}}

    answer = new_code_cell(
        f"def double(x):\n    {answer_body}",
        metadata=meta("answer", solution=True, locked=False),
    )
    test = new_code_cell("assert double(2) == 4", metadata=meta("test", grade=True, points=1))
    nb = new_notebook(cells=[answer, test])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


@pytest.mark.slow
@pytest.mark.parametrize(
    ("answer_body", "outcome"),
    [
        ("raise NotImplementedError()", {"passed": 1, "xfailed": 1}),  # blank: as it should be
        ("return 2 * x", {"passed": 1, "failed": 1}),  # the solution leaked
    ],
)
def test_student_test_cells_must_fail(pytester, monkeypatch, answer_body, outcome):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeconftest('pytest_plugins = ["tests.notebooks.nbval_wiring"]')
    folder = pytester.mkdir("notebooks")
    nbformat.write(student_notebook(answer_body), folder / "01_double.ipynb")
    result = pytester.runpytest_subprocess(
        "--nbval", "--nbval-current-env", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(**outcome)
