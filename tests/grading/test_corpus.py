"""The corpus graded in one batch: every honest, broken and hostile submission gets its due.

See corpus.py for what each submission does. One `attn-course grade --jobs 2` run grades them
all (conftest.py); each test reads its rows from grades.csv / grades.json.
"""

from __future__ import annotations

import csv

import pytest

from tests.grading import corpus
from tests.grading.conftest import sandbox_processes

pytestmark = pytest.mark.slow


def test_the_batch_ran_and_exited_zero(batch):
    assert batch.proc.returncode == 0, batch.proc.stderr[-3000:]
    assert "Traceback" not in batch.proc.stderr, batch.proc.stderr[-3000:]


def test_every_submission_has_a_row_per_item(batch):
    pairs = {(r["submission"], r["grade_id"]) for r in batch.rows}
    assert pairs == {(name, gid) for name in corpus.EXPECT
                     for gid in (corpus.TEST, corpus.WRITTEN)}
    assert len(batch.rows) == len(pairs)


@pytest.mark.parametrize("name", sorted(corpus.EXPECT))
def test_submission(batch, name):
    expect = corpus.EXPECT[name]
    test, written = batch.row(name, corpus.TEST), batch.row(name, corpus.WRITTEN)
    assert test["max_score"] == "3"
    assert written["status"] == expect.written, written
    if expect.policy:  # refused before it ran, saying what it used
        assert (test["status"], float(test["score"])) == ("policy_violation", 0), test
        assert expect.policy in test["message"], test["message"]
        assert any("breaks the answer policy" in n for n in batch.result(name)["notes"])
        return
    _expected(batch, name, test)


def _expected(batch, name, test):
    expect = corpus.EXPECT[name]
    if expect.needs == "bwrap" and not batch.sandboxed:
        pytest.skip("only the bubblewrap sandbox stops this attack")
    assert (test["status"], float(test["score"])) == (expect.status, expect.score), test
    assert expect.message in test["message"], test["message"]
    if expect.note:
        assert any(expect.note in n for n in batch.result(name)["notes"]), batch.result(name)


@pytest.mark.parametrize("name", sorted(n for n, e in corpus.EXPECT.items() if e.policy))
def test_without_the_policy_the_sandbox_and_judge_still_hold(unchecked, name):
    assert unchecked.proc.returncode == 0, unchecked.proc.stderr[-3000:]
    _expected(unchecked, name, unchecked.row(name, corpus.TEST))


def test_correct_work_graded_alongside_the_attacks_keeps_its_marks(unchecked):
    row = unchecked.row("reference", corpus.TEST)
    assert (row["status"], row["score"]) == ("passed", "3"), row


def test_written_answers_wait_for_the_instructor(batch):
    row = batch.row("reference", corpus.WRITTEN)
    assert row["score"] == "" and row["status"] == "manual"
    assert batch.row("blank", corpus.WRITTEN)["score"] == "0"


def test_no_sandbox_process_outlives_the_batch(batch):
    assert batch.proc.returncode == 0
    assert sandbox_processes() == []


def test_the_sandbox_is_announced(batch):
    modes = {s["sandbox"] for s in batch.doc["submissions"] if s["status"] == "graded"}
    if batch.sandboxed:
        assert modes == {"bwrap"}
        assert "NOT SANDBOXED" not in batch.proc.stderr
    else:
        assert modes == {"rlimits"}
        assert "NOT SANDBOXED" in batch.proc.stderr
    limits = {s["memory"] for s in batch.doc["submissions"] if s["status"] == "graded"}
    assert len(limits) == 1 and limits.pop().startswith("2 GiB, ")
    mechanism = batch.result("reference")["memory"].removeprefix("2 GiB, ")
    assert "watchdog" in mechanism
    line = next(ln for ln in batch.proc.stdout.splitlines() if ln.startswith("Sandbox: "))
    assert f"memory limit per kernel: 2 GiB, {mechanism}" in line, line


def test_feedback_names_the_mistake_and_escapes_student_text(batch):
    page = (batch.outdir / "feedback" / "textbook.html").read_text()
    assert "Likely mistake" in page and "0 / 3" in page
    page = (batch.outdir / "feedback" / "syntax_error.html").read_text()
    assert "SyntaxError" in page and "Your error" in page
    page = (batch.outdir / "feedback" / "reference.html").read_text()
    assert "pending, up to 2 points" in page and "between 3 and 5" in page
    for page in (batch.outdir / "feedback").glob("*.html"):
        assert "<script" not in page.read_text().lower()


def test_summary_table_is_printed(batch):
    out, count = batch.proc.stdout, len(corpus.EXPECT)
    waiting = sum(e.written == "manual" for e in corpus.EXPECT.values())
    assert "softmax-check" in out and f"Graded {count}" in out
    # written answers still to grade are pending, never 0
    assert f"Score distribution ({count - waiting} fully graded submissions)" in out
    assert f"Pending: {waiting} submission(s) have written answers still to be graded" in out
    assert f"Autograded part, 3 points ({count} submissions)" in out


def test_csv_reports_have_one_line_per_row(batch):
    assert all("\n" not in r["message"] and "\r" not in r["message"] for r in batch.rows)
    message = batch.row("textbook", corpus.TEST)["message"]
    assert "Likely mistake" in message and " | Fix: " in message
    with open(batch.outdir / "grades_by_student.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert set(rows) == set(corpus.EXPECT)
    reference = rows["reference"]
    assert (reference["assignment"], reference["raw_score"], reference["score"],
            reference["max_score"]) == ("00_setup", "3", "3", "5")
    assert (reference["needs_manual_grade"], reference["manual_pending"]) == ("True", "1")
    assert (rows["blank"]["needs_manual_grade"], rows["blank"]["score"]) == ("False", "0")


def test_grades_json_totals(batch):
    doc = batch.doc
    assert doc["max_score"] == 5
    reference = batch.result("reference")
    assert reference["score"] == 3 and reference["manual_pending"] == 1
    assert batch.result("corrupt")["status"] == "corrupt"


def test_rerun_resumes_without_grading_again(batch):
    from tests.grading.conftest import run_cli

    before = {p.name: p.stat().st_mtime_ns for p in (batch.outdir / "results").iterdir()}
    proc = run_cli("grade", "--source", str(corpus.SOURCE), "--out", str(batch.outdir), "-q",
                   "--max-submission-size", "12M", str(batch.folder),
                   str(batch.folder / "essay.txt"), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"Graded 0, reused {len(corpus.EXPECT)}" in proc.stdout
    after = {p.name: p.stat().st_mtime_ns for p in (batch.outdir / "results").iterdir()}
    assert after == before
