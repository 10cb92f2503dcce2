"""GPUs in the grader: a GPU source's submissions each get a device of their own, others none."""

from __future__ import annotations

import json
import os
import stat
import threading
import time

import nbformat
import pytest
import torch
from nbformat.v4 import new_code_cell, new_notebook

from attn_course.authoring.release import student_version
from attn_course.grading.gpu import Gpu, GpuSlot, nvidia_gpus
from attn_course.grading.reports import how_run
from attn_course.grading.results import SubmissionResult
from attn_course.grading.sandbox import Limits, Sandbox
from attn_course.grading.source import load_source
from tests.grading import corpus
from tests.grading.conftest import run_cli
from tests.grading.test_sources import meta

# Minor numbers no real machine uses, so these tests never wait for a grader's real GPU.
FAKE = [Gpu(900 + n, f"/dev/nvidia{900 + n}", ("/dev/nvidiactl",), n) for n in range(2)]


def test_devices_are_the_nvidia_character_nodes(tmp_path):
    try:
        for minor in (1, 0, 10):
            os.mknod(tmp_path / f"nvidia{minor}", stat.S_IFCHR | 0o600, os.makedev(195, minor))
        os.mknod(tmp_path / "nvidiactl", stat.S_IFCHR | 0o600, os.makedev(195, 255))
    except PermissionError:
        pytest.skip("making device nodes needs root")
    (tmp_path / "nvidia7").write_text("a plain file is no device")
    (tmp_path / "nvidia-uvm").write_text("")
    gpus = nvidia_gpus(str(tmp_path))
    assert [(g.minor, g.index) for g in gpus] == [(0, 0), (1, 1), (10, 2)]
    assert gpus[0].nodes == (str(tmp_path / "nvidia0"), str(tmp_path / "nvidiactl"),
                             str(tmp_path / "nvidia-uvm"))
    assert nvidia_gpus(str(tmp_path / "missing")) == []


def test_each_gpu_is_held_by_one_submission_at_a_time():
    first, second = GpuSlot(FAKE), GpuSlot(FAKE)
    assert {first.gpu, second.gpu} == set(FAKE)  # two devices: nobody waits
    got: list[GpuSlot] = []
    waiter = threading.Thread(target=lambda: got.append(GpuSlot(FAKE, poll=0.02)))
    waiter.start()
    time.sleep(0.3)
    assert got == []  # both devices are taken: the third submission waits
    second.release()
    waiter.join(timeout=5)
    assert [s.gpu for s in got] == [second.gpu] and got[0].waited >= 0.2
    for slot in (first, *got):
        slot.release()


def test_a_wait_for_a_gpu_ends_when_grading_stops():
    with GpuSlot(FAKE[:1]):
        stop = threading.Event()
        threading.Timer(0.2, stop.set).start()
        with pytest.raises(InterruptedError):
            GpuSlot(FAKE[:1], stop=stop, poll=0.02)


def test_a_sandbox_sees_its_own_gpu_and_no_other():
    with Sandbox(Limits(), mode="bwrap" if _bwrap() else "rlimits", gpu=FAKE[1]) as sandbox:
        argv, env = sandbox.argv(["true"]), sandbox.environment()
    if sandbox.mode == "bwrap":
        binds = [argv[i + 1] for i, a in enumerate(argv) if a == "--dev-bind"]
        assert binds == ["/dev/nvidia901", "/dev/nvidiactl"]
        assert "CUDA_VISIBLE_DEVICES" not in env
    else:  # every node is visible without bwrap: CUDA is told which one
        assert env["CUDA_VISIBLE_DEVICES"] == "1" and env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    with Sandbox(Limits(), mode=sandbox.mode) as plain:
        argv, env = plain.argv(["true"]), plain.environment()
    assert "--dev-bind" not in argv and env["CUDA_VISIBLE_DEVICES"] == ""


def _bwrap() -> bool:
    from attn_course.grading.sandbox import bwrap_status

    return bwrap_status()[0]


# ---- a GPU source, graded end to end ----------------------------------------------------------
# The answer runs on the GPU when one is visible; `strict` answers insist on one.
ON_DEVICE = """\
def softmax(x, dim=-1):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    assert device == "cuda" or not STRICT, "no GPU in the sandbox"
    y = x.to(device)
    e = torch.exp(y - y.amax(dim=dim, keepdim=True))
    return (e / e.sum(dim=dim, keepdim=True)).to(x.device)
"""


def gpu_source() -> nbformat.NotebookNode:
    return new_notebook(cells=[
        new_code_cell("import torch\nfrom attn_course.checks import check_softmax",
                      metadata=meta("imports")),
        new_code_cell("STRICT = False\n### BEGIN SOLUTION\n" + ON_DEVICE + "### END SOLUTION\n",
                      metadata=meta("softmax-answer", solution=True)),
        new_code_cell("check_softmax(softmax)\n",
                      metadata=meta("softmax-check", grade=True, points=3)),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}, "attn_course": {"gpu": True}})


