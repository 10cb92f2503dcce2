"""release: nbgrader's preprocessors turn a source notebook into a student notebook."""

from __future__ import annotations

import pytest

from attn_course.authoring.release import serialize, student_version
from attn_course.cli import main


def test_student_version_clears_solutions_hidden_tests_outputs_and_widget_state(source):
    student = student_version(source)
    intro, answer, test, written = student.cells

    assert "return 2 * x" not in answer.source
    assert "raise NotImplementedError()" in answer.source
    assert answer.outputs == [] and answer.execution_count is None
    assert "execution" not in answer.metadata
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
    assert "execution" in source.cells[1].metadata and "widgets" in source.metadata


def test_release_output_is_stable(source):
    assert serialize(student_version(source)) == serialize(student_version(source))


def test_cli_release_without_sources_says_where_it_looked(tmp_path, capsys):
    assert main(["release", "--source", str(tmp_path / "nothing")]) == 2
    assert "no source notebooks" in capsys.readouterr().err


def test_solution_marker_outside_a_solution_cell_is_refused(source):
    source.cells[0].source = "### BEGIN SOLUTION\nleak\n### END SOLUTION"
    with pytest.raises(RuntimeError):
        student_version(source)
