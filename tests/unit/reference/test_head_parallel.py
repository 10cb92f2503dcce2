"""Sharding by heads: each rank's slices are its heads' rows and columns, the shares add up to
the unsharded layer, and heads that do not split evenly are refused."""

import pytest
import torch

from attn_course.reference import MultiHeadSelfAttention
from attn_course.reference.head_parallel import full_attention, head_parallel_attention, shard


@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_the_shares_of_all_ranks_add_up_to_the_unsharded_layer(world_size):
    torch.manual_seed(world_size)
    layer = MultiHeadSelfAttention(16, 4).double()
    state = {k: v.detach() for k, v in layer.state_dict().items()}
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    shares = [head_parallel_attention(x, shard(state, 4, r, world_size), lambda t: t)
              - state["out_proj.bias"] for r in range(world_size)]
    torch.testing.assert_close(sum(shares) + state["out_proj.bias"], layer(x))
    torch.testing.assert_close(full_attention(x, state, 4), layer(x))


def test_a_rank_owns_its_heads_rows_and_columns():
    layer = MultiHeadSelfAttention(8, 4)
    state = {k: v.detach() for k, v in layer.state_dict().items()}
    part = shard(state, 4, rank=1, world_size=2)  # heads 2 and 3: features 4 .. 7
    assert part["heads"] == 2
    torch.testing.assert_close(part["w_q"], state["q_proj.weight"][4:8])
    torch.testing.assert_close(part["b_v"], state["v_proj.bias"][4:8])
    torch.testing.assert_close(part["w_o"], state["out_proj.weight"][:, 4:8])
    with pytest.raises(ValueError, match="cannot be split evenly over 3 ranks"):
        shard(state, 4, 0, 3)
