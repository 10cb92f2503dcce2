"""The command line: misuse is refused clearly, written answers go out and their scores in."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from tests.grading import corpus
from tests.grading.conftest import run_cli


def _misuse(capsys, *args: str) -> str:
    from attn_course.cli import main

    assert main(list(args)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_misuse_exits_2_with_a_message(tmp_path, capsys):
    sub = tmp_path / "s.ipynb"
    sub.write_bytes(corpus.dump(corpus.student()))
    out = str(tmp_path / "out")
    src = str(corpus.SOURCE)
    for args, message in [
        (("--source", str(tmp_path / "no.ipynb")), "cannot read the source"),
        (("--source", str(corpus.ROOT / "README.md")), "not a readable notebook"),
        (("--source", src, "--memory-limit", "lots"), "not a size"),
        (("--source", src, "--jobs", "0"), "positive"),
    ]:
        assert message in _misuse(capsys, "grade", *args, "--out", out, str(sub))
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert "output folder" in _misuse(capsys, "grade", "--source", src, "--out",
                                      str(blocker / "out"), str(sub))
    assert "no submission found" in _misuse(capsys, "grade", "--source", src, "--out", out,
                                            str(tmp_path / "nothing.ipynb"))
    assert "no such notebook" in _misuse(capsys, "check", str(tmp_path / "nothing.ipynb"))
    plain = tmp_path / "plain.ipynb"
    plain.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    assert "no graded cell" in _misuse(capsys, "grade", "--source", str(plain), "--out", out,
                                       str(sub))


@pytest.mark.slow
def test_without_the_sandbox_the_grader_warns_loudly(tmp_path):
    sub = tmp_path / "ref.ipynb"
    sub.write_bytes(corpus.dump(corpus.filled(corpus.CORRECT)))
    proc = run_cli("grade", "--source", str(corpus.SOURCE), "--out", str(tmp_path / "out"),
                   "--sandbox", "rlimits", "-q", str(sub), timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING: NOT SANDBOXED" in proc.stderr
    doc = json.loads((tmp_path / "out" / "grades.json").read_text())
    (result,) = doc["submissions"]
    assert result["sandbox"] == "rlimits" and result["score"] == 3


@pytest.mark.slow
def test_written_answers_are_exported_and_scores_merged(batch, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(batch.outdir, out)
    (out / "grades.csv").unlink()
    shutil.rmtree(out / "feedback")
    proc = run_cli("grade", "--source", str(corpus.SOURCE), "--out", str(out), timeout=120)
    rebuilt = f"reports rebuilt from the {len(corpus.EXPECT)}"
    assert proc.returncode == 0 and rebuilt in proc.stdout, proc.stderr
    assert (out / "grades.csv").exists() and (out / "feedback" / "reference.html").exists()
    with open(out / "manual" / "why-max.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    by_name = {r["submission"]: r for r in rows}
    assert by_name["reference"]["answer"] == corpus.ESSAY
    assert by_name["reference"]["score"] == "" and by_name["blank"]["score"] == "0"
    page = (out / "manual" / "why-max.html").read_text()
    assert "Rubric" in page and corpus.ESSAY[:40] in page  # model answer, rubric, answers
    assert "<svg" in page and "$e^" not in page.split("<h2>Answers")[0]  # math drawn

    by_name["reference"]["score"] = "1.5"
    by_name["blank"]["score"] = "0.5"  # the instructor's word wins over "unanswered"
    scores = tmp_path / "scores.csv"
    with open(scores, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(by_name.values())
    proc = run_cli("grade", "--source", str(corpus.SOURCE), "--out", str(out),
                   "--manual-scores", str(scores), timeout=120)
    assert proc.returncode == 0, proc.stderr
    with open(out / "grades.csv", newline="") as f:
        graded = {(r["submission"], r["grade_id"]): r for r in csv.DictReader(f)}
    assert graded[("reference", "why-max")]["score"] == "1.5"
    assert graded[("reference", "why-max")]["status"] == "graded"
    assert graded[("blank", "why-max")]["score"] == "0.5"
    doc = json.loads((out / "grades.json").read_text())
    reference = next(s for s in doc["submissions"] if s["submission"] == "reference")
    assert reference["score"] == 4.5 and reference["manual_pending"] == 0
    with open(out / "grades_by_student.csv", newline="") as f:
        by_student = {r["student_id"]: r for r in csv.DictReader(f)}
    assert (by_student["reference"]["score"], by_student["reference"]["needs_manual_grade"],
            by_student["reference"]["manual_pending"]) == ("4.5", "False", "0")
    assert "4.5 / 5" in (out / "feedback" / "reference.html").read_text()

    scores.write_text("submission,grade_id,score\nreference,why-max,7\n")
    proc = run_cli("grade", "--source", str(corpus.SOURCE), "--out", str(out),
                   "--manual-scores", str(scores), timeout=120)
    assert proc.returncode == 2 and "outside 0..2" in proc.stderr


@pytest.mark.slow
def test_a_student_copy_is_graded_only_when_allowed(tmp_path):
    sub = tmp_path / "alice.ipynb"
    sub.write_bytes(corpus.dump(corpus.filled(corpus.CORRECT, corpus.ESSAY)))
    args = ["grade", "--source", str(corpus.STUDENT), "--out", str(tmp_path / "out"), "-q",
            str(sub)]
    proc = run_cli(*args, timeout=180)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "is a student notebook, not a source" in proc.stderr
    assert not (tmp_path / "out" / "results" / "alice.json").exists()
    proc = run_cli(*args, "--allow-student-source", timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "no model answers" in proc.stdout and "no hidden tests" in proc.stdout
    doc = json.loads((tmp_path / "out" / "grades.json").read_text())
    (alice,) = doc["submissions"]
    assert [i["status"] for i in alice["items"]] == ["passed", "manual"]
    page = (tmp_path / "out" / "manual" / "why-max.html").read_text()
    assert "YOUR ANSWER HERE" not in page and "hold no solution" in page
