"""The memory limit: what a sandbox uses (a cgroup and a watchdog), never the address space."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time

import pytest

from attn_course.grading.memory import (
    CGROUP_PREFIX,
    Cgroup,
    MemoryGuard,
    Watchdog,
    cgroup_bases,
    format_size,
    sweep_cgroups,
)
from attn_course.grading.sandbox import Limits, Sandbox

MiB = 2**20

# Touches every page of `n` MiB (anonymous memory), then waits to be killed.
ALLOCATE = ("import sys, time\nb = bytearray({n} * 2**20)\n"
            "for i in range(0, len(b), 4096):\n    b[i] = 1\n"
            "print('allocated', flush=True)\ntime.sleep(60)\n")
# Reserves 4 GiB of address space without touching it, the way CUDA does, then waits.
RESERVE = ("import mmap, time\nm = mmap.mmap(-1, 4 * 2**30)\nprint('reserved', flush=True)\n"
           "time.sleep(60)\n")


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _wait_dead(proc: subprocess.Popen, seconds: float = 20) -> int | None:
    try:
        return proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def test_sizes_read_as_people_write_them():
    assert format_size(2 * 2**30) == "2 GiB"
    assert format_size(3 * 2**29) == "1.5 GiB"
    assert format_size(512 * MiB) == "512 MiB"
    assert format_size(100) == "100 B"


def test_the_watchdog_kills_a_tree_past_the_limit_children_included():
    # two children of 100 MiB each: only their sum is over the limit
    child = ALLOCATE.format(n=100)
    parent = ("import subprocess, sys\n"
              f"kids = [subprocess.Popen([sys.executable, '-c', {child!r}]) for _ in range(2)]\n"
              "[kid.wait() for kid in kids]\n")
    proc = subprocess.Popen(_python(parent))
    dog = Watchdog(proc.pid, 150 * MiB, interval=0.05)
    try:
        assert _wait_dead(proc) is not None, "the watchdog did not stop the tree"
        assert dog.exceeded and dog.peak > 150 * MiB
    finally:
        dog.stop()


def test_pages_that_forked_children_share_count_once():
    # 120 MiB touched, then three forks: RSS summed would be 480 MiB, the memory used is 120
    code = ALLOCATE.format(n=120).replace(
        "print(", "import os\nkids = [os.fork() or time.sleep(60) for _ in range(3)]\nprint(")
    proc = subprocess.Popen(_python(code), stdout=subprocess.PIPE, text=True)
    dog = Watchdog(proc.pid, 250 * MiB, interval=0.05)
    try:
        assert proc.stdout.readline().strip() == "allocated"
        time.sleep(0.5)
        assert proc.poll() is None and not dog.exceeded
        assert 120 * MiB < dog.peak < 250 * MiB
    finally:
        dog.stop()
        dog.kill()
        proc.wait()


def test_the_watchdog_leaves_reserved_address_space_alone():
    proc = subprocess.Popen(_python(RESERVE), stdout=subprocess.PIPE, text=True)
    dog = Watchdog(proc.pid, 200 * MiB, interval=0.05)
    try:
        assert proc.stdout.readline().strip() == "reserved"
        time.sleep(0.5)
        assert proc.poll() is None and not dog.exceeded
        assert 0 < dog.peak < 200 * MiB
    finally:
        dog.stop()
        proc.kill()
        proc.wait()


def _own_cgroup(limit: int) -> Cgroup:
    group, why = Cgroup.create(f"{CGROUP_PREFIX}test-{secrets.token_hex(4)}", limit)
    if group is None:
        pytest.skip(f"no cgroup can be made here: {why}")
    return group


def test_a_cgroup_stops_a_fast_allocation_and_says_so():
    group = _own_cgroup(100 * MiB)
    try:
        join = f"open({str(group.procs)!r}, 'w').write(str(__import__('os').getpid()))\n"
        proc = subprocess.Popen(_python(join + ALLOCATE.format(n=400)), stdout=subprocess.PIPE)
        assert _wait_dead(proc) == -9
        assert group.oom_killed()
    finally:
        assert group.remove()
    assert not group.folder.exists()


def test_a_cgroup_lets_reserved_address_space_be():
    group = _own_cgroup(100 * MiB)
    try:
        join = f"open({str(group.procs)!r}, 'w').write(str(__import__('os').getpid()))\n"
        proc = subprocess.Popen(_python(join + RESERVE), stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "reserved"
        assert proc.poll() is None and not group.oom_killed()
        proc.kill()
        proc.wait()
    finally:
        assert group.remove()


def test_the_sandbox_launcher_joins_its_cgroup():
    with Sandbox(Limits(memory=100 * MiB), mode="rlimits") as sandbox:
        if sandbox.memory.cgroup is None:
            pytest.skip(f"no cgroup can be made here: {sandbox.memory.cgroup_problem}")
        assert sandbox.memory.mechanism.startswith("cgroup v")
        proc = subprocess.Popen(sandbox.argv(_python(ALLOCATE.format(n=400))),
                                stdout=subprocess.PIPE)
        assert _wait_dead(proc) == -9
        assert sandbox.memory.exceeded
        assert sandbox.memory.describe() == "exceeded the memory limit (100 MiB)"
        folder = sandbox.memory.cgroup.folder
    assert not folder.exists()


def test_without_a_cgroup_the_watchdog_alone_enforces_the_limit():
    guard = MemoryGuard(120 * MiB, "unused", use_cgroup=False)
    assert guard.mechanism == "RSS watchdog" and guard.procs_file == ""
    proc = subprocess.Popen(_python(ALLOCATE.format(n=300)))
    try:
        guard.watch(proc.pid)
        assert _wait_dead(proc) == -9
        assert guard.exceeded
    finally:
        guard.close()


def test_leftover_cgroups_of_killed_graders_are_swept():
    if not cgroup_bases():
        pytest.skip("no cgroup memory controller is mounted")
    group = _own_cgroup(100 * MiB)
    keep = _own_cgroup(100 * MiB)
    try:
        sweep_cgroups(alive={keep.folder.name})
        assert not group.folder.exists() and keep.folder.exists()
    finally:
        group.remove(wait=0)
        keep.remove(wait=0)
