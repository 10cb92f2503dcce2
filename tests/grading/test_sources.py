"""Other sources: plain asserts and mixed test cells, and the course's own notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from attn_course.authoring.release import student_version
from attn_course.grading.batch import grade_batch
from attn_course.grading.grader import Settings, grade_submission
from attn_course.grading.source import load_source
from tests.grading import corpus

pytestmark = pytest.mark.slow


def meta(grade_id, *, grade=False, solution=False, points=None):
    m = {"schema_version": 3, "grade": grade, "solution": solution, "locked": not solution,
         "grade_id": grade_id, "task": False}
    if points is not None:
        m["points"] = points
    return {"nbgrader": m}


# Plain asserts and magics are judged by the kernel's reply: the source has to say it means that.
BY_KERNEL = {"attn_course": {"judged_by_kernel": True}}


def custom_source() -> nbformat.NotebookNode:
    return new_notebook(cells=[
        new_code_cell("import torch\nfrom attn_course.checks import check_softmax",
                      metadata=meta("imports")),
        new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
                      "    ### END SOLUTION\n", metadata=meta("double-answer", solution=True)),
        # an experiment the grader leaves out: were it run, `double` would fail its test
        new_code_cell("double = lambda x: 999  # a stand-in for a long training run",
                      metadata=meta("experiment") | {"tags": ["skip-when-grading"]}),
        new_code_cell("assert double(2) == 4\n### BEGIN HIDDEN TESTS\nassert double(-3) == -6\n"
                      "### END HIDDEN TESTS\n",
                      metadata=meta("double-test", grade=True, points=2) | BY_KERNEL),
        new_code_cell("### BEGIN SOLUTION\n" + corpus.CORRECT + "### END SOLUTION\n",
                      metadata=meta("softmax-answer", solution=True)),
        new_code_cell("check_softmax(softmax)\nassert softmax(torch.zeros(3)).shape == (3,)\n",
                      metadata=meta("softmax-mixed", grade=True, points=3) | BY_KERNEL),
        new_code_cell("%time check_softmax(softmax)\n",
                      metadata=meta("softmax-magic", grade=True, points=1) | BY_KERNEL),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}})


SUBMISSIONS = {
    # name: (double, softmax) answers -> expected scores of the three tests
    "right": ("def double(x):\n    return x + x\n", corpus.CORRECT, (2, 3, 1)),
    "wrong": ("def double(x):\n    return 3 * x\n", corpus.TEXTBOOK, (0, 0, 0)),
    "public_only": ("def double(x):\n    return 4 if x == 2 else 0\n",
                    "def softmax(x, dim=-1):\n    return torch.zeros(3)\n", (0, 0, 0)),
}


@pytest.fixture(scope="module")
def custom(tmp_path_factory):
    root = tmp_path_factory.mktemp("custom")
    source = root / "01_custom.ipynb"
    source.write_text(nbformat.writes(custom_source()))
    student = json.loads(nbformat.writes(student_version(custom_source())))
    folder = root / "subs"
    folder.mkdir()
    for name, (double, softmax, _) in SUBMISSIONS.items():
        nb = json.loads(json.dumps(student))
        corpus.cell(nb, "double-answer")["source"] = double
        corpus.cell(nb, "softmax-answer")["source"] = softmax
        (folder / f"{name}.ipynb").write_text(json.dumps(nb))
    assignment = load_source(source)
    report = grade_batch(assignment, [(folder / f"{n}.ipynb", n) for n in SUBMISSIONS],
                         root / "out", Settings(cell_timeout=30), jobs=1, progress=False)
    return root, source, folder, {r.submission: r for r in report.results}


@pytest.mark.parametrize("name", sorted(SUBMISSIONS))
def test_plain_asserts_and_mixed_cells(custom, name):
    _, _, _, results = custom
    got = {i.grade_id: i.score for i in results[name].items}
    want = dict(zip(["double-test", "softmax-mixed", "softmax-magic"], SUBMISSIONS[name][2],
                    strict=True))
    assert got == want, results[name].items


def test_a_failing_assert_reports_the_error(custom):
    _, _, _, results = custom
    item = next(i for i in results["wrong"].items if i.grade_id == "double-test")
    assert item.status == "failed" and "AssertionError" in item.message


def test_check_sees_public_tests_only(custom):
    from tests.grading.conftest import run_cli

    root, source, folder, _ = custom
    proc = run_cli("check", str(folder / "public_only.ipynb"), "--source", str(source),
                   "--timeout", "30", timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "double-test" in proc.stdout
    # the public assert passes; the hidden one (removed for `check`) would fail
    line = next(ln for ln in proc.stdout.splitlines() if "double-test" in ln)
    assert "2 / 2" in line and "passed" in line
    assert "Expected score from the tests: 2 / 6 points." in proc.stdout


@pytest.mark.parametrize("name", ["01_scaled_dot_product_attention", "02_masking"])
def test_course_solutions_get_full_marks(name, tmp_path):
    source = corpus.ROOT / "solutions" / f"{name}.ipynb"
    assignment = load_source(source)
    result = grade_submission(assignment, source, "reference", Settings(cell_timeout=60))
    for item in result.items:
        if item.kind == "auto":
            assert (item.status, item.score) == ("passed", item.max_score), item
        else:
            assert item.status == "manual"


def test_check_defaults_to_the_course_solutions(tmp_path):
    from tests.grading.conftest import run_cli

    notebook = tmp_path / "00_setup.ipynb"
    notebook.write_bytes(corpus.dump(corpus.filled(corpus.OVERFITS_PUBLIC)))
    proc = run_cli("check", str(notebook), timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert str(corpus.SOURCE) in proc.stdout
    assert "Expected score from the tests: 3 / 3 points." in proc.stdout  # hidden test removed
    assert "written answer: not answered yet" in proc.stdout


def test_check_without_a_source_uses_the_notebooks_own_tests(tmp_path):
    from attn_course.grading.selfcheck import check_notebook

    notebook = tmp_path / "99_mine.ipynb"
    notebook.write_bytes(corpus.dump(corpus.filled(corpus.TEXTBOOK, corpus.ESSAY)))
    text = check_notebook(Path(notebook), None, Settings(cell_timeout=60))
    assert "the test cells in the notebook itself" in text
    assert "Expected score from the tests: 0 / 3 points." in text
    assert "Likely mistake" in text
    assert "graded by your instructor" in text


def test_a_graded_cell_judged_by_the_kernel_must_be_marked(tmp_path):
    from attn_course.grading.source import SourceError
    from tests.grading.conftest import run_cli

    nb = custom_source()
    unmarked = next(c for c in nb.cells if c.metadata["nbgrader"]["grade_id"] == "double-test")
    del unmarked.metadata["attn_course"]
    (tmp_path / "src").mkdir()
    path = tmp_path / "src" / "01_custom.ipynb"
    path.write_text(nbformat.writes(nb))
    with pytest.raises(SourceError, match="'double-test' would be judged by the kernel's reply"):
        load_source(path)
    proc = run_cli("release", "--check", "--source", str(path.parent),
                   "--dest", str(tmp_path / "out"))
    assert proc.returncode == 1 and "line 1, `assert double(2) == 4`" in proc.stderr, proc.stderr
    proc = run_cli("grade", "--source", str(path), "--out", str(tmp_path / "grades"))
    assert proc.returncode == 2 and "judged_by_kernel" in proc.stderr
