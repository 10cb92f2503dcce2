"""What a student sees in a real IPython kernel: a failed check shows its verdict and nothing of
the package; a name the kernel forgot says to run the cells above, also after a restart."""

from __future__ import annotations

import os
import re

import nbclient
import nbformat
import pytest

from attn_course import lab
from attn_course.checks import CheckFailed
from attn_course.kernel_hints import name_hint

pytestmark = pytest.mark.slow
ANSI = re.compile(r"\x1b\[[0-9;]*m")

WRONG_SOFTMAX = "import torch\ndef softmax(x, dim=-1):\n    return torch.exp(x)\n"


def run(cells: list[str], env: dict | None = None) -> list[list[dict]]:
    """Run `cells` in a fresh python3 kernel; each cell's outputs."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=120)
    client.execute(**({} if env is None else {"env": env}))  # env: the kernel's environment
    return [c.outputs for c in nb.cells]


def shown(output: dict) -> str:
    return ANSI.sub("", "\n".join(output.get("traceback", [])))


def test_render_traceback_is_the_verdict():
    error = CheckFailed("softmax: 3 of 4 cases failed.\nPossible mistake: x")
    lines = [ANSI.sub("", line) for line in error._render_traceback_()]
    assert lines == ["✗ softmax: 3 of 4 cases failed.", "Possible mistake: x"]
    assert isinstance(error, AssertionError)


def test_a_failed_check_shows_the_verdict_and_no_package_frames():
    outputs = run([f"from attn_course.checks import check_softmax\n{WRONG_SOFTMAX}",
                   "check_softmax(softmax)"])  # fmt: skip
    (error,) = outputs[1]
    assert error["output_type"] == "error" and error["ename"] == "CheckFailed"
    text = shown(error)
    assert text.startswith("✗ softmax:"), text[:300]
    assert "without dividing by the sum" in text  # the named mistake
    for internal in ("skipping hidden", "attn_course/checks", "core.py", "Traceback", "----> "):
        assert internal not in text, f"{internal!r} in what the student sees:\n{text}"


def test_a_forgotten_name_in_a_cell_gets_the_hint_and_library_errors_do_not():
    outputs = run([
        "from attn_course import checks",  # importing any check installs the hint
        "check_softmax(softmax)",
        "import json\njson.loads(None)",
    ])  # fmt: skip
    name_error, library_error = outputs[1][0], outputs[2][0]
    assert name_error["ename"] == "NameError"
    assert "run the cells above" in shown(name_error)
    assert ANSI.sub("", name_hint("check_softmax")[0]) in shown(name_error)
    assert library_error["ename"] == "TypeError"
    assert "run the cells above" not in shown(library_error)


def test_after_a_restart_the_labs_kernels_give_the_hint_before_any_import(tmp_path):
    own = tmp_path / "mine.py"
    own.write_text("users_startup_ran = True\n")
    env = lab.lab_environment({**os.environ, "PYTHONSTARTUP": str(own)})
    outputs = run(["check_softmax(softmax)", "users_startup_ran",
                   "sorted(k for k in globals() if 'attn' in k.lower())"], env=env)  # fmt: skip
    assert outputs[0][0]["ename"] == "NameError"
    assert "run the cells above" in shown(outputs[0][0])
    assert outputs[1][0]["data"]["text/plain"] == "True"  # the user's own startup file still ran
    assert outputs[2][0]["data"]["text/plain"] == "[]"  # and nothing was left in the namespace


def test_without_the_lab_a_fresh_kernel_gives_the_plain_error():
    """The hint comes from the lab's startup (or an import), not from nowhere: the test above
    can fail."""
    (error,) = run(["check_softmax(softmax)"], env={**os.environ, "PYTHONSTARTUP": ""})[0]
    assert error["ename"] == "NameError" and "run the cells above" not in shown(error)
