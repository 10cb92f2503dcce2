"""Head-parallel attention in real processes, and what its all-reduce costs (notebook 09).

    result = run_head_parallel(head_parallel_attention, x, state, num_heads=4, world_size=2)
    result["outputs"], result["all_reduces"], result["max_difference"]   # per rank, vs unsharded
    cost = comm_cost(sizes=((8, 64, 256), (8, 256, 512)), world_size=2)  # compute vs all-reduce

Both start `world_size` processes with `attn_course.distributed.launch` (gloo, CPU). A function
defined in a notebook cannot be imported by a spawned process, so `run_head_parallel` sends its
source text and each rank runs it (`distributed.function_from_source`): it may use torch, nn, F,
math and dist, and names it defines itself. The course's own functions are sent as they are.
Results are plain data.
"""

from __future__ import annotations

import inspect
import statistics
import textwrap
import time
from collections.abc import Callable, Sequence

import torch
import torch.distributed as dist

from attn_course.distributed import function_from_source, launch
from attn_course.reference.head_parallel import full_attention, shard

__all__ = ["comm_cost", "head_parallel_worker", "run_head_parallel"]


class AllReduceSum(torch.autograd.Function):
    """Megatron's g operator: forward, the sum over the ranks (an all-reduce); backward, the
    gradient as it is (each rank holds the same output, and the loss is computed from it once)."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        out = t.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad


def _counted_all_reduce(counter: list[int]) -> Callable[[torch.Tensor], torch.Tensor]:
    def all_reduce(t: torch.Tensor) -> torch.Tensor:
        counter[0] += 1
        return AllReduceSum.apply(t)

    return all_reduce


def head_parallel_worker(rank: int, world_size: int, fn: Callable | str, name: str,
                         x: torch.Tensor, state: dict, num_heads: int, gpu: bool = False) -> dict:
    """One rank: run fn (a function, or source text defining `name`) on this rank's shard (on GPU
    `rank` when gpu); its output, the time of the forward pass and how many all-reduces it made."""
    calls = [0]
    if isinstance(fn, str):
        fn = function_from_source(fn, name, f"<rank {rank}>")
    if gpu:
        x, state = x.cuda(rank), {k: v.cuda(rank) for k, v in state.items()}
    part = shard(state, num_heads, rank, world_size)
    dist.barrier()
    start = time.perf_counter()
    out = fn(x, part, _counted_all_reduce(calls))
    seconds = time.perf_counter() - start
    return {"rank": rank, "out": out.detach().cpu(), "all_reduces": calls[0], "seconds": seconds}


def run_head_parallel(fn: Callable, x: torch.Tensor, state: dict, num_heads: int,
                      world_size: int = 2, timeout: float = 60.0, backend: str = "gloo") -> dict:
    """fn(x, part, all_reduce) on every rank of a process group of `world_size` processes (gloo
    on the CPU; nccl with one GPU per rank): {"outputs", "all_reduces" (per rank), "seconds",
    "max_difference" (largest |rank's output - the unsharded layer's|)}."""
    module = getattr(fn, "__module__", "") or ""
    importable = module.startswith("attn_course.")  # the course's own: spawned ranks import it
    sent = fn if importable else textwrap.dedent(inspect.getsource(fn))
    state = {k: v.detach() for k, v in state.items()}
    ranks = launch(head_parallel_worker, world_size,
                   (sent, fn.__name__, x.detach(), state, num_heads, backend == "nccl"),
                   timeout=timeout, backend=backend)
    with torch.no_grad():
        want = full_attention(x, state, num_heads)
    return {"world_size": world_size, "outputs": [r["out"] for r in ranks],
            "all_reduces": [r["all_reduces"] for r in ranks],
            "seconds": [r["seconds"] for r in ranks],
            "max_difference": max((r["out"] - want).abs().max().item() for r in ranks)}


def _median_s(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up, not timed
    times = []
    for _ in range(repeats):
        dist.barrier()  # the ranks start together
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def comm_cost_worker(rank: int, world_size: int, sizes: Sequence[tuple[int, int, int]],
                     num_heads: int, repeats: int) -> list[dict]:
    """One rank: per (B, T, D), the median time of its share of the attention layer (its heads)
    and of the all-reduce of a (B, T, D) output."""
    from attn_course.reference.head_parallel import head_parallel_attention
    from attn_course.reference.mha import MultiHeadSelfAttention

    dist.all_reduce(torch.zeros(1))  # the first collective also sets up the connection
    rows = []
    for B, T, D in sizes:
        torch.manual_seed(0)
        layer = MultiHeadSelfAttention(D, num_heads)
        part = shard({k: v.detach() for k, v in layer.state_dict().items()}, num_heads, rank,
                     world_size)
        x = torch.randn(B, T, D)
        out = torch.randn(B, T, D)
        with torch.no_grad():
            compute = _median_s(lambda x=x, part=part: head_parallel_attention(
                x, part, lambda t: t), repeats)
            reduce = _median_s(lambda out=out: dist.all_reduce(out.clone()), repeats)
        rows.append({"shape": [B, T, D], "compute_s": compute, "all_reduce_s": reduce,
                     "bytes": out.numel() * out.element_size()})
    return rows


def comm_cost(sizes: Sequence[tuple[int, int, int]] = ((4, 64, 128), (4, 256, 256),
                                                       (4, 512, 512)),
              world_size: int = 2, num_heads: int = 8, repeats: int = 10,
              timeout: float = 120.0) -> dict:
    """Per (B, T, D): each rank's compute time for its heads and the all-reduce time of the
    (B, T, D) output, medians over `repeats`, the slower rank's; gloo over local TCP."""
    ranks = launch(comm_cost_worker, world_size, (list(sizes), num_heads, repeats),
                   timeout=timeout)
    rows = []
    for i, (B, T, D) in enumerate(sizes):
        compute = max(r[i]["compute_s"] for r in ranks)
        reduce = max(r[i]["all_reduce_s"] for r in ranks)
        rows.append({"shape": [B, T, D], "compute_ms": 1e3 * compute,
                     "all_reduce_ms": 1e3 * reduce, "bytes": ranks[0][i]["bytes"],
                     "share": reduce / (compute + reduce)})
    return {"world_size": world_size, "num_heads": num_heads, "backend": "gloo",
            "threads_per_rank": 1, "rows": rows}
