"""Sandboxes share nothing that outlives them: kernel keyrings and other kernel-global state are
refused, /tmp is the sandbox's own, and no descriptor reaches a host file it could write."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from attn_course.grading import seccomp
from attn_course.grading.kernel import Kernel
from attn_course.grading.sandbox import Limits, Sandbox, bwrap_status

pytestmark = pytest.mark.slow
MODES = ["bwrap", "rlimits"]
COLUMN = {"x86_64": 0, "aarch64": 1}.get(platform.machine())
needs_filter = pytest.mark.skipif(COLUMN is None, reason="no seccomp filter for this machine")


def _run_in_kernel(mode: str, code: str) -> str:
    """Run `code` in a fresh sandboxed kernel; "" when it ran cleanly, else its error."""
    if mode == "bwrap" and not bwrap_status()[0]:
        pytest.skip(bwrap_status()[1])
    with Sandbox(Limits(), mode=mode) as sandbox:
        kernel = Kernel(sandbox)
        try:
            run = kernel.run(code, timeout=60)
        finally:
            kernel.shutdown()
    return "" if run.status == "ok" else f"{run.status}: {run.error_text()}"


def _calls() -> dict[str, tuple]:
    """Refused calls, each with arguments that do no harm where a call is allowed."""
    nr = {name: numbers[COLUMN] for name, numbers in seccomp.REFUSED.items()}
    return {
        # what the attack used: a key stored by one sandbox, read by the next
        "add_key": (nr["add_key"], b"user", b"attn-course-answer", b"def softmax", 11, -4),
        "keyctl": (nr["keyctl"], 0, -4, 0),  # KEYCTL_GET_KEYRING_ID of the user keyring
        "request_key": (nr["request_key"], b"user", b"attn-course-answer", None, 0),
        "unshare": (nr["unshare"], 0x10000000),  # CLONE_NEWUSER
        "bpf": (nr["bpf"], 9999, None, 0),
        "userfaultfd": (nr["userfaultfd"], 0),
        "io_uring_setup": (nr["io_uring_setup"], 1, None),
        "perf_event_open": (nr["perf_event_open"], None, 0, -1, -1, 0),
        "syslog": (nr["syslog"], 10, None, 0),  # the size of the kernel log buffer
        "mount": (nr["mount"], None, None, None, 0, None),
    }


@needs_filter
@pytest.mark.parametrize("mode", MODES)
def test_kernel_global_state_is_refused(mode):
    code = textwrap.dedent(f"""\
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        got = {{}}
        for name, (number, *args) in {_calls()!r}.items():
            args = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
            ctypes.set_errno(0)
            value = libc.syscall(ctypes.c_long(number), *args)
            got[name] = ctypes.get_errno() if value == -1 else "allowed"
        assert set(got.values()) == {{1}}, got  # EPERM, every one
        """)
    assert _run_in_kernel(mode, code) == ""


@needs_filter
def test_without_the_filter_a_keyring_is_reachable():
    """The same call outside a sandbox is not refused: what the test above sees is the filter."""
    code = textwrap.dedent(f"""\
        import ctypes, sys
        libc = ctypes.CDLL(None, use_errno=True)
        number, *args = {_calls()["keyctl"]!r}
        value = libc.syscall(*[ctypes.c_long(a) for a in (number, *args)])
        sys.exit(1 if value == -1 and ctypes.get_errno() == 1 else 0)
        """)
    if subprocess.run([sys.executable, "-c", code]).returncode:
        pytest.skip("this machine refuses keyrings to every process")
    with Sandbox(Limits(), mode="rlimits") as sandbox:
        sandbox.seccomp = ""  # the same sandbox, without its filter
        assert subprocess.run(sandbox.argv([sys.executable, "-c", code])).returncode == 0


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x32 exists on x86-64 only")
def test_the_x32_abi_cannot_go_around_the_filter():
    code = ("import ctypes, sys\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            f"value = libc.syscall(ctypes.c_long(0x40000000 | {seccomp.REFUSED['keyctl'][0]}), "
            "ctypes.c_long(0), ctypes.c_long(-4), ctypes.c_long(0))\n"
            "sys.exit(7 if value == -1 and ctypes.get_errno() == 1 else 0)\n")
    with Sandbox(Limits(), mode="rlimits") as sandbox:
        proc = subprocess.run(sandbox.argv([sys.executable, "-c", code]), timeout=60)
    assert proc.returncode == 7  # EPERM from the filter (an x32 kernel would run it)


@pytest.mark.parametrize("mode", MODES)
def test_tmp_is_writable_and_no_host_file_is_open_for_writing(mode):
    code = textwrap.dedent("""\
        import os, tempfile
        folder = tempfile.gettempdir()
        assert folder == os.environ["TMPDIR"], (folder, os.environ["TMPDIR"])
        with open(os.path.join(folder, "scratch"), "w") as f:
            f.write("mine")
        own = (folder, os.path.expanduser("~"))
        writable = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
                info = open(f"/proc/self/fdinfo/{fd}").read()
            except OSError:
                continue
            flags = int(info.split("flags:")[1].split()[0], 8)
            if target.startswith("/") and flags & 3 and target != "/dev/null" \\
                    and not target.startswith(own):
                writable.append(target)
        assert writable == [], writable
        """)
    assert _run_in_kernel(mode, code) == ""


def test_tmp_in_the_bubblewrap_sandbox_is_its_own():
    import tempfile

    host = Path(tempfile.mkdtemp(prefix="host-only-", dir="/tmp"))
    try:
        code = ("with open('/tmp/scratch', 'w') as f:\n    f.write('mine')\n"
                "import os\nseen = os.listdir('/tmp')\n"
                f"assert 'scratch' in seen and {host.name!r} not in seen, seen\n")
        assert _run_in_kernel("bwrap", code) == ""
        assert not (Path("/tmp") / "scratch").exists() or \
            (Path("/tmp") / "scratch").read_text() != "mine"
    finally:
        host.rmdir()


@needs_filter
@pytest.mark.parametrize("mode", MODES)
def test_a_sandbox_keeps_to_its_processor(mode):
    """A hundred busy threads slow only their own submission: the kernel is pinned to one
    processor and may not leave it."""
    code = textwrap.dedent("""\
        import os
        mine = os.sched_getaffinity(0)
        assert len(mine) == 1, mine
        try:
            os.sched_setaffinity(0, range(os.cpu_count()))
        except PermissionError:
            pass
        else:
            raise AssertionError("the sandbox widened its processors")
        import torch
        torch.ones(64, 64) @ torch.ones(64, 64)  # torch works, pinned
        """)
    assert _run_in_kernel(mode, code) == ""


def test_sandboxes_alongside_each_other_get_different_processors():
    import os

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one processor on this machine")
    with Sandbox(Limits(), mode="rlimits") as first, Sandbox(Limits(), mode="rlimits") as second:
        cpus = [json.loads(s.argv(["true"])[4])["cpus"] for s in (first, second)]
    assert len(cpus[0]) == len(cpus[1]) == 1 and cpus[0] != cpus[1]
