"""A corpus of honest, broken and hostile submissions, built from the student notebooks.

Each entry fills the answer cells of ``notebooks/00_setup.ipynb`` (or damages the file) and says
what the grader must conclude: the status and score of the test item ``softmax-check`` (3
points) and the status of the written answer ``why-max``. Several attacks turn their own success
into a correct function (e.g. "if I could read the source, exec its solution"), so a leak in the
sandbox shows up as points where there must be none.
"""

from __future__ import annotations

import base64
import copy
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "solutions" / "00_setup.ipynb"
STUDENT = ROOT / "notebooks" / "00_setup.ipynb"
ANSWER, TEST, WRITTEN = "softmax-answer", "softmax-check", "why-max"

CORRECT = textwrap.dedent("""\
    def softmax(x, dim=-1):
        shifted = x - x.amax(dim=dim, keepdim=True)
        e = torch.exp(shifted)
        return e / e.sum(dim=dim, keepdim=True)
    """)
TEXTBOOK = textwrap.dedent("""\
    def softmax(x, dim=-1):
        e = torch.exp(x)
        return e / e.sum(dim=dim, keepdim=True)
    """)
ESSAY = ("Subtracting the maximum multiplies every numerator and the denominator by the same "
         "factor, so it cancels; afterwards every exponent is at most 0, so nothing overflows.")


@dataclass(frozen=True)
class Expect:
    """What the grader must report for one submission."""

    status: str  # of softmax-check
    score: float  # of softmax-check
    written: str = "unanswered"  # status of why-max
    message: str = ""  # a piece of the softmax-check message
    note: str = ""  # a piece of the submission's notes
    needs: str = ""  # "bwrap": only meaningful inside the sandbox
    policy: str = ""  # refused by the answer policy, naming this; the rest of the expectation
    #                   is what the sandbox and the judge make of it with --no-answer-policy


def student() -> dict:
    return json.loads(STUDENT.read_text(encoding="utf-8"))


