"""release: nbgrader's preprocessors turn a source notebook into a student notebook."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from attn_course.cli import main
from attn_course.grading.release import check_release, release, serialize, student_version


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
    test = new_code_cell(
        "assert double(2) == 4\n### BEGIN HIDDEN TESTS\nassert double(-3) == -6\n"
        "### END HIDDEN TESTS\n",
        metadata=nbgrader_meta("double-test", grade=True, locked=True, points=2),
    )
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


def test_student_version_clears_solutions_hidden_tests_outputs_and_widget_state():
    source = make_source()
    student = student_version(source)
    intro, answer, test, written = student.cells

    assert "return 2 * x" not in answer.source
    assert "raise NotImplementedError()" in answer.source
    assert answer.outputs == [] and answer.execution_count is None
    assert "double(-3)" not in test.source and "HIDDEN" not in test.source
    assert "assert double(2) == 4" in test.source
    assert "Rubric" not in written.source and "YOUR ANSWER HERE" in written.source
    assert "widgets" not in student.metadata
    # locked cells cannot be edited or deleted; answer cells cannot be deleted
    assert test.metadata["editable"] is False and test.metadata["deletable"] is False
    assert intro.metadata["editable"] is False
    assert answer.metadata["deletable"] is False
    # the source itself is untouched
    assert "return 2 * x" in source.cells[1].source


def test_release_check_reports_missing_drift_and_stale(tmp_path):
    src, dest = tmp_path / "solutions", tmp_path / "notebooks"
    src.mkdir()
    nbformat.write(make_source(), src / "01_double.ipynb")

    assert [d.reason for d in check_release(src, dest)] == ["missing"]
    written = release(src, dest)
    assert [p.name for p in written] == ["01_double.ipynb"]
    assert check_release(src, dest) == []

    (dest / "01_double.ipynb").write_text("{}", encoding="utf-8")
    (dest / "02_old.ipynb").write_text("{}", encoding="utf-8")
    reasons = {d.path.name: d.reason for d in check_release(src, dest)}
    assert reasons == {
        "01_double.ipynb": "differs from its source",
        "02_old.ipynb": "has no source notebook",
    }

    release(src, dest)
    assert not (dest / "02_old.ipynb").exists()
    assert check_release(src, dest) == []


def test_release_output_is_stable(tmp_path):
    nb = make_source()
    assert serialize(student_version(nb)) == serialize(student_version(nb))


def test_cli_release_check_exit_codes(tmp_path, capsys):
    src, dest = tmp_path / "solutions", tmp_path / "notebooks"
    src.mkdir()
    nbformat.write(make_source(), src / "01_double.ipynb")
    args = ["release", "--source", str(src), "--dest", str(dest)]

    assert main([*args, "--check"]) == 1
    assert "01_double.ipynb: missing" in capsys.readouterr().err
    assert main(args) == 0
    assert main([*args, "--check"]) == 0


def test_cli_release_without_sources_says_where_it_looked(tmp_path, capsys):
    assert main(["release", "--source", str(tmp_path / "nothing")]) == 2
    assert "no source notebooks" in capsys.readouterr().err


def test_solution_marker_outside_a_solution_cell_is_refused():
    nb = make_source()
    nb.cells[0].source = "### BEGIN SOLUTION\nleak\n### END SOLUTION"
    with pytest.raises(RuntimeError):
        student_version(nb)
