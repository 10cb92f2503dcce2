"""The memory limit of one sandbox: what its processes *use*, not the address space they reserve.

A CUDA build of torch maps gigabytes of address space just to import, and a CUDA context
reserves address space on the order of the GPU's and the host's memory together, so an
``RLIMIT_AS`` that any practical grader could set stops honest GPU work. Two mechanisms limit use
instead:

- a **cgroup** of the sandbox's own, where the grader may create one: cgroup v2 ``memory.max``
  or cgroup v1 ``memory.limit_in_bytes``, a child of the grader's own cgroup. The kernel's OOM
  killer stops the sandbox at the limit, however fast it allocates. tmpfs pages are charged to it.
- a **watchdog** thread, always: every `INTERVAL` seconds it sums the resident memory of the
  sandbox's process tree and the contents of its tmpfs mounts, and kills the whole tree past the
  limit. Each process counts its proportional share (PSS) of anonymous and shared-memory pages:
  pages that forked children share with their parent count once, and library code, shared with
  the rest of the system, not at all.

Either way the kernel dies, `exceeded` says why, and the grader reports "exceeded the memory
limit (N GiB)" instead of a crash.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

import psutil

from attn_course.grading.folders import tree_bytes

INTERVAL = 0.2  # seconds between two watchdog readings
CGROUP_PREFIX = "attn-grade-"


def format_size(size: int) -> str:
    """2147483648 -> '2 GiB', 1610612736 -> '1.5 GiB', 536870912 -> '512 MiB'."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} B"


# --------------------------------------------------------------------------------------------
# cgroups
# --------------------------------------------------------------------------------------------
def _mountinfo() -> list[tuple[str, str, str, str]]:
    """(root, mount point, fstype, super options) of every mount this process sees."""
    mounts = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return mounts
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 3:
            mounts.append((fields[3], fields[4], tail[0], tail[2]))
    return mounts


def _own_cgroups() -> dict[str, str]:
    """{"v2": path, "v1": path}: this process's cgroup in the unified and the memory hierarchy."""
    own: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return own
    for line in lines:
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if number == "0" and controllers == "":
            own["v2"] = path
        elif "memory" in controllers.split(","):
            own["v1"] = path
    return own


def cgroup_bases() -> list[tuple[str, Path]]:
    """[(version, folder)]: where this process's memory cgroup lives, v2 first."""
    own = _own_cgroups()
    bases: list[tuple[str, Path]] = []
    for root, point, fstype, options in _mountinfo():
        if fstype == "cgroup2":
            version = "v2"
        elif fstype == "cgroup" and "memory" in options.split(","):
            version = "v1"
        else:
            continue
        path = own.get(version)
        if path is None or not (path == root or path.startswith(root.rstrip("/") + "/")):
            continue
        folder = Path(point) / path[len(root.rstrip("/")):].lstrip("/")
        if folder.is_dir() and (version, folder) not in bases:
            bases.append((version, folder))
    bases.sort(key=lambda b: b[0] != "v2")
    return bases


