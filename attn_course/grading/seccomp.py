"""The sandbox's seccomp filter: no kernel state that outlives a sandbox or is shared between
sandboxes.

    program() -> bytes | None     a classic BPF program for seccomp (None: unknown machine)

Kernel keyrings (add_key, request_key, keyctl) are kept per user, not per sandbox: a key one
submission stores, a later one with the same user id could read. The filter also refuses what
reaches kernel-global state or below the sandbox (modules, kexec, BPF, perf events,
userfaultfd, io_uring, namespaces, mounts, ptrace, the kernel log, swap, quotas, process
accounting, reboot), and leaving the processor the sandbox is pinned to. Each such call fails
with EPERM, and so does every call through the x32 ABI on x86-64 (other numbers, the same
kernel); a call through another architecture's ABI (32-bit `int 0x80`) ends the process.
"""

from __future__ import annotations

import errno
import platform
import struct

# name: (x86-64 number, aarch64 number)
REFUSED: dict[str, tuple[int, int]] = {
    "add_key": (248, 217), "request_key": (249, 218), "keyctl": (250, 219),
    "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "kexec_load": (246, 104), "kexec_file_load": (320, 294),
    "unshare": (272, 97), "setns": (308, 268), "mount": (165, 40), "umount2": (166, 39),
    "pivot_root": (155, 41), "ptrace": (101, 117), "syslog": (103, 116),
    "swapon": (167, 224), "swapoff": (168, 225), "quotactl": (179, 60), "acct": (163, 89),
    "reboot": (169, 142),
    "sched_setaffinity": (203, 122),  # a sandbox stays on the processor it was given
}
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000

# classic BPF, as <linux/filter.h> and <linux/seccomp.h> define it
LD_W_ABS, JEQ_K, JGE_K, RET_K = 0x20, 0x15, 0x35, 0x06
RET_ALLOW, RET_KILL_PROCESS, RET_ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
NR_OFFSET, ARCH_OFFSET = 0, 4  # in struct seccomp_data


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program(machine: str | None = None) -> bytes | None:
    """The filter for this machine's architecture (None where the course knows none)."""
    machine = machine or platform.machine()
    if machine not in AUDIT_ARCH:
        return None
    column = 0 if machine == "x86_64" else 1
    numbers = sorted({nrs[column] for nrs in REFUSED.values()})
    checks = [(JGE_K, X32_SYSCALL_BIT)] if machine == "x86_64" else []
    checks += [(JEQ_K, nr) for nr in numbers]
    code = [
        _insn(LD_W_ABS, ARCH_OFFSET),
        _insn(JEQ_K, AUDIT_ARCH[machine], jt=1),
        _insn(RET_K, RET_KILL_PROCESS),
        _insn(LD_W_ABS, NR_OFFSET),
    ]
    for i, (op, k) in enumerate(checks):  # a match jumps over the rest and ALLOW, to ERRNO
        code.append(_insn(op, k, jt=len(checks) - i))
    code.append(_insn(RET_K, RET_ALLOW))
    code.append(_insn(RET_K, RET_ERRNO | errno.EPERM))
    return b"".join(code)
