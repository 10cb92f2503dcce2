"""Run a function in several processes joined by torch.distributed, from a notebook.

    results = launch(worker, world_size=2, args=(x,), timeout=60)   # one result per rank

Each rank is a fresh process (the "spawn" start method: a Jupyter kernel cannot safely fork),
which joins a process group (gloo on CPUs; "nccl" when asked for and there is a GPU per rank)
before calling `worker(rank, world_size, *args)`, and leaves it afterwards. `worker` must be
importable by name from a module, since spawned processes start from scratch: a function of
this package, not one defined in a notebook cell (see `run_source` for a student's function).

What can go wrong is reported, and nothing is left behind:
- a worker that raises: `WorkerFailed` with its rank and the worker's own traceback; the other
  ranks are stopped;
- a worker that hangs (or waits for a rank that died): `WorkerTimeout` after `timeout` seconds;
- in every case each process is joined, or terminated and then killed, before `launch` returns.

The same worker runs unchanged under `torchrun` on many machines: only how the processes start
and meet (MASTER_ADDR, MASTER_PORT) differs.
"""

from __future__ import annotations

import pickle
import queue
import socket
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

__all__ = ["WorkerFailed", "WorkerTimeout", "free_port", "function_from_source", "launch",
           "rank_that_hangs", "rank_that_raises", "run_source"]

STOP_GRACE_S = 3.0  # after terminate(), how long a process gets before kill()
STARTED: list[int] = []  # the pids of the last launch's processes (all ended when it returns)


class WorkerFailed(RuntimeError):
    """A worker raised: `rank` says which, the message holds its traceback."""

    def __init__(self, rank: int, message: str):
        super().__init__(f"rank {rank} failed:\n{message}")
        self.rank = rank


class WorkerTimeout(TimeoutError):
    """The workers did not all finish within the timeout (a hang, or a rank that never came)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank: int, world_size: int, port: int, backend: str, worker: Callable,
           args: tuple, results: Any, timeout: float) -> None:
    """What each spawned process runs: join the group, call the worker, report, leave."""
    torch.set_num_threads(1)  # ranks share the machine's cores
    try:
        if backend == "nccl":
            torch.cuda.set_device(rank)
        dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=world_size, timeout=timedelta(seconds=timeout))
        try:
            result = worker(rank, world_size, *args)
        finally:
            dist.destroy_process_group()
        # plain pickle bytes: torch's queue would share tensors through file descriptors that
        # close when this process exits, before the parent has read them
        results.put((rank, "ok", pickle.dumps(result)))
    except BaseException:  # every failure goes back to the parent, with its traceback
        results.put((rank, "error", traceback.format_exc(limit=8)))


def launch(worker: Callable, world_size: int = 2, args: Sequence = (), *,
           timeout: float = 60.0, backend: str = "gloo") -> list[Any]:
    """[worker(rank, world_size, *args) for each rank], computed in `world_size` processes that
    form one process group; see the module's docstring for errors and timeouts."""
    if not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be a positive int, got {world_size!r}.")
    if backend == "nccl" and torch.cuda.device_count() < world_size:
        raise ValueError(f"nccl needs a GPU per rank: {world_size} ranks, "
                         f"{torch.cuda.device_count()} GPUs.")
    context = mp.get_context("spawn")
    results = context.Queue()
    port = free_port()
    procs = [context.Process(target=_entry, daemon=True,
                             args=(rank, world_size, port, backend, worker, tuple(args), results,
                                   timeout))
             for rank in range(world_size)]
    outcome: dict[int, Any] = {}
    deadline = time.monotonic() + timeout
    try:
        for p in procs:
            p.start()
        STARTED[:] = [p.pid for p in procs]
        while len(outcome) < world_size:
            left = deadline - time.monotonic()
            if left <= 0:
                missing = sorted(set(range(world_size)) - set(outcome))
                raise WorkerTimeout(
                    f"ranks {missing} did not finish within {timeout:.0f} s: a worker hangs, or "
                    "waits in a collective for a rank that never reaches it. Every process "
                    "was stopped.")
            try:
                rank, status, value = results.get(timeout=min(left, 0.5))
            except queue.Empty:
                dead = [i for i, p in enumerate(procs) if p.exitcode not in (None, 0)
                        and i not in outcome]
                if dead:
                    raise WorkerFailed(dead[0], f"the process exited with code "
                                                f"{procs[dead[0]].exitcode} before reporting "
                                                "(killed, or out of memory)") from None
                continue
            if status == "error":
                rank, value = _root_cause(rank, value, results)
                raise WorkerFailed(rank, value)
            outcome[rank] = pickle.loads(value)
        return [outcome[rank] for rank in range(world_size)]
    finally:
        _stop(procs)
        results.close()
        results.join_thread()


# How a rank reports that another one failed under it (its collective lost its peer).
SECONDARY = ("DistBackendError", "Connection closed by peer", "remote worker", "Broken pipe",
             "Connection reset")
ROOT_CAUSE_WAIT_S = 2.0  # after the first error, how long to wait for the others' reports


def _root_cause(rank: int, message: str, results: Any) -> tuple[int, str]:
    """The error to report: when the first one only says a peer went away, wait a moment for
    the rank whose own code failed."""
    errors = {rank: message}
    deadline = time.monotonic() + ROOT_CAUSE_WAIT_S
    while any(word in message for word in SECONDARY) and time.monotonic() < deadline:
        try:
            other, status, value = results.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if status == "error":
            errors[other] = value
            if not any(word in value for word in SECONDARY):
                return other, value
    return rank, message


def _stop(procs: list) -> None:
    """Join every process; terminate, then kill, the ones still running."""
    for p in procs:
        if p.pid is not None:
            p.join(timeout=1.0)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        if p.pid is not None:
            p.join(timeout=STOP_GRACE_S)
        if p.is_alive():
            p.kill()
            p.join()


def function_from_source(source: str, name: str, label: str = "<source>") -> Callable:
    """The function `name` that `source` defines, executed with torch, nn, F, math and dist
    bound (how a notebook cell's function reaches a spawned process: as text)."""
    import math

    import torch.nn as nn
    import torch.nn.functional as F

    namespace = {"torch": torch, "nn": nn, "F": F, "math": math, "dist": dist,
                 "__name__": label}
    exec(compile(source, label, "exec"), namespace)
    return namespace[name]


def run_source(rank: int, world_size: int, source: str, name: str, args: tuple) -> Any:
    """A worker for `launch` given as source text: `name(rank, world_size, *args)`."""
    return function_from_source(source, name, f"<rank {rank}>")(rank, world_size, *args)


def rank_that_raises(rank: int, world_size: int, bad_rank: int = 1) -> int:
    """A worker for trying `launch`'s errors: rank `bad_rank` raises, the others wait for it in a
    barrier (as they would in a collective)."""
    if rank == bad_rank:
        raise ValueError(f"rank {rank} cannot go on: a deliberate error")
    dist.barrier()
    return rank


def rank_that_hangs(rank: int, world_size: int, bad_rank: int = 1) -> int:
    """A worker for trying `launch`'s timeout: rank `bad_rank` never finishes, the others wait for
    it in a barrier."""
    if rank == bad_rank:
        while True:
            time.sleep(1.0)
    dist.barrier()
    return rank
