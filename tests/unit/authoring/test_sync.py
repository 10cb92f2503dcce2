"""The sync check: notebooks/ against what release would write from solutions/."""

from __future__ import annotations

import nbformat

from attn_course.authoring.release import release
from attn_course.authoring.sync import check_release
from attn_course.cli import main


def test_release_check_reports_missing_drift_and_stale(tmp_path, source):
    src, dest = tmp_path / "solutions", tmp_path / "notebooks"
    src.mkdir()
    nbformat.write(source, src / "01_double.ipynb")

    assert [(d.path.name, d.reason) for d in check_release(src, dest)] == [
        ("01_double.ipynb", "missing"),
        (".release.json", "missing (release records what it wrote there)"),
    ]
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

    release(src, dest, force=True)  # both files were changed by hand: only forced
    assert not (dest / "02_old.ipynb").exists()
    assert check_release(src, dest) == []

    (dest / ".release.json").write_text("{}", encoding="utf-8")
    assert [str(d) for d in check_release(src, dest)] == [
        f"{dest / '.release.json'}: does not record what release would write"
    ]


def test_cli_release_check_exit_codes(tmp_path, capsys, source):
    src, dest = tmp_path / "solutions", tmp_path / "notebooks"
    src.mkdir()
    nbformat.write(source, src / "01_double.ipynb")
    args = ["release", "--source", str(src), "--dest", str(dest)]

    assert main([*args, "--check"]) == 1
    assert "01_double.ipynb: missing" in capsys.readouterr().err
    assert main(args) == 0
    assert main([*args, "--check"]) == 0


def test_release_and_its_check_leave_the_work_folder_alone(tmp_path, capsys, source):
    """Students work in work/, beside notebooks/: neither release nor its check looks there."""
    src, dest, work = tmp_path / "solutions", tmp_path / "notebooks", tmp_path / "work"
    src.mkdir()
    work.mkdir()
    nbformat.write(source, src / "01_double.ipynb")
    mine = work / "01_double.ipynb"
    mine.write_text('{"my": "work"}')
    args = ["release", "--source", str(src), "--dest", str(dest)]
    assert main(args) == 0
    assert main([*args, "--check"]) == 0
    assert mine.read_text() == '{"my": "work"}'
    assert sorted(p.name for p in work.iterdir()) == ["01_double.ipynb"]
