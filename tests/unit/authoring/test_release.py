"""release: nbgrader's preprocessors turn a source notebook into a student notebook."""

from __future__ import annotations

import hashlib
import json

import nbformat
import pytest

from attn_course.authoring.release import (
    RECORD,
    EditedNotebooks,
    release,
    serialize,
    student_version,
)
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


def test_check_cells_let_run_all_continue_and_only_check_cells(source):
    """Run All in JupyterLab goes on past a cell tagged raises-exception: the graded test cell
    gets the tag, nothing else does."""
    student = student_version(source)
    tagged = [c.metadata.nbgrader["grade_id"] for c in student.cells
              if "raises-exception" in c.metadata.get("tags", [])]  # fmt: skip
    assert tagged == ["double-test"]
    assert "tags" not in source.cells[2].metadata  # the source is untouched


# ---------------------------------------------------------------------------------------------
# The release record: work done in notebooks/ is never replaced without --force


def released(tmp_path, source):
    src, dest = tmp_path / "solutions", tmp_path / "notebooks"
    src.mkdir()
    nbformat.write(source, src / "01_double.ipynb")
    release(src, dest)
    return src, dest


def test_release_records_what_it_wrote(tmp_path, source):
    _, dest = released(tmp_path, source)
    record = json.loads((dest / RECORD).read_text())
    digest = hashlib.sha256((dest / "01_double.ipynb").read_bytes()).hexdigest()
    assert record == {"format": 1, "notebooks": {"01_double.ipynb": digest}}


def test_an_edit_survives_release_and_forcing_replaces_it(tmp_path, source):
    src, dest = released(tmp_path, source)
    notebook = dest / "01_double.ipynb"
    edited = notebook.read_text().replace("raise NotImplementedError()", "return x + x")
    notebook.write_text(edited)
    source.cells[0].source = "# Doubling, revised"  # the course changed too
    nbformat.write(source, src / "01_double.ipynb")

    with pytest.raises(EditedNotebooks) as refused:
        release(src, dest)
    assert refused.value.paths == [notebook]
    assert notebook.read_text() == edited, "release overwrote an edited notebook"

    release(src, dest, force=True)
    assert "revised" in notebook.read_text() and "return x + x" not in notebook.read_text()


def test_release_replaces_what_it_wrote_itself(tmp_path, source):
    src, dest = released(tmp_path, source)
    source.cells[0].source = "# Doubling, revised"
    nbformat.write(source, src / "01_double.ipynb")
    release(src, dest)  # unchanged since release wrote it: no refusal
    assert "revised" in (dest / "01_double.ipynb").read_text()


def test_release_does_not_remove_an_edited_notebook_without_a_source(tmp_path, source):
    src, dest = released(tmp_path, source)
    orphan = dest / "02_mine.ipynb"
    orphan.write_text("{}")
    with pytest.raises(EditedNotebooks):
        release(src, dest)
    assert orphan.exists()


def test_cli_release_names_edited_notebooks_and_exits_1(tmp_path, source, capsys):
    src, dest = released(tmp_path, source)
    (dest / "01_double.ipynb").write_text("{}")
    args = ["release", "--source", str(src), "--dest", str(dest)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "wrote nothing" in err and "01_double.ipynb" in err and "--force" in err
    assert (dest / "01_double.ipynb").read_text() == "{}"
    assert main([*args, "--force"]) == 0
    assert (dest / "01_double.ipynb").read_text() != "{}"