def _write(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


class Cgroup:
    """A memory cgroup made for one sandbox; `procs` is the file a process joins it through."""

    def __init__(self, version: str, folder: Path):
        self.version, self.folder = version, folder
        self.procs = folder / "cgroup.procs"

    @classmethod
    def create(cls, name: str, limit: int) -> tuple[Cgroup | None, str]:
        """(cgroup, "") or (None, why not): a child of this process's cgroup, limited to `limit`."""
        reasons = []
        for version, base in cgroup_bases():
            folder = base / name
            try:
                folder.mkdir(mode=0o700)
            except OSError as exc:
                reasons.append(f"cgroup {version}: cannot create {folder} ({exc.strerror})")
                continue
            group = cls(version, folder)
            try:
                group._limit(base, limit)
                if not os.access(group.procs, os.W_OK):
                    raise PermissionError(f"{group.procs} is not writable")
                return group, ""
            except OSError as exc:
                reasons.append(f"cgroup {version}: {exc}")
                group.remove(wait=0)
        return None, "; ".join(reasons) or "no cgroup memory controller is mounted"

    def _limit(self, base: Path, limit: int) -> None:
        if self.version == "v1":
            _write(self.folder / "memory.limit_in_bytes", str(limit))
            with contextlib.suppress(OSError):  # only where swap accounting is on
                _write(self.folder / "memory.memsw.limit_in_bytes", str(limit))
            return
        if not (self.folder / "memory.max").exists():
            controllers = (base / "cgroup.controllers").read_text().split()
            if "memory" not in controllers:
                raise OSError(f"the memory controller is not available in {base}")
            # only possible where the grader's own cgroup holds no process (cgroup v2's rule)
            _write(base / "cgroup.subtree_control", "+memory")
        _write(self.folder / "memory.max", str(limit))
        for name, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
            with contextlib.suppress(OSError):
                _write(self.folder / name, value)

    @property
    def mechanism(self) -> str:
        knob = "memory.max" if self.version == "v2" else "memory.limit_in_bytes"
        return f"cgroup {self.version} {knob}"

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer stopped a process of this cgroup."""
        name = "memory.events" if self.version == "v2" else "memory.oom_control"
        try:
            text = (self.folder / name).read_text()
        except OSError:
            return False
        counts = dict(line.split()[:2] for line in text.splitlines() if len(line.split()) >= 2)
        if "oom_kill" in counts:
            return int(counts["oom_kill"]) > 0
        try:  # an old v1 kernel without the counter: any failed charge
            return int((self.folder / "memory.failcnt").read_text()) > 0
        except (OSError, ValueError):
            return False

    def remove(self, wait: float = 2.0) -> bool:
        """Remove the (empty) cgroup, waiting up to `wait` s for its processes to be gone."""
        deadline = time.monotonic() + wait
        while True:
            try:
                self.folder.rmdir()
                return True
            except FileNotFoundError:
                return True
            except OSError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.05)


def sweep_cgroups(alive: set[str]) -> int:
    """Remove sandbox cgroups left behind by killed graders (names not in `alive`); how many."""
    removed = 0
    for _, base in cgroup_bases():
        try:
            entries = list(base.glob(CGROUP_PREFIX + "*"))
        except OSError:
            continue
        for folder in entries:
            if folder.name not in alive and Cgroup("", folder).remove(wait=0):
                removed += 1
    return removed


# --------------------------------------------------------------------------------------------
# The watchdog
# --------------------------------------------------------------------------------------------
def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _owned(process: psutil.Process) -> int:
    """Resident memory a process holds: its proportional share of anonymous and shared-memory
    pages (Linux's smaps_rollup); elsewhere its RSS less the pages backed by files."""
    try:
        with open(f"/proc/{process.pid}/smaps_rollup") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return 1024 * sum(int(fields[k].split()[0]) for k in ("Pss_Anon", "Pss_Shmem"))
    except (OSError, KeyError, ValueError):
        pass
    try:
        info = process.memory_info()
    except psutil.Error:
        return 0
    return max(0, info.rss - getattr(info, "shared", 0))


def _mount_namespace(pid: int | str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return ""


def _tmpfs_used(processes: list[psutil.Process], mounts: tuple[tuple[str, int], ...]) -> int:
    """Bytes held in the sandbox's tmpfs mounts (path, size), read through the root of a process
    inside the sandbox. A process still on the way in (its own mount namespace, the host's files)
    sees filesystems of other sizes there, and is passed over."""
    host = _mount_namespace("self")
    for process in reversed(processes):  # the deepest process is inside the sandbox
        if _mount_namespace(process.pid) in ("", host):
            continue
        total = 0
        for path, size in mounts:
            try:
                st = os.statvfs(f"/proc/{process.pid}/root{path}")
            except OSError:
                break
            if st.f_blocks * st.f_frsize > size:  # not the sandbox's tmpfs (yet)
                break
            total += (st.f_blocks - st.f_bfree) * st.f_frsize
        else:
            return total
    return 0


class Watchdog:
    """Sums a process tree's memory every `interval` s; kills the tree past `limit` bytes.

    tmpfs: (path, size) of the tree's own tmpfs mounts, read through its root; folders: host
    folders it writes in (its scratch folder: on /dev/shm that is memory, and elsewhere it is
    disk the sandbox may fill no further than its memory)."""

    def __init__(self, pid: int, limit: int, *, tmpfs: tuple[tuple[str, int], ...] = (),
                 folders: tuple[Path, ...] = (), interval: float = INTERVAL):
        self.pid, self.limit, self.tmpfs, self.interval = pid, limit, tmpfs, interval
        self.folders = folders
        self.peak = 0
        self.exceeded = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"memory-{pid}", daemon=True)
        self._thread.start()

    def usage(self) -> int:
        processes = _tree(self.pid)
        return (sum(_owned(p) for p in processes) + _tmpfs_used(processes, self.tmpfs)
                + sum(tree_bytes(f) for f in self.folders))

    def _run(self) -> None:
        while not self._stop.is_set():
            used = self.usage()
            self.peak = max(self.peak, used)
            if used > self.limit:
                self.exceeded = True
                self.kill()
                return
            self._stop.wait(self.interval)

    def kill(self) -> None:
        for process in reversed(_tree(self.pid)):
            with contextlib.suppress(psutil.Error):
                process.kill()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class MemoryGuard:
    """The memory limit of one sandbox: a cgroup where one can be made, and a watchdog."""

    def __init__(self, limit: int, name: str, *, use_cgroup: bool = True):
        self.limit = limit
        self.cgroup, self.cgroup_problem = (Cgroup.create(name, limit) if use_cgroup
                                            else (None, "cgroups not used"))
        self.watchdog: Watchdog | None = None

    @property
    def mechanism(self) -> str:
        """e.g. 'cgroup v1 memory.limit_in_bytes + RSS watchdog'."""
        return f"{self.cgroup.mechanism} + RSS watchdog" if self.cgroup else "RSS watchdog"

    @property
    def procs_file(self) -> str:
        """The file the sandbox's first process writes its pid to (empty: no cgroup)."""
        return str(self.cgroup.procs) if self.cgroup else ""

    def watch(self, pid: int, tmpfs: tuple[tuple[str, int], ...] = (),
              folders: tuple[Path, ...] = ()) -> None:
        """Start the watchdog on the process tree rooted at `pid`; what the sandbox's tmpfs
        mounts (path, size) and host `folders` hold counts too."""
        self.stop()
        self.watchdog = Watchdog(pid, self.limit, tmpfs=tmpfs, folders=folders)

    @property
    def exceeded(self) -> bool:
        return bool(self.watchdog and self.watchdog.exceeded) or bool(
            self.cgroup and self.cgroup.oom_killed())

    def describe(self) -> str:
        return f"exceeded the memory limit ({format_size(self.limit)})"

    def stop(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()

    def close(self) -> None:
        self.stop()
        if self.cgroup is not None:
            self.cgroup.remove()
