"""The graded notebooks against their attacks: every graded cell is a probe, nothing the kernel
says is believed unverified, and answers that delegate score nothing.

Each notebook's corpus is graded in one `attn-course grade --jobs 2` run; the attacks with an
`unchecked` expectation are graded again with --no-answer-policy, where the probes and the
out-of-kernel judge alone must still refuse them.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from attn_course.grading.sandbox import bwrap_status
from attn_course.grading.source import load_source
from tests.grading.conftest import run_cli
from tests.grading.notebook_corpora import CORPORA, ROOT, submission

pytestmark = pytest.mark.slow


def _grade(folder: Path, notebook: str, names: list[str], *extra: str) -> dict:
    folder.mkdir(parents=True)
    for name in names:
        (folder / f"{name}.ipynb").write_bytes(submission(notebook, CORPORA[notebook][name]
                                                          .answers))
    out = folder.parent / f"{folder.name}-out"
    proc = run_cli("grade", "--source", str(ROOT / "solutions" / f"{notebook}.ipynb"),
                   "--out", str(out), "--jobs", "2", "-q", "--timeout", "60", *extra,
                   str(folder), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "grades.csv", newline="") as f:
        return {(r["submission"], r["grade_id"]): r for r in csv.DictReader(f)}


@pytest.fixture(scope="module", params=sorted(CORPORA))
def graded(request, tmp_path_factory):
    notebook = request.param
    root = tmp_path_factory.mktemp(notebook)
    attacks = CORPORA[notebook]
    rows = _grade(root / "checked", notebook, sorted(attacks))
    unchecked = sorted(n for n, a in attacks.items() if a.unchecked)
    rows_unchecked = (_grade(root / "unchecked", notebook, unchecked, "--no-answer-policy")
                      if unchecked else {})
    return notebook, rows, rows_unchecked


def _assert(rows: dict, name: str, expected: dict) -> None:
    for item, (status, score, piece) in expected.items():
        row = rows[(name, item)]
        assert (row["status"], float(row["score"])) == (status, score), (name, item, row)
        assert piece in row["message"], (name, item, row["message"])


def test_every_attack_gets_its_due(graded):
    notebook, rows, _ = graded
    for name, attack in CORPORA[notebook].items():
        _assert(rows, name, attack.expect)


def test_without_the_policy_probes_and_the_judge_still_refuse(graded):
    notebook, _, rows = graded
    if not bwrap_status()[0]:
        pytest.skip("without bubblewrap a submission can reach the grader's files")
    for name, attack in CORPORA[notebook].items():
        if attack.unchecked:
            _assert(rows, name, attack.unchecked)


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")),
                         ids=lambda p: p.stem)
def test_every_graded_cell_of_the_course_is_probes_only(path):
    from attn_course.grading.probes import plan_test_cell

    assignment = load_source(path)  # refuses a cell the kernel's reply would judge
    for item in (i for i in assignment.items if i.kind == "auto"):
        plan = plan_test_cell(assignment.notebook.cells[item.index].source, "/io")
        assert plan.probes and not plan.kernel_judged, item.grade_id


def test_a_corpus_for_every_graded_notebook_with_module_checks():
    graded = {p.stem for p in (ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")
              if any(i.kind == "auto" for i in load_source(p).items)}
    assert {"01_scaled_dot_product_attention", "03_self_attention",
            "04_multi_head_attention", "05_why_several_heads", "06_gpu_acceleration",
            "08_flash_attention"} <= set(CORPORA) <= graded
