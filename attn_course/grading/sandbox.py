"""The sandbox a submission's kernel runs in: bubblewrap namespaces, its own user, limits.

With bwrap (bubblewrap) the kernel sees a read-only system (/usr, /etc), the Python installation
and the attn_course package, a private /tmp and home (size-limited tmpfs), and one host
directory, ``io``, for the kernel's unix sockets (jupyter_client ``transport="ipc"``) and the
probes' result files. It has no network (``--unshare-net``), its own PID namespace (everything
dies with the kernel), and, when the grader runs as root, a user id of its own taken from a pool
(so RLIMIT_NPROC counts its processes only, and the host's files are read as "other"). A sandbox
given a GPU (`gpu.GpuSlot`) also sees that device's node and the driver's control nodes.

Memory is limited by what the sandbox uses (`memory.MemoryGuard`: a cgroup where the grader may
make one, and a watchdog), never by address space, which CUDA reserves by the gigabyte.

Without bwrap the kernel gets the limits only, and `Sandbox.warning` says so.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from attn_course.grading import seccomp
from attn_course.grading.folders import remove_tree
from attn_course.grading.gpu import Gpu
from attn_course.grading.launcher import SECCOMP_FD
from attn_course.grading.memory import MemoryGuard, sweep_cgroups

HOME = "/home/student"
UID_BASE = 3_100_000
UID_SLOTS = 1000


@dataclass(frozen=True)
class Limits:
    """Resource limits of one kernel (bytes, counts, seconds)."""

    memory: int = 4 * 2**30  # resident memory of the sandbox's processes plus its tmpfs
    processes: int = 128  # RLIMIT_NPROC: processes and threads of the sandbox's user
    file_size: int = 256 * 2**20  # RLIMIT_FSIZE: largest file the kernel may write
    cpu_seconds: int = 900  # RLIMIT_CPU per process: a backstop behind the timeouts
    tmp_size: int = 256 * 2**20  # size of the private /tmp and home


def parse_size(text: str) -> int:
    """'4G', '512M', '1.5g', '100000' -> bytes. Raises ValueError with a clear message."""
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    s = str(text).strip().upper().removesuffix("B").removesuffix("I")
    unit = s[-1:] if s[-1:] in units else ""
    try:
        value = float(s[: len(s) - len(unit)] if unit else s)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (examples: 4G, 512M)") from None
    if value <= 0:
        raise ValueError(f"a size must be positive, got {text!r}")
    return int(value * units[unit])


# --------------------------------------------------------------------------------------------
# What the kernel needs to see
# --------------------------------------------------------------------------------------------
def package_dir() -> Path:
    import attn_course

    return Path(attn_course.__file__).resolve().parent


def _inside(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def python_paths(protected: list[Path]) -> list[Path]:
    """Directories to bind read-only: the interpreter, the venv, sys.path, the package, and the
    folders of LD_LIBRARY_PATH (where a cluster keeps its CUDA driver libraries).

    A directory that contains a protected path (the source, the output, a submission), the
    course folder, or the temporary folders (where the sandbox's own /tmp goes, and other
    sandboxes' folders) is never bound, so an editable install exposes the package and nothing
    else, and a script run from /tmp does not put the host's /tmp over the sandbox's.
    """
    pkg = package_dir()
    keep_out = [Path(p).resolve() for p in protected]
    keep_out += [Path(tempfile.gettempdir()).resolve(), scratch_dir().resolve(), Path("/tmp")]
    if any((pkg.parent / marker).exists() for marker in ("solutions", "pyproject.toml", ".git")):
        keep_out.append(pkg.parent)  # a source checkout (editable install): bind the package only
    candidates = [Path(sys.base_prefix), Path(sys.prefix), Path(sys.exec_prefix)]
    candidates += [Path(p) for p in sys.path if p and p not in (".",)]
    candidates += [Path(p) for p in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep)
                   if os.path.isabs(p)]
    chosen: list[Path] = [pkg]
    for path in candidates:
        try:
            path = path.resolve()
        except OSError:
            continue
        if not path.is_dir() or path == Path(os.getcwd()).resolve():
            continue
        if any(_inside(p, path) for p in keep_out):
            continue
        chosen.append(path)
    chosen.sort(key=lambda p: len(p.parts))
    minimal: list[Path] = []
    for path in chosen:
        if not any(_inside(path, m) for m in minimal):
            minimal.append(path)
    return minimal


# --------------------------------------------------------------------------------------------
# Availability
# --------------------------------------------------------------------------------------------
@cache
def bwrap_status() -> tuple[bool, str]:
    """(usable, reason): whether bubblewrap can create the sandbox's namespaces here."""
    exe = shutil.which("bwrap")
    if exe is None:
        return False, "bubblewrap (bwrap) is not installed"
    cmd = [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-net",
           "--unshare-pid", "--unshare-ipc", "--die-with-parent"]
    if os.geteuid() != 0:
        cmd.append("--unshare-user")
    try:
        done = subprocess.run([*cmd, "true"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bwrap does not run: {exc}"
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip()[:300]
        return False, f"bwrap cannot create namespaces here: {reason}"
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return False, "setpriv (util-linux) is missing: the kernel would run as root"
    return True, "bwrap"


# --------------------------------------------------------------------------------------------
# User ids for sandboxes (root only)
# --------------------------------------------------------------------------------------------
class _UidSlot:
    """A user id no other sandbox on this machine holds, claimed with an fcntl lock."""

    def __init__(self) -> None:
        folder = Path(tempfile.gettempdir()) / "attn-course-uids"
        folder.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(folder)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
            raise RuntimeError(f"{folder} is not a private folder of this user: remove it")
        for slot in range(UID_SLOTS):
            fd = os.open(folder / f"{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self._fd, self.uid = fd, UID_BASE + slot
            return
        raise RuntimeError("no free sandbox user id (too many graders at once?)")

    def release(self) -> None:
        os.close(self._fd)


# --------------------------------------------------------------------------------------------
# A processor for each sandbox
# --------------------------------------------------------------------------------------------
class _CpuSlot:
    """The processor a sandbox is pinned to: the one fewest of this grader's sandboxes use.

    A submission that starts a hundred busy threads then slows only itself, not the kernels
    graded alongside it (the seccomp filter refuses sched_setaffinity, so it stays pinned).
    """

    _lock = threading.Lock()
    _users: Counter[int] = Counter()

    def __init__(self) -> None:
        try:
            cpus = sorted(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # not Linux
            cpus = []
        self.cpu: int | None = None
        if cpus:
            with self._lock:
                self.cpu = min(cpus, key=lambda c: (self._users[c], c))
                self._users[self.cpu] += 1

    def release(self) -> None:
        if self.cpu is not None:
            with self._lock:
                self._users[self.cpu] -= 1
            self.cpu = None


def _user_processes(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    for line in f:
                        if line.startswith("Uid:"):
                            count += int(line.split()[1]) == uid
                            break
            except OSError:
                pass
    return count


# --------------------------------------------------------------------------------------------
# The sandbox
# --------------------------------------------------------------------------------------------
LAUNCHER = Path(__file__).with_name("launcher.py")  # the first process of every sandbox


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    return args


PREFIX = "attn-grade-"


MIN_SHM = 2**30  # a smaller /dev/shm (a container's 64 MiB) is not used


@cache
def scratch_dir() -> Path:
    """Where sandboxes keep their folders: /dev/shm (memory, so what a sandbox writes there
    counts toward its memory limit and never fills the disk that holds OUTDIR) where it is a
    tmpfs of at least 1 GiB, else the temporary folder."""
    shm = Path("/dev/shm")
    try:
        usable = (shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) and _is_tmpfs(shm)
                  and shutil.disk_usage(shm).total >= MIN_SHM)
    except OSError:
        usable = False
    return shm if usable else Path(tempfile.gettempdir())


def _is_tmpfs(path: Path) -> bool:
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return False
    return any(len(f := line.split()) > 2 and f[1] == str(path) and f[2] == "tmpfs"
               for line in mounts)


def sweep() -> int:
    """Remove sandbox folders (and their cgroups) left behind by killed graders; how many."""
    removed = 0
    roots = [*scratch_dir().glob(PREFIX + "*"), *Path(tempfile.gettempdir()).glob(PREFIX + "*")]
    for root in roots:
        try:
            info = os.lstat(root)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
                continue
            fd = os.open(root / ".owner", os.O_RDWR | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # its grader is alive
            os.close(fd)
            continue
        remove_tree(root)
        os.close(fd)
        removed += 1
    sweep_cgroups({root.name for root in roots if root.exists()})
    return removed


class Sandbox:
    """A fresh directory, user id, memory guard and command line for one kernel. Use as a
    context manager.

    mode: "bwrap" (namespaces, own user when root) or "rlimits" (limits only).
    gpu: the device this sandbox may use (held by the caller's `GpuSlot`), or None for none.
    """

    def __init__(self, limits: Limits, *, mode: str = "auto", protected: list[Path] = (),
                 gpu: Gpu | None = None):
        self.limits = limits
        usable, reason = bwrap_status()
        if mode == "auto":
            mode = "bwrap" if usable else "rlimits"
        elif mode == "bwrap" and not usable:
            raise RuntimeError(f"sandbox unavailable: {reason}")
        self.mode = mode
        self.warning = "" if mode == "bwrap" else (
            f"NOT SANDBOXED ({reason}): submissions run with resource limits only and can "
            "read every file the grader can read and use the network"
        )
        self.protected = list(protected)
        self.gpu = gpu
        self.root: Path | None = None
        self._slot: _UidSlot | None = None
        self._cpu: _CpuSlot | None = None
        self.memory: MemoryGuard | None = None

    # ---- lifetime ------------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        root = Path(tempfile.mkdtemp(prefix=PREFIX, dir=scratch_dir()))
        os.chmod(root, 0o711)
        # held while the sandbox lives; `sweep` removes folders whose owner died (SIGKILL)
        self._owner = os.open(root / ".owner.new", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._owner, fcntl.LOCK_EX)
        os.rename(root / ".owner.new", root / ".owner")
        self.root = root
        try:
            self._prepare()
        except BaseException:
            self.close()
            raise
        return self

    def _prepare(self) -> None:
        self.io = self.root / "io"
        self.io.mkdir(mode=0o700)
        self.home = self.root / "home" if self.mode != "bwrap" else Path(HOME)
        self.memory = MemoryGuard(self.limits.memory, self.root.name)
        filter_program = seccomp.program()
        self.seccomp = ""
        if filter_program is not None:
            path = self.root / "seccomp.bpf"
            path.write_bytes(filter_program)
            self.seccomp = str(path)
        self._cpu = _CpuSlot()
        self.uid = self.gid = None
        if self.mode == "bwrap" and os.geteuid() == 0:
            self._slot = _UidSlot()
            self.uid = self.gid = self._slot.uid
        if self.mode != "bwrap":
            self.home.mkdir(mode=0o700)
        self._seed_matplotlib()
        if self.uid is not None:
            for dirpath, _, files in os.walk(self.io):
                os.chown(dirpath, self.uid, self.gid)
                for name in files:
                    os.chown(os.path.join(dirpath, name), self.uid, self.gid)

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.memory is not None:
            self.memory.close()
            self.memory = None
        if self.root is not None:
            remove_tree(self.root)
            os.close(self._owner)
            self.root = None
        if self._slot is not None:
            self._slot.release()
            self._slot = None
        if self._cpu is not None:
            self._cpu.release()
            self._cpu = None

    def chown(self, path: Path) -> None:
        """Give a file the grader wrote in `io` to the sandbox's user."""
        if self.uid is not None:
            os.chown(path, self.uid, self.gid)

    def _seed_matplotlib(self) -> None:
        """Copy the grader's matplotlib font cache: saves rebuilding it in every kernel."""
        target = self.io / ".matplotlib"
        target.mkdir()
        try:
            import matplotlib

            for font_list in Path(matplotlib.get_cachedir()).glob("fontlist-*.json"):
                shutil.copyfile(font_list, target / font_list.name)
        except Exception:  # only an optimisation
            pass

    # ---- the command ---------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        home = str(self.home)
        env = {
            "HOME": home,
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin",
                                     "/usr/bin", "/bin"]),
            "LANG": "C.UTF-8",
            "PYTHONWARNINGS": "ignore",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": str(self.io / ".matplotlib"),
            "IPYTHONDIR": f"{home}/.ipython",
            "JUPYTER_RUNTIME_DIR": f"{home}/.jupyter-runtime",
            "JUPYTER_DATA_DIR": f"{home}/.jupyter-data",
            "JUPYTER_CONFIG_DIR": f"{home}/.jupyter",
            "JUPYTER_PLATFORM_DIRS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "TMPDIR": "/tmp" if self.mode == "bwrap" else home,
        }
        for name in ("LD_LIBRARY_PATH", "PYTHONPATH"):  # the grader's, for its own Python
            if os.environ.get(name):
                env[name] = os.environ[name]
        if self.gpu is None:
            env["CUDA_VISIBLE_DEVICES"] = ""  # bwrap shows no GPU node anyway
        elif self.mode != "bwrap":  # every node is visible: name the claimed one
            env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
            env["CUDA_VISIBLE_DEVICES"] = str(self.gpu.index)
        return env

    def watch_memory(self, pid: int) -> None:
        """Start the memory watchdog on the sandbox's process tree (rooted at `pid`)."""
        assert self.memory is not None
        size = self.limits.tmp_size
        tmpfs = (("/tmp", size), (HOME, size)) if self.mode == "bwrap" else ()
        self.memory.watch(pid, tmpfs, (self.root,))  # its io folder (and home without bwrap)

    def rlimits(self) -> dict[str, int]:
        lim = self.limits
        nproc = lim.processes
        if self.uid is None:  # the sandbox shares the grader's user: count on top of it
            nproc += _user_processes(os.getuid())
        return {
            "RLIMIT_NPROC": nproc,
            "RLIMIT_FSIZE": lim.file_size,
            "RLIMIT_CPU": lim.cpu_seconds,
            "RLIMIT_CORE": 0,
        }

    def argv(self, command: list[str]) -> list[str]:
        """The full command line that runs `command` in this sandbox."""
        assert self.memory is not None, "use the sandbox as a context manager"
        settings = {"parent": os.getpid(), "cgroup": self.memory.procs_file,
                    "rlimits": self.rlimits(), "seccomp": self.seccomp,
                    "bwrap": self.mode == "bwrap",
                    "cpus": [] if self._cpu is None or self._cpu.cpu is None
                    else [self._cpu.cpu]}
        wrapper = [sys.executable, "-I", "-S", str(LAUNCHER), json.dumps(settings)]
        if self.mode != "bwrap":
            return wrapper + command
        assert self.root is not None
        b = [shutil.which("bwrap") or "bwrap",
             "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
             "--unshare-cgroup-try", "--die-with-parent", "--new-session",
             "--hostname", "sandbox", "--clearenv"]
        if os.geteuid() != 0:
            b.append("--unshare-user")
        if self.seccomp:
            b += ["--seccomp", str(SECCOMP_FD)]
        for key, value in self.environment().items():
            b += ["--setenv", key, value]
        b += _system_binds()
        b += ["--proc", "/proc", "--dev", "/dev",
              "--perms", "1777", "--size", str(self.limits.tmp_size), "--tmpfs", "/tmp"]
        if self.gpu is not None:  # the claimed device, the driver's nodes, and sysfs to find them
            for node in self.gpu.nodes:
                b += ["--dev-bind", node, node]
            b += ["--ro-bind", "/sys", "/sys"]
        made: set[Path] = {Path("/"), Path("/tmp"), Path("/dev")}
        covered = [Path("/usr"), Path("/etc"), Path("/proc"), Path("/dev")]
        read_only = covered[:3]  # what exists under these needs no folder made (/dev is new)

        def parents(path: Path) -> list[str]:
            out: list[str] = []
            for parent in reversed(path.parents):
                if parent in made or any(_inside(parent, c) for c in read_only):
                    continue
                made.add(parent)
                out += ["--perms", "0755", "--dir", str(parent)]
            return out

        for path in python_paths(self.protected):
            if any(_inside(path, c) for c in covered):
                continue
            b += parents(path) + ["--ro-bind", str(path), str(path)]
            covered.append(path)
        b += parents(self.io) + ["--bind", str(self.io), str(self.io)]
        b += parents(Path(HOME)) + ["--perms", "1777", "--size", str(self.limits.tmp_size),
                                    "--tmpfs", HOME, "--chdir", HOME, "--"]
        if self.uid is not None:
            b += [shutil.which("setpriv") or "setpriv", f"--reuid={self.uid}",
                  f"--regid={self.gid}", "--clear-groups", "--inh-caps=-all",
                  "--bounding-set=-all", "--no-new-privs", "--"]
        return wrapper + b + command
