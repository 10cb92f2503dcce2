"""The work folder: the student's copies of the notebooks, never replaced once worked on."""

from __future__ import annotations

import json

import pytest

from attn_course.cli import main
from attn_course.workspace import RECORD, prepare


@pytest.fixture
def course(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name in ("00_setup.ipynb", "01_attention.ipynb"):
        (notebooks / name).write_text(f'{{"v": 1, "name": "{name}"}}')
    (notebooks / "scratch.txt").write_text("not a course notebook")
    return notebooks, tmp_path / "work"


def test_first_run_copies_every_course_notebook(course):
    notebooks, work = course
    done = prepare(notebooks, work)
    assert sorted(p.name for p in done.copied) == ["00_setup.ipynb", "01_attention.ipynb"]
    assert not (work / "scratch.txt").exists()
    copy, original = work / "01_attention.ipynb", notebooks / "01_attention.ipynb"
    assert copy.read_text() == original.read_text()
    assert set(json.loads((work / RECORD).read_text())) == {"00_setup.ipynb", "01_attention.ipynb"}


def test_the_students_work_is_never_replaced(course):
    notebooks, work = course
    prepare(notebooks, work)
    mine = work / "01_attention.ipynb"
    mine.write_text('{"v": 1, "my": "implementation"}')
    (notebooks / "01_attention.ipynb").write_text('{"v": 2}')  # the course moves on

    done = prepare(notebooks, work)
    assert mine.read_text() == '{"v": 1, "my": "implementation"}'
    assert done.kept == [(mine, notebooks / "01_attention.ipynb")]
    said = done.lines()[0]
    assert "kept your" in said and str(notebooks / "01_attention.ipynb") in said
    prepare(notebooks, work)  # and again: still kept
    assert mine.read_text() == '{"v": 1, "my": "implementation"}'


def test_an_untouched_copy_follows_the_course(course):
    notebooks, work = course
    prepare(notebooks, work)
    (notebooks / "00_setup.ipynb").write_text('{"v": 2}')
    done = prepare(notebooks, work)
    assert [p.name for p in done.updated] == ["00_setup.ipynb"]
    assert (work / "00_setup.ipynb").read_text() == '{"v": 2}'


def test_a_copy_made_before_the_record_existed_is_kept(course):
    notebooks, work = course
    work.mkdir()
    (work / "00_setup.ipynb").write_text("my own version")
    done = prepare(notebooks, work)
    assert (work / "00_setup.ipynb").read_text() == "my own version"
    assert [p.name for p, _ in done.kept] == ["00_setup.ipynb"]
    assert [p.name for p in done.copied] == ["01_attention.ipynb"]


def test_a_deleted_copy_comes_back(course):
    notebooks, work = course
    prepare(notebooks, work)
    (work / "00_setup.ipynb").unlink()
    assert [p.name for p in prepare(notebooks, work).copied] == ["00_setup.ipynb"]


def test_cli_lab_dry_run_prepares_and_prints_the_command(course, tmp_path, capsys):
    notebooks, work = course
    code = main(["lab", "--notebooks", str(notebooks), "--work", str(work), "--dry-run",
                 "--port", "9999", "--no-browser"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "copied" in out and (work / "00_setup.ipynb").exists()
    command = out.strip().splitlines()[-1]
    assert f"--ServerApp.root_dir={work.resolve()}" in command
    assert command.endswith("--port 9999 --no-browser")


def test_cli_lab_without_notebooks_says_where_to_run_it(tmp_path, capsys):
    assert main(["lab", "--notebooks", str(tmp_path / "nowhere"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "course folder" in err and "Traceback" not in err


def test_other_commands_still_refuse_unknown_options(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["release", "--bogus"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
