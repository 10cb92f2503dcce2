"""The first process of every sandbox: sets it up, then becomes bwrap or the kernel.

    python -I -S launcher.py '<json settings>' COMMAND...

Run by file with `-I -S` (no site, no environment): it imports only the standard library. In
order, it

1. dies with the grader (PR_SET_PDEATHSIG, kept across exec), and exits at once if the grader
   died before that took hold;
2. joins the sandbox's memory cgroup, when there is one;
3. pins itself (and so everything it starts) to the sandbox's processor;
4. sets the resource limits;
5. installs the seccomp filter (`seccomp.py`): handed to bwrap as a file descriptor, which
   installs it last, or installed here for a sandbox without bwrap;
6. execs the command.
"""

import ctypes
import json
import os
import resource
import sys

PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 1, 38, 22
SECCOMP_MODE_FILTER = 2
SECCOMP_FD = 99  # the descriptor bwrap reads the filter from (`--seccomp 99`)


class _Filter(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _install_filter(program: bytes) -> None:
    """Install a seccomp BPF program on this process (and everything it execs)."""
    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(program, len(program))
    prog = _Filter(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.prctl(
            PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "cannot install the seccomp filter")


def main(argv: list[str]) -> None:
    settings, command = json.loads(argv[1]), argv[2:]
    libc = ctypes.CDLL(None)
    libc.prctl(PR_SET_PDEATHSIG, 9)
    if os.getppid() != settings["parent"]:
        os._exit(1)
    if settings.get("cgroup"):
        with open(settings["cgroup"], "w") as f:
            f.write(str(os.getpid()))
    if settings.get("cpus"):
        os.sched_setaffinity(0, settings["cpus"])
    for name, value in settings["rlimits"].items():
        limit = getattr(resource, name)
        hard = resource.getrlimit(limit)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(limit, (value, value))
    if settings.get("seccomp"):
        with open(settings["seccomp"], "rb") as f:
            program = f.read()
        if settings.get("bwrap"):  # bwrap installs it after setting up its namespaces
            fd = os.open(settings["seccomp"], os.O_RDONLY)
            os.dup2(fd, SECCOMP_FD)
            os.close(fd)
            os.set_inheritable(SECCOMP_FD, True)
        else:
            _install_filter(program)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv)
