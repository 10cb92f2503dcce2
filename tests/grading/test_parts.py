"""The grader's parts, without kernels: parsing tests, reading untrusted files, naming, scores."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from attn_course.checks import CHECKS
from attn_course.grading import manual
from attn_course.grading.batch import discover
from attn_course.grading.probes import Probe, judge_probe, plan_test_cell, read_result
from attn_course.grading.results import ItemResult, Store, SubmissionResult
from attn_course.grading.sandbox import package_dir, parse_size, python_paths
from attn_course.grading.source import SourceError, load_source, parse_source
from attn_course.grading.submission import read_submission
from tests.grading import corpus

ANSWERS = ["softmax-answer", "why-max"]


# ---- test cells as probes ---------------------------------------------------------------------
def test_check_calls_become_probes_and_hidden_ones_are_marked():
    source = ("### BEGIN HIDDEN TESTS\ncheck_softmax(softmax, seed=7)\n"
              "### END HIDDEN TESTS\ncheck_softmax(softmax)\n")
    plan = plan_test_cell(source, "/io")
    assert [(p.check, p.target, p.options, p.hidden) for p in plan.probes] == [
        ("softmax", "softmax", {"seed": 7}, True), ("softmax", "softmax", {}, False)]
    assert not plan.kernel_judged
    assert "check_softmax" not in plan.code and plan.code.count("kernel_probe") == 2
    assert len({p.filename for p in plan.probes}) == 2


def test_other_statements_run_as_written_and_are_judged_by_the_kernel():
    plan = plan_test_cell("x = 1\ncheck_softmax(softmax, masks=False)\nassert x == 1\n", "/io")
    assert plan.kernel_judged and plan.probes == []  # softmax takes no `masks` option
    assert "check_softmax(softmax, masks=False)" in plan.code
    plan = plan_test_cell("%time check_softmax(softmax)\n", "/io")
    assert plan.kernel_judged and plan.code.startswith("%time")
    plan = plan_test_cell("check_softmax(softmax, seed=int('7'))\n", "/io")
    assert plan.kernel_judged and not plan.probes  # not a literal: cannot be replayed


def _write(folder: Path, name: str, data) -> None:
    (folder / name).write_text(data if isinstance(data, str) else json.dumps(data))


def test_results_are_read_without_following_links_or_blocking(tmp_path):
    _write(tmp_path, "ok.json", {"a": 1})
    _write(tmp_path, "list.json", [1, 2])
    _write(tmp_path, "broken.json", "{not json")
    _write(tmp_path, "deep.json", "[" * 100000 + "]" * 100000)
    (tmp_path / "big.json").write_bytes(b" " * 2048)
    os.symlink("/etc/passwd", tmp_path / "link.json")
    os.mkfifo(tmp_path / "fifo.json")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert read_result(fd, "ok.json") == {"a": 1}
        assert read_result(fd, "list.json") == "malformed"
        assert read_result(fd, "broken.json") == "malformed"
        assert read_result(fd, "deep.json") == "malformed"
        assert read_result(fd, "big.json", limit=1024) == "too large"
        assert read_result(fd, "link.json") == "unreadable"
        assert read_result(fd, "fifo.json") == "unreadable"
        assert read_result(fd, "nothing.json") == "missing"
    finally:
        os.close(fd)


def _records(fn, options=None):
    check = CHECKS["softmax"]
    cases = check.cases(**(options or {}))
    return [r.to_dict() for r in check.run(fn, cases)]


def _oracle(x, dim=-1):
    import torch

    return torch.softmax(x.double(), dim=dim).to(x.dtype)


def test_honest_records_are_judged_here():
    probe = Probe("softmax", "softmax", {})
    good = judge_probe(probe, {"check": "softmax", "status": "ran", "records": _records(_oracle)})
    assert good.passed
    bad = judge_probe(probe, {"check": "softmax", "status": "ran",
                              "records": _records(lambda x, dim=-1: x)})
    assert not bad.passed and "softmax" in bad.message


@pytest.mark.parametrize("forge", ["no_data", "broadcast", "wrong_check", "few", "renamed",
                                   "garbage", "status"])
def test_forged_records_never_pass(forge):
    records = _records(_oracle)
    data = {"check": "softmax", "status": "ran", "records": records}
    if forge == "no_data":  # values without data would skip the comparison
        for r in records:
            r["value"]["data"] = None
    elif forge == "broadcast":  # one row claimed as the whole tensor
        for r in records:
            arr = r["value"]["data"]
            arr["shape"] = [1] * len(arr["shape"])
            arr["b64"] = arr["b64"][:12]
    elif forge == "wrong_check":
        data["check"] = "causal_mask"
    elif forge == "few":
        data["records"] = records[:3]
    elif forge == "renamed":
        records[0]["case"] = "something else"
    elif forge == "garbage":
        data["records"] = [{"status": "passed"}] * len(records)
    elif forge == "status":
        data = {"check": "softmax", "status": "passed", "passed": True}
    assert not judge_probe(Probe("softmax", "softmax", {}), data).passed


def test_missing_targets_get_a_helpful_message():
    probe = Probe("softmax", "softmax", {})
    out = judge_probe(probe, {"check": "softmax", "status": "target_error",
                              "error": {"type_name": "NameError", "message": "x"}})
    assert not out.passed and "answer cell" in out.message
    assert not judge_probe(probe, "missing").passed


# ---- reading submissions ------------------------------------------------------------------------
def _sub(tmp_path, data: bytes | str, **kw):
    path = tmp_path / "s.ipynb"
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return read_submission(path, ANSWERS, **kw)


@pytest.mark.parametrize("data,status", [
    (b"", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not_a_notebook"),
    ("hello", "not_a_notebook"),
    ('{"cells": [', "corrupt"),
    ("[1, 2]", "not_a_notebook"),
    ('{"nbformat": 3, "worksheets": []}', "unsupported_format"),
    ('{"nbformat": 4, "cells": []}', "empty"),
    ('{"nbformat": 4, "cells": "no"}', "corrupt"),
    ('{"nbformat": 4, "cells": [{"cell_type": "code", "source": "x"}]}', "wrong_notebook"),
])
def test_broken_files_get_a_status_and_a_message(tmp_path, data, status):
    sub = _sub(tmp_path, data)
    assert sub.problem is not None and sub.problem[0] == status and sub.problem[1]


def test_only_answer_cells_are_kept(tmp_path):
    nb = corpus.filled(corpus.CORRECT)
    nb["cells"].append({"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "imports"}},
                        "source": ["import os\n", "os._exit(1)"], "outputs": []})
    corpus.cell(nb, "softmax-answer")["source"] = corpus.CORRECT.splitlines(keepends=True)
    sub = _sub(tmp_path, json.dumps(nb))
    assert sub.problem is None
    assert set(sub.answers) == set(ANSWERS) and sub.answers["softmax-answer"] == corpus.CORRECT


def test_a_file_over_the_limit_is_not_read(tmp_path):
    sub = _sub(tmp_path, json.dumps(corpus.filled(corpus.CORRECT)), max_bytes=1000)
    assert sub.problem[0] == "too_large" and "MiB" in sub.problem[1]
    fifo = tmp_path / "pipe.ipynb"
    os.mkfifo(fifo)
    assert read_submission(fifo, ANSWERS).problem[0] == "not_a_notebook"
    # 2 MiB of code in one answer: never handed to the parser or the kernel
    sub = _sub(tmp_path, json.dumps(corpus.filled("x = 1\n" * 350_000)))
    assert sub.problem[0] == "too_large" and corpus.ANSWER in sub.problem[1]


# ---- sources ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["00_setup", "01_scaled_dot_product_attention", "02_masking"])
def test_course_sources_parse(name):
    a = load_source(corpus.ROOT / "solutions" / f"{name}.ipynb")
    assert any(i.kind == "auto" for i in a.items) and any(i.kind == "manual" for i in a.items)
    for item in a.items:
        if item.kind == "auto":
            assert item.answers, item  # each test follows the answer it exercises
    assert all("BEGIN SOLUTION" not in text for text in a.blank.values())
    # the grader keeps the source's cells, not the outputs and widget state of its run
    assert "widgets" not in a.notebook.metadata
    assert all(c.outputs == [] for c in a.notebook.cells if c.cell_type == "code")


def test_unusable_sources_are_refused(tmp_path):
    with pytest.raises(SourceError, match="cannot read"):
        load_source(tmp_path / "nope.ipynb")
    (tmp_path / "bad.ipynb").write_text("{")
    with pytest.raises(SourceError, match="not a readable notebook"):
        load_source(tmp_path / "bad.ipynb")
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    with pytest.raises(SourceError, match="no graded cell"):
        parse_source(nb, tmp_path / "x.ipynb", "0")


# ---- names, sizes, paths ----------------------------------------------------------------------
def test_submission_names_are_unique_and_safe(tmp_path):
    for student in ("alice", "bob"):
        (tmp_path / student).mkdir()
        (tmp_path / student / "01 attention.ipynb").write_text("{}")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "x.ipynb").write_text("{}")
    files, warnings = discover([tmp_path, tmp_path / "alice" / "01 attention.ipynb",
                                tmp_path / "missing.ipynb"])
    assert sorted(name for _, name in files) == ["alice+01%20attention", "bob+01%20attention"]
    assert any("missing.ipynb" in w for w in warnings)


def test_names_come_from_the_whole_path_and_never_collide(tmp_path):
    from attn_course.grading.batch import submission_name

    # s2's extra file named like s1's notebook once took s1's name
    for rel in ("s1/ps1/00_setup.ipynb", "s2/ps1/extra/s1__ps1__00_setup.ipynb"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}")
    files, _ = discover([tmp_path])
    assert sorted(n for _, n in files) == ["s1+ps1+00_setup", "s2+ps1+extra+s1__ps1__00_setup"]
    # the same path below two folders: the folders' names join the names
    for folder in ("batch1", "late"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "s1.ipynb").write_text("{}")
    files, _ = discover([tmp_path / "batch1", tmp_path / "late"])
    assert sorted(n for _, n in files) == ["batch1+s1", "late+s1"]
    # one to one: characters that could merge two names are written out
    names = {submission_name(Path(p)) for p in ("a b", "a_b", "a+b", "a/b", "a%2Bb", ".a", "%2Ea")}
    assert len(names) == 7 and all(n[0] != "." and "/" not in n for n in names)
    assert len(submission_name(Path("x" * 400))) <= 150
    # names that differ in case only stay apart where file names ignore case
    for stem in ("Alice", "alice"):
        (tmp_path / "class" / f"{stem}.ipynb").parent.mkdir(exist_ok=True)
        (tmp_path / "class" / f"{stem}.ipynb").write_text("{}")
    names = [n for _, n in discover([tmp_path / "class"])[0]]
    assert len({n.casefold() for n in names}) == 2 and all("~" in n for n in names), names
    # a file name that is not UTF-8 (bytes of another charset) still makes a name
    os.close(os.open(os.fsencode(tmp_path / "class") + b"/caf\xe9.ipynb", os.O_CREAT, 0o644))
    assert "caf%E9" in [n for _, n in discover([tmp_path / "class"])[0]]


def _nest(top: Path, name: str, depth: int, files: dict[str, bytes]) -> None:
    """`depth` folders called `name`, one inside the other, made without long paths, with
    `files` at the bottom."""
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        for file, data in files.items():
            with open(os.open(file, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
                f.write(data)
    finally:
        os.close(fd)


@pytest.fixture
def odd_tree(tmp_path):
    """1,500 nested folders (deeper than Python's recursion), 40 more with a path longer than
    PATH_MAX, a folder without permissions and a link out; removed without recursion after.
    At the bottom of the deep branch: a notebook and 1 MiB of data."""
    from attn_course.grading.folders import remove_tree

    root, outside = tmp_path / "tree", tmp_path / "outside"
    for folder in (root / "deep", root / "long", root / "locked", outside):
        folder.mkdir(parents=True)
    _nest(root / "deep", "d", 1500, {"s.ipynb": b"{}", "blob": b"x" * 2**20})
    _nest(root / "long", "x" * 200, 40, {"s.ipynb": b"{}"})
    (root / "locked" / "s.ipynb").write_text("{}")
    (outside / "keep.ipynb").write_text("{}")
    (root / "link").symlink_to(outside)
    yield root, outside
    remove_tree(root)  # pytest's own cleanup recurses


def test_discovery_walks_any_depth_without_recursion(odd_tree):
    root, _ = odd_tree
    (root / "locked").chmod(0)
    files, warnings = discover([root])
    deep = [f for f, _ in files if "deep" in f.relative_to(root).parts]
    assert [len(f.relative_to(root).parts) for f in deep] == [1502]
    assert all(len(name) < 200 for _, name in files)  # a long path still makes a short name
    assert not any("outside" in str(f) for f, _ in files)  # links are not followed
    assert any("folder skipped" in w for w in warnings), warnings


def test_sandbox_folders_are_measured_and_removed_whatever_their_shape(odd_tree):
    from attn_course.grading.folders import remove_tree, tree_bytes

    root, outside = odd_tree
    (root / "locked").chmod(0)
    assert tree_bytes(root) >= 2**20  # the 1 MiB at the bottom of the deep branch
    remove_tree(root)
    assert not root.exists()
    assert (outside / "keep.ipynb").exists()  # what a link points to is left alone


def test_sizes():
    assert parse_size("4G") == 4 * 2**30
    assert parse_size("512m") == 512 * 2**20
    assert parse_size("1.5GiB") == int(1.5 * 2**30)
    for bad in ("lots", "-1G", "0"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_the_sandbox_never_exposes_the_course_folder():
    paths = python_paths([corpus.SOURCE])
    assert package_dir() in paths
    course = package_dir().parent
    for path in paths:
        assert not (course == path or path in course.parents), path
        assert not (corpus.SOURCE.parent == path or path in corpus.SOURCE.parents), path


# ---- results and manual scores ---------------------------------------------------------------
def _result(name="alice", score=None, status="manual"):
    return SubmissionResult(name, "f", "s", "00_setup", "src", "graded", items=[
        ItemResult("softmax-check", "auto", 3.0, 3.0, "passed"),
        ItemResult("why-max", "manual", 2.0, score, status)])


def test_results_round_trip_and_cache_on_both_hashes(tmp_path):
    store = Store(tmp_path)
    store.prepare()
    store.save(_result())
    assert store.load("alice") == _result()
    assert store.cached("alice", "s", "src") is not None
    assert store.cached("alice", "other", "src") is None
    assert store.cached("alice", "s", "other") is None
    (store.results / "junk.json").write_text("{")
    assert [r.submission for r in store.all()] == ["alice"]


def test_locks_exclude_a_second_holder(tmp_path):
    store = Store(tmp_path)
    store.prepare()
    first, second = store.lock("alice"), store.lock("alice")
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


def test_manual_scores_are_validated(tmp_path):
    a = load_source(corpus.SOURCE)
    good = tmp_path / "good.csv"
    good.write_text("submission,grade_id,score,answer\nalice,why-max,1.5,text\nbob,why-max,\n")
    assert manual.read_scores(good, a) == {"alice": {"why-max": 1.5}}
    for body, problem in [("alice,why-max,3", "outside"), ("alice,nothing-here,1", "not a "),
                          ("alice,softmax-check,4", "outside 0..3"),
                          ("alice,why-max,many", "not a number"), (",why-max,1", "empty")]:
        bad = tmp_path / "bad.csv"
        bad.write_text("submission,grade_id,score\n" + body + "\n")
        with pytest.raises(manual.ManualScoresError, match=problem):
            manual.read_scores(bad, a)
    (tmp_path / "cols.csv").write_text("who,score\n")
    with pytest.raises(manual.ManualScoresError, match="columns"):
        manual.read_scores(tmp_path / "cols.csv", a)
    assert manual.read_scores(_csv(tmp_path, "alice,softmax-check,3"), a) == {
        "alice": {"softmax-check": 3.0}}  # an instructor may override a test's score
    result = _result()
    manual.apply_scores(result, {"alice": {"why-max": 1.5, "softmax-check": 2.0}})
    assert (result.items[1].score, result.items[1].status) == (1.5, "graded")
    assert (result.items[0].score, result.items[0].status) == (2.0, "graded")
    assert result.items[0].message == "Graded by the instructor (the automatic grade: passed)."


def _csv(folder, row: str):
    path = folder / "scores.csv"
    path.write_text("submission,grade_id,score\n" + row + "\n")
    return path


def test_the_policy_reads_code_not_prose():
    from attn_course.policy import violations

    prose = ('# a signal: open(...) the attn_course docs\ndef f(x):\n    """os.fork(), exec"""\n'
             '    return "reference.softmax"\n')
    assert violations(prose) == []
    found = violations("import os\nos.fork()\nfrom attn_course import reference\n")
    assert [v.line for v in found] == [1, 3]
    assert violations("def f(x)\n    return x\n") == []  # the kernel reports syntax errors


# ---- shards ----------------------------------------------------------------------------------
def test_every_submission_falls_in_exactly_one_share():
    from attn_course.grading.shards import parse_shard, shard_of

    names = [f"student{i}+ps1+04" for i in range(2000)]
    for parts in (1, 3, 8):
        counts = [0] * parts
        for name in names:
            share = shard_of(name, parts)
            assert 1 <= share <= parts and shard_of(name, parts) == share
            counts[share - 1] += 1
        assert min(counts) > 0.8 * len(names) / parts  # roughly even
    assert parse_shard("2/8") == (2, 8)
    for bad in ("0/8", "9/8", "2", "a/b", "2/0", "-1/2"):
        with pytest.raises(ValueError, match="K/N"):
            parse_shard(bad)


def _stored(outdir, name="s1", file="/class/s1.ipynb", status="graded", at="2026-01-01T10:00:00"):
    result = SubmissionResult(name, file, "sha", "00_setup", "src", status,
                              graded_at=at, items=[ItemResult("t", "auto", 3.0, 3.0, "passed")])
    if status == "grader_error":
        result.items[0].status = "grader_error"
    store = Store(outdir)
    store.prepare()
    store.save(result)
    return store


def test_a_merge_keeps_real_results_and_reports_other_files(tmp_path):
    from types import SimpleNamespace

    from attn_course.grading.shards import merge

    source = SimpleNamespace(sha256="src")
    final = _stored(tmp_path / "all", at="2026-01-01T10:00:00")
    _stored(tmp_path / "failed", status="grader_error", at="2026-01-02T10:00:00")
    _stored(tmp_path / "later", at="2026-01-03T10:00:00")
    _stored(tmp_path / "other", file="/late/s1.ipynb")
    _stored(tmp_path / "old", name="s2").save(SubmissionResult(
        "s2", "/class/s2.ipynb", "sha", "00_setup", "an older source", "graded"))

    report = merge(final, source, [tmp_path / "failed"])
    assert report.kept == ["s1"] and final.load("s1").status == "graded"
    report = merge(final, source, [tmp_path / "later"])
    assert report.replaced == ["s1"] and final.load("s1").graded_at.startswith("2026-01-03")
    report = merge(final, source, [tmp_path / "other"])
    assert len(report.conflicts) == 1 and final.load("s1").file == "/class/s1.ipynb"
    report = merge(final, source, [tmp_path / "other"], force=True)
    assert report.replaced == ["s1"] and final.load("s1").file == "/late/s1.ipynb"
    report = merge(final, source, [tmp_path / "old"])
    assert report.stale == 1 and final.load("s2") is None


def test_a_merge_joins_manual_scores_without_overwriting(tmp_path):
    from types import SimpleNamespace

    from attn_course.grading.shards import merge

    final = _stored(tmp_path / "all")
    part = _stored(tmp_path / "part")
    manual.store_scores(tmp_path / "all", {"s1": {"why": 1.0}})
    manual.store_scores(tmp_path / "part", {"s1": {"why": 2.0, "other": 1.0}})
    report = merge(final, SimpleNamespace(sha256="src"), [part.outdir])
    assert report.scores == 1 and len(report.score_conflicts) == 1
    assert manual.stored_scores(tmp_path / "all") == {"s1": {"why": 1.0, "other": 1.0}}


# ---- the machine's faults ----------------------------------------------------------------------
def test_a_missing_result_where_space_or_inodes_ran_out_is_the_machines_fault(tmp_path,
                                                                                monkeypatch):
    import collections

    from attn_course.grading import grader

    assert grader.short_of_space(tmp_path) == ""
    usage = collections.namedtuple("usage", "total used free")
    real_usage = grader.shutil.disk_usage
    monkeypatch.setattr(grader.shutil, "disk_usage", lambda p: usage(2**30, 2**30, 10 * 2**20))
    assert "short of space (10 MiB free" in grader.short_of_space(tmp_path)
    monkeypatch.setattr(grader.shutil, "disk_usage", real_usage)
    inodes = collections.namedtuple(
        "inodes", "f_files f_favail f_blocks f_bfree f_bavail f_frsize")
    plenty = (2**20, 2**20, 2**20, 4096)
    monkeypatch.setattr(grader.os, "statvfs", lambda p: inodes(10**6, 12, *plenty))
    assert "short of inodes (12 more files" in grader.short_of_space(tmp_path)
    monkeypatch.setattr(grader.os, "statvfs", lambda p: inodes(0, 0, *plenty))  # no limit
    assert grader.short_of_space(tmp_path) == ""


def test_empty_files_count_toward_a_sandboxs_folder(tmp_path):
    from attn_course.grading.folders import ENTRY_COST, tree_bytes

    for i in range(500):
        (tmp_path / f"f{i}").touch()
    assert tree_bytes(tmp_path) >= 500 * ENTRY_COST
