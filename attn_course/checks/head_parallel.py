"""The check for head-parallel attention: each rank computes its heads, one all-reduce sums them.

    check_head_parallel_attention(fn, *, seed=0)
        fn(x, part, all_reduce): x (B, T, D) (the same on every rank), part = this rank's
        `reference.head_parallel.shard` of a MultiHeadSelfAttention, all_reduce(t) -> the sum of
        t over the ranks -> (B, T, D), the unsharded layer's output, on every rank.

The ranks are threads here, one per rank, meeting in `all_reduce` as processes meet in a
collective: a rank that calls it waits for the others. That keeps the check in one process (the
notebook then runs your function in real processes with torch.distributed). Each case splits a
layer over 1 to 4 ranks and compares every rank's output (stacked, (W, B, T, D): index 0 is the
rank), and the gradients with respect to x and the weights, with the unsharded layer's. How
many all-reduces a forward pass makes is not judged (the notebook shows it to you); the output
must be the same on every rank.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import torch

from attn_course.checks import catalogue
from attn_course.checks import draw as drawing
from attn_course.checks.check import Check
from attn_course.checks.mistakes import ExceptionHint, FlagHint, Mistake
from attn_course.checks.records import Case
from attn_course.checks.results import CheckResult
from attn_course.device import tolerances
from attn_course.formatting import dtype_text, shape_text
from attn_course.reference.head_parallel import NAMES, full_attention, shard
from attn_course.reference.mha import merge_heads, split_heads

__all__ = ["HEAD_PARALLEL_ATTENTION_CHECK", "ThreadRanks", "check_head_parallel_attention"]

F64, F32 = torch.float64, torch.float32
WAIT_S = 20.0  # how long a rank waits in all_reduce for the others


class ThreadRanks:
    """`world_size` threads standing in for the ranks of a process group.

    run(fn, x, state, num_heads) -> [output of each rank], calling fn(x, shard, all_reduce) on
    every rank at once; `calls[r]` counts rank r's all-reduces."""

    def __init__(self, world_size: int):
        self.world_size = world_size
        self.barrier = threading.Barrier(world_size, timeout=WAIT_S)
        self.slots: list[Any] = [None] * world_size
        self.calls = [0] * world_size

    def all_reduce_of(self, rank: int) -> Callable[[torch.Tensor], torch.Tensor]:
        def all_reduce(t: torch.Tensor) -> torch.Tensor:
            """The sum of t over the ranks (every rank must call this, with the same shape)."""
            self.calls[rank] += 1
            self.slots[rank] = t
            self.barrier.wait()  # every rank has put its tensor
            shapes = [tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__
                      for s in self.slots]
            if len(set(shapes)) != 1:
                raise ValueError(f"all_reduce got tensors of different shapes from the ranks: "
                                 f"{shapes}")
            total = torch.stack(list(self.slots)).sum(0)
            self.barrier.wait()  # every rank has read them: the slots can be reused
            return total

        return all_reduce

    def run(self, fn: Callable, x: torch.Tensor, state: dict, num_heads: int) -> list:
        outputs: list[Any] = [None] * self.world_size
        errors: list[BaseException | None] = [None] * self.world_size

        def rank_main(rank: int) -> None:
            try:
                part = shard(state, num_heads, rank, self.world_size)
                outputs[rank] = fn(x, part, self.all_reduce_of(rank))
            except BaseException as exc:  # reported below; the others must not wait forever
                errors[rank] = exc
                self.barrier.abort()

        threads = [threading.Thread(target=rank_main, args=(r,), daemon=True)
                   for r in range(self.world_size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        first = next((e for e in errors if e is not None
                      and not isinstance(e, threading.BrokenBarrierError)), None)
        if first is not None:
            raise first
        if any(errors):
            raise RuntimeError(
                "the ranks did not make the same all_reduce calls (rank's calls: "
                f"{self.calls}): in a real process group they would wait for each other forever")
        return outputs


def _state(inputs: tuple) -> dict:
    return dict(zip(NAMES, inputs, strict=True))


def run_sharded(fn: Callable, x, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, num_heads: int,
                world_size: int) -> Any:
    """Every rank's output of fn, run on every rank at once (threads), stacked: (W, B, T, D).
    Where rank 0's output is not a tensor, that output as it is (its verdict says why)."""
    state = _state((q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b))
    outputs = ThreadRanks(world_size).run(fn, x, state, num_heads)
    first = outputs[0]
    if not isinstance(first, torch.Tensor):
        return first
    for rank, out in enumerate(outputs[1:], start=1):
        if not isinstance(out, torch.Tensor) or out.shape != first.shape:
            got = f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else repr(out)[:40]
            raise ValueError(f"rank {rank} returned {got}, rank 0 shape {tuple(first.shape)}: "
                             "every rank must return the whole layer's output (B, T, D)")
    return torch.stack(outputs)  # (W, B, T, D)


def unsharded(x, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, num_heads, world_size):
    """The oracle: the unsharded MultiHeadSelfAttention with these weights, once per rank."""
    out = full_attention(x, _state((q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b)), num_heads)
    return out.expand(world_size, *out.shape)  # (W, B, T, D): every rank holds all of it


# ---- cases -----------------------------------------------------------------------------------
def _case(g, seed, i, name, B, T, D, H, W, dtype, device="cpu") -> Case:
    x = torch.randn(B, T, D, generator=g, dtype=F64)
    weights = []
    for n in NAMES:
        shape = (D,) if n.endswith("bias") else (D, D)
        weights.append(torch.randn(*shape, generator=g, dtype=F64) / math.sqrt(D))
    tensors = {"x": x, **{n.replace("_proj.weight", "_w").replace("_proj.bias", "_b"): w
                          for n, w in zip(NAMES, weights, strict=True)}}
    return Case(
        name=name,
        inputs={**{n: t.to(dtype=dtype, device=device) for n, t in tensors.items()},
                "num_heads": H, "world_size": W},
        shapes=((W, B, T, D),),
        tolerance=tolerances(dtype, device),
        description=f"x {shape_text((B, T, D))} {dtype_text(dtype)}, {H} heads of {D // H} over "
                    f"{W} rank{'s' * (W > 1)} ({H // W} each) → expected {shape_text((B, T, D))} "
                    f"on every rank (stacked: {shape_text((W, B, T, D))})",
        flags=frozenset({f"world{W}"} | ({"float32"} if dtype == F32 else set())),
        grad=("x", "q_w", "out_w", "out_b"),
        grad_outputs=(torch.randn(W, B, T, D, generator=g, dtype=F64).to(dtype=dtype,
                                                                         device=device),),
        key=f"head_parallel:{seed}:{i}:{name}:{device}",
    )


def parallel_cases(seed: int = 0, *, device: str | torch.device = "cpu") -> list[Case]:
    """Cases for head_parallel_attention, 1 to 4 ranks."""
    g = torch.Generator().manual_seed(seed)
    specs = [
        ("4 heads over 2 ranks", 2, 5, 16, 4, 2, F64),
        ("4 heads over 1 rank", 1, 4, 8, 4, 1, F64),
        ("4 heads over 4 ranks (one head each)", 2, 3, 16, 4, 4, F64),
        ("6 heads over 3 ranks", 1, 5, 12, 6, 3, F64),
        ("8 heads over 4 ranks, float32", 2, 6, 32, 8, 4, F32),
    ]
    return [_case(g, seed, i, *spec, device=device) for i, spec in enumerate(specs)]


def parallel_draw(seed: int, *, start: int, device: str | torch.device = "cpu") -> list[Case]:
    """Three cases drawn from `seed`: 2 or 4 ranks, 1-3 heads each of 2-5, T 3-8."""
    gen = drawing.generator(seed)
    cases = []
    for dtype, where in drawing.placements(device):
        W, per, d = drawing.pick(gen, (2, 4)), drawing.integer(gen, 1, 3), drawing.integer(gen, 2,
                                                                                          5)
        T, H = drawing.integer(gen, 3, 8), W * per
        name = (f"drawn: {H} heads of {d} over {W} ranks, T={T} {dtype_text(dtype)}"
                + drawing.on(where))
        cases.append(_case(gen, seed, start + len(cases), name, 1, T, H * d, H, W, dtype,
                           device=where))
    return cases


# ---- the known mistakes, as per-rank functions ------------------------------------------------
def _heads(x, part, split=split_heads, scale=None):
    h = part["heads"]
    q, k, v = (split(x @ part[f"w_{n}"].T + part[f"b_{n}"], h) for n in "qkv")
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    return torch.softmax(q @ k.transpose(-2, -1) * scale, dim=-1) @ v  # (B, h, T, d)


def not_reduced(x, part, all_reduce):
    return merge_heads(_heads(x, part)) @ part["w_o"].T + part["b_o"]


def bias_on_every_rank(x, part, all_reduce):
    return all_reduce(merge_heads(_heads(x, part)) @ part["w_o"].T + part["b_o"])


def reduced_before_the_projection(x, part, all_reduce):
    return all_reduce(merge_heads(_heads(x, part))) @ part["w_o"].T + part["b_o"]


def scaled_by_the_model_width(x, part, all_reduce):
    heads = _heads(x, part, scale=1 / math.sqrt(x.shape[-1]))
    return all_reduce(merge_heads(heads) @ part["w_o"].T) + part["b_o"]


def _view_split(t, h):
    B, T, F_ = t.shape
    return t.view(B, h, T, F_ // h)  # no transpose: positions and heads mixed


def heads_mixed_by_a_view(x, part, all_reduce):
    heads = _heads(x, part, split=_view_split)
    return all_reduce(merge_heads(heads) @ part["w_o"].T) + part["b_o"]


HEAD_PARALLEL_ATTENTION_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "not_reduced",
        "the partial outputs are not summed over the ranks: each rank returns only its own "
        "heads' share of the output",
        "sum the shares with the all-reduce before adding the bias: "
        "all_reduce(merged @ part['w_o'].T) + part['b_o']",
        (not_reduced,),
    ),
    Mistake(
        "bias_on_every_rank",
        "out_proj's bias is added on every rank before the all-reduce, so the sum counts it once "
        "per rank",
        "add part['b_o'] after the all-reduce: all_reduce(partial) + part['b_o']",
        (bias_on_every_rank,),
    ),
    Mistake(
        "reduced_before_the_projection",
        "the heads' outputs are summed over the ranks before out_proj: different ranks' heads "
        "are added together, then projected with one rank's columns",
        "project first with this rank's columns, then sum: "
        "all_reduce(merge(heads) @ part['w_o'].T) + part['b_o']",
        (reduced_before_the_projection,),
    ),
    Mistake(
        "scaled_by_the_model_width",
        "the scores are divided by √D, the model's width, instead of √d, the head size",
        "divide by math.sqrt(d) with d = q.shape[-1], the size of one head",
        (scaled_by_the_model_width,),
    ),
    Mistake(
        "heads_mixed_by_a_view",
        "the projections are viewed as (B, h, T, d) without a transpose: each 'head' gets a mix "
        "of positions and heads",
        catalogue.CONTIGUOUS_FIX,
        (heads_mixed_by_a_view,),
    ),
)


class HeadParallelCheck(Check):
    """The student's function runs on every rank (threads, `ThreadRanks`) of each case."""

    def run(self, fn, cases):
        if fn is self.oracle:
            return super().run(fn, cases)

        def sharded(x, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, num_heads, world_size):
            return run_sharded(fn, x, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, num_heads,
                               world_size)

        return super().run(sharded, cases)

    def call_text(self, case: Case) -> str:
        W = case.inputs["world_size"]
        return (f"{self.name}(x, part, all_reduce) on each of {W} rank{'s' * (W > 1)}, part = "
                f"shard(state, {case.inputs['num_heads']}, rank, {W})")


HEAD_PARALLEL_ATTENTION_CHECK = HeadParallelCheck(
    "head_parallel_attention",
    check_function="check_head_parallel_attention",
    forbidden=catalogue.TORCH_ATTENTION,
    outputs=("out",),
    signature="def head_parallel_attention(x, part, all_reduce): ... return out  # (B, T, D)",
    make_cases=parallel_cases,
    draw=parallel_draw,
    oracle=unsharded,
    mistakes=HEAD_PARALLEL_ATTENTION_MISTAKES,
    exception_hints=(
        ExceptionHint(r"process group has not been initialized|Default process group",
                      "use the all_reduce function you are given (the check's ranks are not a "
                      "torch.distributed group): out = all_reduce(partial)"),
        ExceptionHint(r"did not make the same all_reduce calls",
                      "every rank must call all_reduce the same number of times, in the same "
                      "order"),
    ),
    flag_hints=(
        FlagHint(frozenset({"world4"}),
                 "it fails only with 4 ranks: take the heads per rank from part['heads']"),
    ),
)


def check_head_parallel_attention(fn, *, seed: int = 0) -> CheckResult:
    """Check `fn(x, part, all_reduce)` on every rank against the unsharded layer."""
    __tracebackhide__ = True
    return HEAD_PARALLEL_ATTENTION_CHECK.check(fn, seed=seed)
