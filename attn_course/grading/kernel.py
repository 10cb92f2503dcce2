"""One kernel in a sandbox, and running cells in it with timeouts (jupyter_client, ipc transport).

Cells are sent one at a time. Only what grading needs is kept: the reply's status and the
error's name, value and traceback (capped). Outputs are discarded as they arrive, and no message
larger than `MAX_MESSAGE_BYTES` is accepted, so a flood of output cannot exhaust the grader.
A cell that runs past its timeout is interrupted (an ``interrupt_request`` message); if the
kernel does not come back within `GRACE_SECONDS` it is killed.
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from queue import Empty

import zmq
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from traitlets import Any

from attn_course.grading.sandbox import Sandbox

MAX_MESSAGE_BYTES = 64 * 2**20
MAX_TEXT = 4000
GRACE_SECONDS = 5.0

# The kernel's first code: a thread that ends the kernel once the grader is gone. The grader
# holds an exclusive lock on the file named by argv[1] for as long as it uses the kernel; the lock
# goes when the grader shuts the kernel down or dies, even by SIGKILL, and the thread's shared
# lock then succeeds. (bubblewrap's own --die-with-parent can miss a grader killed while the
# sandbox starts.)
_KERNEL_CODE = (
    "import fcntl,os,runpy,sys,threading\n"
    "def _watch(fd=os.open(sys.argv.pop(1),os.O_RDONLY)):\n"
    "    fcntl.flock(fd,fcntl.LOCK_SH)\n"
    "    os._exit(0)\n"
    "threading.Thread(target=_watch,daemon=True).start()\n"
    "runpy.run_module('ipykernel_launcher',run_name='__main__',alter_sys=True)\n"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# Set by the batch on Ctrl-C: every kernel stops at once (grading threads see no signal).
STOP = threading.Event()


class KernelStartError(RuntimeError):
    """The kernel did not start: a problem of the grading machine, not of the submission."""


class Stopped(BaseException):
    """Grading was interrupted (not an outcome of the submission: nothing is recorded)."""


@dataclass
class CellRun:
    """What happened to one cell. status: "ok", "error", "timeout", "died", "out_of_memory"."""

    status: str
    ename: str = ""
    evalue: str = ""
    traceback: str = ""
    seconds: float = 0.0
    killed: bool = False

    def error_text(self) -> str:
        if self.status == "ok":
            return ""
        if self.status == "timeout":
            return "the cell ran past its time limit and was stopped"
        if self.status == "died":
            return "the kernel died while running this cell (exit or crash)"
        if self.status == "out_of_memory":
            return f"the kernel {self.evalue} while running this cell and was stopped"
        text = f"{self.ename}: {self.evalue}" if self.evalue else self.ename
        return text[:MAX_TEXT]


def _clean(text: str) -> str:
    return _ANSI.sub("", text)[:MAX_TEXT]


class _Tail:
    """Reads a pipe to its end in a thread, keeping its last `keep` bytes."""

    def __init__(self, pipe, keep: int = 1500):
        self.keep, self._buffer = keep, b""
        self._thread = threading.Thread(target=self._drain, args=(pipe,), daemon=True,
                                        name="kernel-stderr")
        self._thread.start()

    def _drain(self, pipe) -> None:
        try:
            while chunk := pipe.read1(1 << 16):
                self._buffer = (self._buffer + chunk)[-self.keep:]
        except (OSError, ValueError):
            pass
        finally:
            pipe.close()

    def text(self) -> str:
        self._thread.join(timeout=2)  # the kernel has died or exited: its pipe is closing
        return self._buffer.decode(errors="replace").strip()


class _OneSpec(KernelSpecManager):
    """A kernel spec manager that knows exactly one spec: the sandboxed kernel."""

    def __init__(self, spec: KernelSpec, **kwargs):
        super().__init__(**kwargs)
        self._spec = spec

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return self._spec


class _SandboxKernelManager(KernelManager):
    """Writes the connection file where the sandbox can read it, owned by its user."""

    sandbox = Any()

    def write_connection_file(self, **kwargs) -> None:
        super().write_connection_file(**kwargs)
        self.sandbox.chown(Path(self.connection_file))


class Kernel:
    """A started kernel in `sandbox`: `run(code, timeout)` cell by cell, then `shutdown()`."""

    def __init__(self, sandbox: Sandbox, *, startup_timeout: float = 90):
        self.sandbox = sandbox
        self.ctx = zmq.Context()
        self.ctx.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        io = sandbox.io
        alive = io / "alive"
        self._alive = open(alive, "w")  # held, locked, until shutdown()
        fcntl.flock(self._alive, fcntl.LOCK_EX)
        os.chmod(alive, 0o644)
        sandbox.chown(alive)
        command = [sys.executable, "-c", _KERNEL_CODE, str(alive), "-f", "{connection_file}",
                   "--HistoryManager.enabled=False", "--IPKernelApp.log_level=ERROR"]
        spec = KernelSpec(argv=sandbox.argv(command), display_name="sandbox",
                          language="python", interrupt_mode="message", env={})
        self.km = _SandboxKernelManager(
            sandbox=sandbox, kernel_name="sandbox", kernel_spec_manager=_OneSpec(spec),
            transport="ipc", ip=str(io / "kernel"), connection_file=str(io / "kernel.json"),
            context=self.ctx,
        )
        self.kc = None
        self._stderr: _Tail | None = None
        cwd = sandbox.home if sandbox.mode != "bwrap" else sandbox.root
        try:
            # stderr goes to a pipe the grader drains: the kernel holds no host file open
            self.km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 env=sandbox.environment(), cwd=str(cwd))
            self._stderr = _Tail(self.km.provisioner.process.stderr)
            sandbox.watch_memory(self.km.provisioner.pid)
            self.kc = self.km.client(context=self.ctx)
            self.kc.start_channels()
            self.kc.wait_for_ready(timeout=startup_timeout)
        except Exception as exc:
            self.shutdown()  # first: the pipe closes, and its last lines are all there
            tail = self._log_tail()
            if sandbox.memory.exceeded:
                raise KernelStartError(f"the kernel {sandbox.memory.describe()} while starting: "
                                       "raise --memory-limit") from None
            raise KernelStartError(f"the kernel did not start: {exc}. {tail}".strip()) from None

    def _log_tail(self) -> str:
        text = self._stderr.text() if self._stderr is not None else ""
        return f"Kernel log: {text}" if text else ""

    def alive(self) -> bool:
        try:
            return bool(self.km.is_alive())
        except Exception:
            return False

    def run(self, code: str, timeout: float) -> CellRun:
        """Run one cell; never raises for anything the kernel or the code does."""
        start = time.monotonic()
        kc = self.kc
        try:
            msg_id = kc.execute(code, store_history=False, allow_stdin=False,
                                stop_on_error=False)
        except Exception:
            return self._death(0.0)
        deadline = start + max(timeout, 0.1)
        poller = zmq.Poller()
        poller.register(kc.iopub_channel.socket, zmq.POLLIN)
        poller.register(kc.shell_channel.socket, zmq.POLLIN)
        reply: dict | None = None
        reply_at = 0.0
        idle = False
        error: dict = {}
        interrupted_at: float | None = None
        last_alive_check = start
        while True:
            if STOP.is_set():
                self.kill()
                raise Stopped()
            now = time.monotonic()
            if reply is not None and (idle or now > reply_at + 2.0):
                break
            if interrupted_at is None and now > deadline:
                try:
                    self.km.interrupt_kernel()
                except Exception:
                    pass
                interrupted_at = now
            if interrupted_at is not None and now > interrupted_at + GRACE_SECONDS:
                self.kill()
                return CellRun("timeout", seconds=now - start, killed=True)
            if now - last_alive_check > 1.0:
                last_alive_check = now
                if not self.alive():
                    return self._death(now - start)
            try:
                ready = dict(poller.poll(200))
            except zmq.ZMQError:
                ready = {}
            if kc.iopub_channel.socket in ready:
                for msg in self._drain(kc.iopub_channel):
                    if msg.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    kind, content = msg.get("msg_type"), msg.get("content", {})
                    if kind == "error":
                        error = content
                    elif kind == "status" and content.get("execution_state") == "idle":
                        idle = True
            if kc.shell_channel.socket in ready:
                for msg in self._drain(kc.shell_channel):
                    if msg.get("parent_header", {}).get("msg_id") == msg_id:
                        reply, reply_at = msg.get("content", {}), time.monotonic()
        seconds = time.monotonic() - start
        if interrupted_at is not None:
            return CellRun("timeout", seconds=seconds)
        if reply.get("status") == "ok":
            return CellRun("ok", seconds=seconds)
        info = reply if reply.get("ename") else error
        tb = info.get("traceback", [])
        tb = "\n".join(str(t) for t in tb) if isinstance(tb, list) else str(tb)
        return CellRun("error", _clean(str(info.get("ename", "Error"))),
                       _clean(str(info.get("evalue", ""))), _clean(tb[-MAX_TEXT:]), seconds)

    def _death(self, seconds: float) -> CellRun:
        """How the kernel died: past the memory limit, or on its own."""
        memory = self.sandbox.memory
        if memory is not None and memory.exceeded:
            return CellRun("out_of_memory", evalue=memory.describe(), seconds=seconds,
                           killed=True)
        return CellRun("died", seconds=seconds, killed=True)

    @staticmethod
    def _drain(channel) -> list[dict]:
        out = []
        for _ in range(1000):
            try:
                out.append(channel.get_msg(timeout=0))
            except Empty:
                break
            except Exception:  # an undecodable message: skip it
                continue
        return out

    def kill(self) -> None:
        try:
            self.km.shutdown_kernel(now=True)
        except Exception:
            pass

    def shutdown(self) -> None:
        """Kill the kernel and everything in its sandbox; release sockets."""
        if self.kc is not None:
            try:
                self.kc.stop_channels()
            except Exception:
                pass
            self.kc = None
        self.kill()
        self._alive.close()  # releases the lock: a kernel that outlived kill() exits too
        try:
            self.km.cleanup_resources()
        except Exception:
            pass
        self.ctx.destroy(linger=0)
