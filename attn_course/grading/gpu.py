"""NVIDIA GPUs for sandboxes: which devices the host has, and one sandbox per device at a time.

A source notebook that declares ``"attn_course": {"gpu": true}`` in its metadata is graded with a
GPU: each of its submissions claims one device (`GpuSlot`, an fcntl lock shared by every grader
on the machine, so no two submissions share a GPU's memory), and its sandbox sees that device's
node and the driver's control nodes, nothing else. Other sources, and every source with
``--no-gpu``, see no GPU at all.
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# What CUDA opens besides the device itself: the control node, unified memory, modesetting and
# the capability nodes of MIG (a folder).
SUPPORT_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset", "nvidia-caps")
_DEVICE = re.compile(r"nvidia(\d+)$")


@dataclass(frozen=True)
class Gpu:
    """One NVIDIA device: its minor number and node, the nodes CUDA needs beside it, and its
    position among the host's devices (CUDA's index in PCI bus order)."""

    minor: int
    node: str
    support: tuple[str, ...]
    index: int = 0

    @property
    def nodes(self) -> tuple[str, ...]:
        return (self.node, *self.support)


def nvidia_gpus(dev: str = "/dev") -> list[Gpu]:
    """The host's NVIDIA devices (character nodes /dev/nvidiaN), by minor number."""
    support = tuple(os.path.join(dev, name) for name in SUPPORT_NODES
                    if os.path.exists(os.path.join(dev, name)))
    found = []
    try:
        names = os.listdir(dev)
    except OSError:
        return []
    for name in names:
        match = _DEVICE.fullmatch(name)
        path = os.path.join(dev, name)
        try:
            is_char = stat.S_ISCHR(os.stat(path).st_mode)
        except OSError:
            continue
        if match and is_char:
            found.append((int(match.group(1)), path))
    return [Gpu(minor, path, support, index) for index, (minor, path) in enumerate(sorted(found))]


def _lock_folder() -> Path:
    folder = Path(tempfile.gettempdir()) / "attn-course-gpus"
    folder.mkdir(mode=0o700, exist_ok=True)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise RuntimeError(f"{folder} is not a private folder of this user: remove it")
    return folder


class GpuSlot:
    """The exclusive use of one GPU, held until `release()`. Waits while every GPU is in use.

    `stop` (an Event) ends the wait early with `InterruptedError`; `waited` is how long it took.
    """

    def __init__(self, gpus: list[Gpu], *, stop: threading.Event | None = None,
                 poll: float = 0.2):
        if not gpus:
            raise ValueError("no GPU to claim")
        folder = _lock_folder()
        start = time.monotonic()
        while True:
            for gpu in gpus:
                fd = os.open(folder / f"{gpu.minor}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW,
                             0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    continue
                self._fd, self.gpu = fd, gpu
                self.waited = time.monotonic() - start
                return
            if stop is not None and stop.wait(poll):
                raise InterruptedError("stopped while waiting for a GPU")
            if stop is None:
                time.sleep(poll)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> GpuSlot:
        return self

    def __exit__(self, *exc) -> None:
        self.release()
