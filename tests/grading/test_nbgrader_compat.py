"""nbgrader and attn-course grade agree: the same source, the same submissions, the same scores.

A throwaway nbgrader course directory: `nbgrader generate_assignment` releases the source,
two students hand in the reference answers and the blank notebook, `nbgrader autograde` grades
them; `attn-course grade` grades the very same files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.grading import corpus
from tests.grading.conftest import run_cli

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _nbgrader(course: Path, *args: str) -> None:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_autograded_scores_match_nbgrader(tmp_path):
    pytest.importorskip("nbgrader")
    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    shutil.copy(corpus.SOURCE, course / "source" / "ps1")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'attn'\n"
        "c.CourseDirectory.db_assignments = [dict(name='ps1')]\n"
        "c.CourseDirectory.db_students = [dict(id='alice'), dict(id='bob')]\n")
    _nbgrader(course, "generate_assignment", "ps1", "--force")
    released = json.loads((course / "release" / "ps1" / "00_setup.ipynb").read_text())
    answers = {"alice": (corpus.CORRECT, corpus.ESSAY), "bob": (None, None)}
    for student, (code, text) in answers.items():
        nb = json.loads(json.dumps(released))
        if code is not None:
            corpus.cell(nb, corpus.ANSWER)["source"] = code
            corpus.cell(nb, corpus.WRITTEN)["source"] = text
        folder = course / "submitted" / student / "ps1"
        folder.mkdir(parents=True)
        (folder / "00_setup.ipynb").write_text(json.dumps(nb))
    _nbgrader(course, "autograde", "ps1")

    from nbgrader.api import Gradebook

    theirs = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in answers:
            for grade in gb.find_submission_notebook("00_setup", "ps1", student).grades:
                theirs[(student, grade.name)] = (None if grade.needs_manual_grade
                                                 else grade.auto_score)

    out = tmp_path / "out"
    proc = run_cli("grade", "--source", str(course / "source" / "ps1" / "00_setup.ipynb"),
                   "--out", str(out), "-q", str(course / "submitted"), timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "grades.json").read_text())
    ours = {(s["submission"].split("+")[0], i["grade_id"]): i["score"]
            for s in doc["submissions"] for i in s["items"]}
    assert ours == theirs
    assert theirs[("alice", corpus.TEST)] == 3 and theirs[("bob", corpus.TEST)] == 0