def cell(nb: dict, grade_id: str) -> dict:
    return next(c for c in nb["cells"]
                if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def filled(answer: str | None = None, written: str | None = None) -> dict:
    nb = student()
    if answer is not None:
        cell(nb, ANSWER)["source"] = answer
    if written is not None:
        cell(nb, WRITTEN)["source"] = written
    return nb


def dump(nb: dict) -> bytes:
    return json.dumps(nb, indent=1).encode()


# --------------------------------------------------------------------------------------------
# The attacks (answer cell code)
# --------------------------------------------------------------------------------------------
PATCHED_CHECKS = TEXTBOOK + textwrap.dedent("""\
    import attn_course.checks as checks
    from attn_course.checks.check import Check
    from attn_course.checks.records import Record, to_value
    from attn_course.checks.results import Verdict
    Check.judge = lambda self, records, cases: Verdict(self.name, ())
    Check.check = lambda self, fn, **kw: None
    Check.run = lambda self, fn, cases: [
        Record(c.name, "returned", value=to_value(c.inputs["x"])) for c in cases]
    checks.check_softmax = lambda *a, **k: None
    check_softmax = lambda *a, **k: None
    """)

PATCHED_PROBE = TEXTBOOK + textwrap.dedent("""\
    import json, os, sys, types
    from attn_course.checks import CHECKS
    fake = types.ModuleType("attn_course.grading.kernel_probe")
    def probe(directory, filename, name, target, options):
        cases = CHECKS[name].cases(**options)
        records = [{"case": c.name, "status": "returned", "value": {
            "kind": "tensor", "type_name": "Tensor", "shape": list(c.shapes[0]),
            "dtype": "torch.float64", "device": "cpu", "data": None, "items": [],
            "requires_grad": False, "note": ""}} for c in cases]
        with open(os.path.join(directory, filename), "w") as f:
            json.dump({"format": 1, "check": name, "status": "ran", "records": records,
                       "passed": True, "score": 3}, f)
    fake.probe = probe
    sys.modules["attn_course.grading.kernel_probe"] = fake
    import attn_course.grading
    attn_course.grading.kernel_probe = fake
    """)

PATCHED_TORCH = TEXTBOOK + textwrap.dedent("""\
    import numpy as np
    torch.allclose = lambda *a, **k: True
    torch.equal = lambda *a, **k: True
    torch.testing.assert_close = lambda *a, **k: None
    torch.Tensor.__eq__ = lambda self, other: True
    np.allclose = lambda *a, **k: True
    np.testing.assert_allclose = lambda *a, **k: None
    """)

SILENCED = TEXTBOOK + textwrap.dedent("""\
    import sys
    ip = get_ipython()
    ip.showtraceback = lambda *a, **k: None
    ip._showtraceback = lambda *a, **k: None
    ip.set_custom_exc((BaseException,), lambda *a, **k: None)
    sys.excepthook = lambda *a: None
    """)

FORGED_FILES = TEXTBOOK + textwrap.dedent("""\
    import glob, json, os, threading, time
    def forge():
        for _ in range(4000):
            for d in glob.glob("/tmp/attn-grade-*/io") + [os.path.dirname(
                    os.environ.get("MPLCONFIGDIR", "/nonexistent"))]:
                for path in glob.glob(os.path.join(d, "probe-*.json")):
                    try:
                        if hash(path) % 2:
                            os.remove(path)
                            os.symlink("/etc/passwd", path)
                        else:
                            with open(path, "w") as f:
                                json.dump({"format": 1, "check": "softmax", "status": "ran",
                                           "records": [{"status": "passed"}] * 11}, f)
                    except OSError:
                        pass
            time.sleep(0.005)
    threading.Thread(target=forge, daemon=True).start()
    """)


def reads_source(outdir: Path, subs: Path) -> str:
    return TEXTBOOK + textwrap.dedent(f"""\
        import glob, json, os, socket
        leaks = []
        paths = [{str(SOURCE)!r}, {str(outdir / "grades.json")!r}]
        paths += glob.glob({str(subs)!r} + "/*.ipynb")
        paths += glob.glob("/work/**/*.ipynb", recursive=True)[:200]
        paths += glob.glob("/tmp/**/*.ipynb", recursive=True)[:200]
        paths += glob.glob("/root/**/*.ipynb", recursive=True)[:200]
        for path in paths:
            try:
                nb = json.load(open(path))
            except Exception:
                continue
            leaks.append(path)
            for c in nb.get("cells", []):
                if "BEGIN SOLUTION" in "".join(c.get("source", "")) and c["cell_type"] == "code":
                    exec("".join(c["source"]), globals())
        try:
            socket.create_connection(("1.1.1.1", 53), timeout=2)
            leaks.append("network")
        except OSError:
            pass
        if leaks:
            exec({CORRECT!r}, globals())
        """)


FORK_BOMB = textwrap.dedent("""\
    import os, signal, time
    kids = []
    for _ in range(400):  # bounded: the sandbox must stop it well before
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        kids.append(pid)
    for pid in kids:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    exec(CORRECT if len(kids) < 300 else TEXTBOOK)
    """).replace("CORRECT", repr(CORRECT)).replace("TEXTBOOK", repr(TEXTBOOK))

# The limit is on memory used, not reserved: CUDA reserves address space by the gigabyte.
RESERVES = textwrap.dedent("""\
    reserved = torch.empty(6 * 2**30, dtype=torch.uint8)  # 6 GiB of address space, untouched
    """) + CORRECT

MEMORY_HOG = textwrap.dedent("""\
    def softmax(x, dim=-1):
        hog = torch.ones(2**31, dtype=torch.float32)  # 8 GiB
        return hog[: x.numel()].reshape(x.shape)
    """)

# Files in the sandbox's tmpfs are memory too: 450 MiB there, and anonymous memory up to 300 MiB
# below the 2 GiB limit, pass only if the tmpfs is not counted.
TMPFS_HOG = textwrap.dedent("""\
    import os
    for folder in (os.environ["TMPDIR"], os.environ["HOME"]):
        with open(os.path.join(folder, "blob"), "wb") as f:
            for _ in range(225):
                f.write(b"x" * 2**20)
    anon = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status")
                if line.startswith("RssAnon:"))
    hog = torch.ones((2 * 2**30 - 300 * 2**20 - anon) // 4)
    """) + CORRECT

# Fills every folder the kernel can write, the io folder it shares with the grader included,
# hoping for a full disk under OUTDIR: each is memory the sandbox's limit counts.
FILLS_DISK = textwrap.dedent("""\
    import os, sys
    folders = [os.environ["TMPDIR"], os.path.expanduser("~")]
    folders += [os.path.dirname(a) for a in sys.argv if a.endswith(".json")]
    block = b"x" * 2**26
    for folder in folders:
        for i in range(64):
            try:
                with open(os.path.join(folder, f"fill{i}"), "wb") as f:
                    f.write(block)
            except OSError:
                break
    """) + CORRECT

# Kernel keyrings outlive a process and are shared by a user's processes: a key stored here
# could be read by a later submission. If one can be stored, the attack "succeeds" (scores).
KEYRING = textwrap.dedent("""\
    import ctypes, platform
    libc = ctypes.CDLL(None, use_errno=True)
    ADD_KEY = {"x86_64": 248, "aarch64": 217}.get(platform.machine(), -1)
    payload = b"def softmax(x, dim=-1): ..."
    stored = libc.syscall(ctypes.c_long(ADD_KEY), b"user", b"attn-course-answer", payload,
                          ctypes.c_long(len(payload)), ctypes.c_long(-4))
    if stored != -1:
        exec(CORRECT)
    """).replace("CORRECT", repr(CORRECT))

NOISY = textwrap.dedent("""\
    import warnings
    warnings.warn("a deprecation", DeprecationWarning)
    warnings.warn("a user warning" + " on stderr" * 2000)
    print("lots of output\\n" * 2000)
    def softmax(x, dim=-1):
        print("called with", tuple(x.shape))
        warnings.warn("inside softmax")
        shifted = x - x.amax(dim=dim, keepdim=True)
        e = torch.exp(shifted)
        return e / e.sum(dim=dim, keepdim=True)
    """)

FLOOD = CORRECT + 'for _ in range(200):\n    print("x" * 100_000)\n'
LOOP_AFTER_DEF = CORRECT + "while True:\n    pass\n"
LOOP_IN_FUNCTION = "def softmax(x, dim=-1):\n    while True:\n        pass\n"
STUBBORN = CORRECT + textwrap.dedent("""\
    import time
    while True:
        try:
            time.sleep(0.2)
        except BaseException:
            pass
    """)
KERNEL_EXIT = CORRECT + "import os\nos._exit(3)\n"
def _overfits_public() -> str:
    """A softmax right only on the public test's inputs, which it memorised (as literals, the
    way a student who printed them would)."""
    from attn_course.checks import CHECKS

    seen = sorted({tuple(round(v, 6) for v in c.inputs["x"].flatten()[:3].tolist())
                   for c in CHECKS["softmax"].cases(0)})
    return textwrap.dedent(f"""\
        _seen = {seen!r}

        def softmax(x, dim=-1):
            if tuple(round(v, 6) for v in x.flatten()[:3].tolist()) not in _seen:
                return x  # right only on the inputs of the public test
            shifted = x - x.amax(dim=dim, keepdim=True)
            e = torch.exp(shifted)
            return e / e.sum(dim=dim, keepdim=True)
        """)


OVERFITS_PUBLIC = _overfits_public()
USES_REFERENCE = ("from attn_course.reference import softmax as _ref\n\n"
                  "def softmax(x, dim=-1):\n    return _ref(x, dim=dim)\n")


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------
def _big_outputs(nb: dict, megabytes: int) -> dict:
    text = ("y" * 1000 + "\n") * (megabytes * 1000)
    cell(nb, ANSWER)["outputs"] = [{"output_type": "stream", "name": "stdout", "text": text}]
    cell(nb, ANSWER)["execution_count"] = 1
    return nb


def _tampered_tests() -> dict:
    nb = filled(TEXTBOOK)
    test = cell(nb, TEST)
    test["source"] = "pass"
    test["metadata"]["nbgrader"].update(points=100, solution=True, checksum="0" * 32)
    imports = cell(nb, "imports")
    imports["source"] += "\ncheck_softmax = lambda *a, **k: None\n"
    return nb


def _tampered_cells() -> dict:
    nb = filled(CORRECT, ESSAY)
    for c in nb["cells"]:
        gid = c["metadata"].get("nbgrader", {}).get("grade_id")
        if c["cell_type"] == "code" and gid != ANSWER:
            c["source"] = "import os\nos._exit(1)\n"
    return nb


def _deleted_tests() -> dict:
    nb = filled(CORRECT)
    nb["cells"] = [c for c in nb["cells"]
                   if c["metadata"].get("nbgrader", {}).get("grade_id") in (ANSWER, WRITTEN)]
    return nb


def _missing_answer() -> dict:
    nb = filled(written=ESSAY)
    nb["cells"] = [c for c in nb["cells"] if c is not cell(nb, ANSWER)]
    return nb


def _duplicate_answer() -> dict:
    nb = filled(TEXTBOOK)
    second = copy.deepcopy(cell(nb, ANSWER))
    second["source"] = CORRECT
    nb["cells"].append(second)
    return nb


def _v3() -> dict:
    return {"nbformat": 3, "nbformat_minor": 0, "metadata": {},
            "worksheets": [{"cells": [{"cell_type": "code", "input": CORRECT,
                                       "metadata": {"nbgrader": {"grade_id": ANSWER}}}]}]}


PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


EXPECT: dict[str, Expect] = {
    "reference": Expect("passed", 3, "manual"),
    "blank": Expect("failed", 0, message="not implemented yet"),
    "textbook": Expect("failed", 0, message="Likely mistake"),
    "tampered_tests": Expect("failed", 0),
    "tampered_cells": Expect("passed", 3, "manual"),
    "deleted_tests": Expect("passed", 3),
    "patched_checks": Expect("failed", 0, policy="import attn_course.checks"),
    "patched_probe": Expect("failed", 0, message="could not be read",
                            policy="json, os, sys, types"),
    "patched_torch": Expect("failed", 0, policy="`torch.allclose` changes an object"),
    "silenced": Expect("failed", 0, policy="get_ipython"),
    "forged_files": Expect("failed", 0, policy="threading"),
    "reads_source": Expect("failed", 0, needs="bwrap", policy="socket"),
    "fork_bomb": Expect("passed", 3, needs="bwrap", policy="signal"),
    "reserves_address_space": Expect("passed", 3),
    "memory_hog": Expect("out_of_memory", 0, message="exceeded the memory limit (2 GiB)"),
    "tmpfs_hog": Expect("not_run", 0, message="exceeded the memory limit (2 GiB)",
                        needs="bwrap", policy="import os"),
    "fills_disk": Expect("not_run", 0, message="exceeded the memory limit (2 GiB)",
                         policy="import os"),
    "keyring": Expect("failed", 0, policy="import ctypes"),
    "lone_surrogates": Expect("passed", 3, "manual", note="not valid text"),
    "raises_surrogates": Expect("failed", 0, message="raised ValueError: bad \\ud800"),
    "noisy_correct": Expect("passed", 3, "manual"),
    "flood_output": Expect("passed", 3),
    "loop_after_def": Expect("passed", 3, message="did not run cleanly"),
    "loop_in_function": Expect("timeout", 0),
    "stubborn_loop": Expect("not_run", 0, "manual", message="stopped", policy="time"),
    "kernel_exit": Expect("not_run", 0, message="died", policy="import os"),
    "syntax_error": Expect("failed", 0, message="SyntaxError"),
    "missing_answer": Expect("failed", 0, "manual", message="missing"),
    "duplicate_answer": Expect("failed", 0, note="twice"),
    "uses_reference": Expect("passed", 3, policy="from attn_course.reference import"),
    "overfits_public": Expect("failed", 0, message="Hidden test failed"),
    "too_large": Expect("too_large", 0, "too_large"),
    "corrupt": Expect("corrupt", 0, "corrupt"),
    "v3": Expect("unsupported_format", 0, "unsupported_format"),
    "empty": Expect("empty", 0, "empty"),
    "picture": Expect("not_a_notebook", 0, "not_a_notebook"),
    "wrong_notebook": Expect("wrong_notebook", 0, "wrong_notebook"),
    "essay.txt": Expect("not_a_notebook", 0, "not_a_notebook"),
}


def _files(folder: Path, outdir: Path) -> dict[str, bytes]:
    return {
        "reference": dump(filled(CORRECT, ESSAY)),
        "blank": dump(student()),
        "textbook": dump(filled(TEXTBOOK)),
        "tampered_tests": dump(_tampered_tests()),
        "tampered_cells": dump(_tampered_cells()),
        "deleted_tests": dump(_deleted_tests()),
        "patched_checks": dump(filled(PATCHED_CHECKS)),
        "patched_probe": dump(filled(PATCHED_PROBE)),
        "patched_torch": dump(filled(PATCHED_TORCH)),
        "silenced": dump(filled(SILENCED)),
        "forged_files": dump(filled(FORGED_FILES)),
        "reads_source": dump(filled(reads_source(outdir, folder))),
        "fork_bomb": dump(filled(FORK_BOMB)),
        "reserves_address_space": dump(filled(RESERVES)),
        "memory_hog": dump(filled(MEMORY_HOG)),
        "tmpfs_hog": dump(filled(TMPFS_HOG)),
        "fills_disk": dump(filled(FILLS_DISK)),
        "keyring": dump(filled(KEYRING)),
        # JSON's "\ud800" decodes to a lone surrogate, which UTF-8 cannot carry
        "lone_surrogates": dump(filled(CORRECT + "# \ud800\n", "An essay \ud800")),
        "raises_surrogates": dump(filled(
            'def softmax(x, dim=-1):\n    raise ValueError("bad \\ud800 \\udc80")\n')),
        "noisy_correct": dump(filled(NOISY, ESSAY)),
        "flood_output": dump(_big_outputs(filled(FLOOD), 8)),
        "loop_after_def": dump(filled(LOOP_AFTER_DEF)),
        "loop_in_function": dump(filled(LOOP_IN_FUNCTION)),
        "stubborn_loop": dump(filled(STUBBORN, ESSAY)),
        "kernel_exit": dump(filled(KERNEL_EXIT)),
        "syntax_error": dump(filled("def softmax(x, dim=-1)\n    return x\n")),
        "missing_answer": dump(_missing_answer()),
        "duplicate_answer": dump(_duplicate_answer()),
        "uses_reference": dump(filled(USES_REFERENCE)),
        "overfits_public": dump(filled(OVERFITS_PUBLIC)),
        "too_large": dump(_big_outputs(filled(CORRECT), 20)),
        "corrupt": dump(filled(CORRECT))[:-200],
        "v3": json.dumps(_v3()).encode(),
        "empty": b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
        "picture": PNG,
        "wrong_notebook": (ROOT / "notebooks" / "01_scaled_dot_product_attention.ipynb")
        .read_bytes(),
    }


def build(folder: Path, outdir: Path) -> list[Path]:
    """Write the corpus into `folder` (grading output will go to `outdir`); return the files.

    Every file is a notebook except essay.txt, which has to be passed by name.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in _files(folder, outdir).items():
        (folder / f"{name}.ipynb").write_bytes(data)
        paths.append(folder / f"{name}.ipynb")
    (folder / "essay.txt").write_text(ESSAY)
    return [*paths, folder / "essay.txt"]