def _grade_gpu_source(tmp_path, answers: dict[str, str], *extra: str):
    source = tmp_path / "06_gpu.ipynb"
    source.write_text(nbformat.writes(gpu_source()))
    student = json.loads(nbformat.writes(student_version(gpu_source())))
    folder = tmp_path / "subs"
    folder.mkdir()
    for name, answer in answers.items():
        nb = json.loads(json.dumps(student))
        corpus.cell(nb, "softmax-answer")["source"] = answer
        (folder / f"{name}.ipynb").write_text(json.dumps(nb))
    proc = run_cli("grade", "--source", str(source), "--out", str(tmp_path / "out"), "-q",
                   "--jobs", "2", "--timeout", "60", *extra, str(folder))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "out" / "grades.json").read_text())
    return proc, {s["submission"]: s for s in doc["submissions"]}


def test_a_source_asks_for_a_gpu_in_its_metadata():
    assert not load_source(corpus.SOURCE).uses_gpu
    nb = gpu_source()
    assert nb.metadata["attn_course"] == {"gpu": True}


def _result(name: str, sandbox: str, memory: str, gpu: str = "") -> SubmissionResult:
    return SubmissionResult(name, "", "", "", "", "graded", sandbox=sandbox, memory=memory,
                            gpu=gpu)


def test_the_summary_names_sandbox_memory_mechanism_and_gpus():
    results = [_result("a", "bwrap", "2 GiB, cgroup v1 memory.limit_in_bytes + RSS watchdog",
                       "/dev/nvidia0"), _result("b", "bwrap", "", "")]
    line = how_run(results, ["a"], wants_gpu=True)
    assert line == ("Sandbox: bwrap; memory limit per kernel: 2 GiB, cgroup v1 "
                    "memory.limit_in_bytes + RSS watchdog; one submission at a time on each "
                    "GPU (/dev/nvidia0).")
    line = how_run([_result("a", "rlimits", "4 GiB, RSS watchdog")], ["a"], wants_gpu=True)
    assert line.endswith("RSS watchdog; the source asks for a GPU, none was found: graded on "
                         "the CPU.")
    assert how_run(results, [], wants_gpu=False) == "Sandbox: no kernel was started in this run."


@pytest.mark.slow
def test_a_gpu_source_is_graded_on_the_cpu_where_there_is_no_gpu(tmp_path):
    if nvidia_gpus():
        pytest.skip("this machine has a GPU: the gpu-marked test covers it")
    proc, results = _grade_gpu_source(tmp_path, {"anywhere": "STRICT = False\n" + ON_DEVICE})
    assert results["anywhere"]["score"] == 3 and results["anywhere"]["gpu"] == ""
    assert "the source asks for a GPU, none was found" in proc.stdout


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_submission_is_graded_end_to_end(tmp_path):
    strict = "STRICT = True\n" + ON_DEVICE
    answers = {"on_gpu": strict, "also_on_gpu": strict,
               "hog": "def softmax(x, dim=-1):\n    h = torch.ones(2**31)\n    return h[:1]\n"}
    proc, results = _grade_gpu_source(tmp_path, answers, "--memory-limit", "3G")
    for name in ("on_gpu", "also_on_gpu"):  # CUDA works inside the sandbox, under the limit
        assert results[name]["score"] == 3, results[name]
        assert results[name]["gpu"].startswith("/dev/nvidia")
    hog = results["hog"]["items"][0]
    assert hog["status"] == "out_of_memory" and "(3 GiB)" in hog["message"], hog
    assert "one submission at a time on each GPU" in proc.stdout
    # --no-gpu hides the device: a submission that insists on one fails
    _, hidden = _grade_gpu_source(tmp_path / "hidden", {"on_gpu": answers["on_gpu"]}, "--no-gpu")
    assert hidden["on_gpu"]["score"] == 0 and hidden["on_gpu"]["gpu"] == ""
    assert "no GPU in the sandbox" in hidden["on_gpu"]["items"][0]["message"]


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("notebook", ["06_gpu_acceleration", "08_flash_attention"])
def test_the_course_gpu_notebooks_are_graded_on_the_gpu(tmp_path, notebook):
    """The course's own answers, and a kernel that forgot the rescale, graded on a GPU: the
    Triton kernel compiles inside the sandbox and the checks judge what it computed."""
    from tests.grading.notebook_corpora import CORPORA, ROOT, submission

    source = ROOT / "solutions" / f"{notebook}.ipynb"
    assert load_source(source).uses_gpu
    folder = tmp_path / "in"
    folder.mkdir()
    names = ["solution", "forgets_the_rescale"] if notebook.startswith("08") else ["solution"]
    for name in names:
        (folder / f"{name}.ipynb").write_bytes(submission(notebook, CORPORA[notebook][name]
                                                          .answers))
    proc = run_cli("grade", "--source", str(source), "--out", str(tmp_path / "out"), "-q",
                   "--jobs", "1", "--timeout", "300", str(folder), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((tmp_path / "out" / "grades.json").read_text())
    results = {s["submission"]: s for s in doc["submissions"]}
    for name in names:
        assert results[name]["gpu"].startswith("/dev/nvidia"), results[name]
        for item in results[name]["items"]:
            want = CORPORA[notebook][name].expect.get(item["grade_id"])
            if want is not None:
                assert (item["status"], item["score"]) == want[:2], item
