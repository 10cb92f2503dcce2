"""The launcher: ranks form a real gloo group; a worker that raises or hangs gives a clean error
naming its rank, within the timeout, and no process is left behind."""

import inspect
import linecache
import time

import pytest
import torch

from attn_course import distributed
from attn_course.distributed import (
    WorkerFailed,
    WorkerTimeout,
    function_from_source,
    launch,
    rank_that_hangs,
    rank_that_raises,
)
from attn_course.experiments.parallel import comm_cost, run_head_parallel
from attn_course.reference.head_parallel import head_parallel_attention
from attn_course.reference.mha import MultiHeadSelfAttention


def none_left() -> bool:
    """Whether every process of the last launch has ended (zombies count as ended)."""
    for pid in distributed.STARTED:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # gone
        if state != "Z":
            return False
    return bool(distributed.STARTED)


def test_the_ranks_form_one_group_and_return_in_rank_order():
    assert launch(rank_that_raises, 3, (99,), timeout=60) == [0, 1, 2]  # nobody is rank 99
    assert none_left()


def test_a_worker_that_raises_names_its_rank_and_stops_the_others():
    start = time.monotonic()
    with pytest.raises(WorkerFailed) as info:
        launch(rank_that_raises, 2, (1,), timeout=60)
    assert info.value.rank == 1
    assert "a deliberate error" in str(info.value) and "ValueError" in str(info.value)
    assert time.monotonic() - start < 30  # rank 0 was stopped, not waited for
    assert none_left()


def test_a_worker_that_hangs_times_out_and_is_killed():
    start = time.monotonic()
    with pytest.raises(WorkerTimeout, match=r"ranks \[0, 1\] did not finish within 8 s"):
        launch(rank_that_hangs, 2, (1,), timeout=8)
    assert time.monotonic() - start < 8 + 10
    assert none_left()


def test_bad_arguments_are_refused_before_anything_starts():
    with pytest.raises(ValueError, match="positive int"):
        launch(rank_that_raises, 0)
    with pytest.raises(ValueError, match="a GPU per rank"):
        launch(rank_that_raises, torch.cuda.device_count() + 1, backend="nccl")


def test_a_function_given_as_source_runs_with_torch_bound():
    fn = function_from_source("def f(t):\n    return torch.ones(2) * t\n", "f")
    assert fn(3).tolist() == [3.0, 3.0]


@pytest.mark.parametrize("world_size", [2, 4])
def test_head_parallel_attention_in_processes_is_the_unsharded_layer(world_size):
    torch.manual_seed(0)
    layer = MultiHeadSelfAttention(32, 8)
    x = torch.randn(2, 6, 32)
    result = run_head_parallel(head_parallel_attention, x, layer.state_dict(), 8, world_size)
    assert result["all_reduces"] == [1] * world_size  # exactly one per forward pass
    assert result["max_difference"] < 1e-5
    with torch.no_grad():
        want = layer(x)
    for out in result["outputs"]:
        torch.testing.assert_close(out, want, atol=1e-5, rtol=1e-5)


def test_a_notebook_function_travels_as_source():
    source = ("def reduces_three_times(x, part, all_reduce):\n"
              "    return all_reduce(x) + 0 * all_reduce(x) + 0 * all_reduce(x)\n")
    filename = "<a notebook cell>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict = {}
    exec(compile(source, filename, "exec"), namespace)  # as a cell defines it: not importable
    fn = namespace["reduces_three_times"]
    assert inspect.getsource(fn) == source
    layer = MultiHeadSelfAttention(8, 2)
    x = torch.randn(1, 3, 8)
    result = run_head_parallel(fn, x, layer.state_dict(), 2, 2)
    assert result["all_reduces"] == [3, 3]
    torch.testing.assert_close(result["outputs"][0], 2 * x)  # the sum over two ranks


def test_comm_cost_times_compute_and_the_all_reduce_per_size():
    cost = comm_cost(sizes=((2, 16, 32), (2, 64, 64)), repeats=3)
    assert cost["world_size"] == 2 and len(cost["rows"]) == 2
    for row, shape in zip(cost["rows"], ([2, 16, 32], [2, 64, 64]), strict=True):
        assert row["shape"] == shape and row["bytes"] == 4 * shape[0] * shape[1] * shape[2]
        assert row["compute_ms"] > 0 and row["all_reduce_ms"] > 0 and 0 < row["share"] < 1


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA devices")
def test_head_parallel_attention_on_every_gpu_with_nccl():
    world_size = torch.cuda.device_count()
    heads = 4 * world_size
    torch.manual_seed(0)
    layer = MultiHeadSelfAttention(8 * heads, heads)
    x = torch.randn(2, 64, 8 * heads)
    result = run_head_parallel(head_parallel_attention, x, layer.state_dict(), heads,
                               world_size, backend="nccl")
    assert result["all_reduces"] == [1] * world_size
    assert result["max_difference"] < 1e-3  # TF32 matmuls on the GPU
