"""The course notebooks as a whole: sources well formed, student notebooks in sync and leak-free.

Running them is nbval's job (``pytest --nbval solutions notebooks``, wired in nbval_wiring.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from attn_course.authoring.release import source_notebooks
from attn_course.authoring.sync import check_release

ROOT = Path(__file__).resolve().parents[2]
SOURCES = source_notebooks(ROOT / "solutions")
STUDENT = ROOT / "notebooks"

pytestmark = pytest.mark.skipif(not SOURCES, reason="no source notebooks yet")


def regions(text: str, begin: str, end: str) -> list[str]:
    return re.findall(rf"{begin}\n(.*?)\n[^\n]*{end}", text, flags=re.S)


def meaningful_lines(block: str) -> list[str]:
    """Lines of a solution worth searching for: not blank, not comments, not tiny."""
    lines = (line.strip() for line in block.splitlines())
    return [line for line in lines if len(line) >= 12 and not line.startswith("#")]


def test_student_notebooks_are_what_release_writes():
    differences = check_release(ROOT / "solutions", STUDENT)
    assert not differences, "run `attn-course release`: " + "; ".join(map(str, differences))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_source_notebook_is_well_formed(source):
    nb = nbformat.read(source, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    ids = [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in nb.cells]
    assert all(ids), f"{source.name}: every cell needs nbgrader metadata with a grade_id"
    assert len(ids) == len(set(ids)), f"{source.name}: duplicate grade_ids"

    graded = [c for c in nb.cells if c.metadata.nbgrader.get("grade")]
    assert graded, f"{source.name}: no graded cell"
    for cell in graded:
        assert cell.metadata.nbgrader.get("points", 0) > 0, cell.metadata.nbgrader.grade_id
    written = [c for c in graded if c.cell_type == "markdown" and c.metadata.nbgrader.solution]
    assert written, f"{source.name}: needs a written answer graded by hand"
    for cell in written:
        assert re.search(r"rubric", cell.source, re.I), f"{cell.metadata.nbgrader.grade_id}: rubric"

    intro = nb.cells[0].source.lower()
    assert "learning goals" in intro and "minutes" in intro, f"{source.name}: goals and time"
    for cell in nb.cells:  # course metadata lives outside metadata.nbgrader
        assert set(cell.metadata.nbgrader) <= {
            "schema_version",
            "grade",
            "solution",
            "locked",
            "grade_id",
            "points",
            "task",
            "checksum",
            "cell_type",
        }


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_student_notebook_leaks_nothing(source):
    student_path = STUDENT / source.name
    assert student_path.exists(), f"{student_path} missing: run `attn-course release`"
    src = nbformat.read(source, as_version=4)
    student = nbformat.read(student_path, as_version=4)
    student_text = "\n".join(cell.source for cell in student.cells)

    secrets = []
    for cell in src.cells:
        secrets += regions(cell.source, "BEGIN SOLUTION", "END SOLUTION")
        secrets += regions(cell.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
    leaked = [line for block in secrets for line in meaningful_lines(block) if line in student_text]
    assert not leaked, f"{student_path.name} shows solution or hidden-test lines: {leaked[:3]}"
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "Rubric", "rubric"):
        assert marker not in student_text, f"{student_path.name} contains {marker!r}"
    assert "widgets" not in student.metadata
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_nbgrader_validate_accepts_source(source):
    nbgrader = shutil.which("nbgrader", path=str(Path(sys.executable).parent))
    assert nbgrader, "nbgrader's command line is not installed next to this Python"
    result = subprocess.run(
        [nbgrader, "validate", str(source)], capture_output=True, text=True, timeout=600
    )
    assert "Success!" in result.stdout, result.stdout + result.stderr
