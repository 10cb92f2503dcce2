"""count_matmuls: the products a tiled attention runs, two per tile it visits."""

import torch

from attn_course.reference.flash import flash_attention
from attn_course.tile_count import count_matmuls


def test_each_product_counts_once_whatever_its_spelling():
    a = torch.randn(3, 3)
    assert count_matmuls(lambda: a @ a) == 1
    assert count_matmuls(lambda: torch.matmul(a, a) + torch.einsum("ij,jk->ik", a, a)) == 2
    assert count_matmuls(lambda: torch.bmm(a[None], a[None]) + a.sum()) == 1


def test_a_causal_flash_pass_visits_the_tiles_on_and_below_the_diagonal():
    q = torch.randn(1, 2, 64, 8)
    assert count_matmuls(flash_attention, q, q, q, False, 16) == 2 * 4 * 4
    assert count_matmuls(flash_attention, q, q, q, True, 16) == 2 * (1 + 2 + 3 + 4)
