"""split_heads and merge_heads: correct rearrangements pass, every classic mistake is named."""


import pytest
import torch

from attn_course.checks import (
    CHECKS,
    MERGE_HEADS_CHECK,
    SPLIT_HEADS_CHECK,
    check_merge_heads,
    check_split_heads,
)
from attn_course.reference import (
    merge_heads,
    split_heads,
)
from tests.unit.checks.students import merge_heads as student_merge
from tests.unit.checks.students import split_heads as student_split

NEG_INF = float("-inf")


# ==== split_heads / merge_heads =============================================================
def split_reshape_permute(x, num_heads):
    B, T, D = x.shape
    return x.reshape(B, T, num_heads, -1).permute(0, 2, 1, 3)


def split_unflatten(x, num_heads):
    return x.unflatten(-1, (num_heads, x.shape[-1] // num_heads)).transpose(1, 2)


def split_chunks(x, num_heads):
    return torch.stack(x.chunk(num_heads, dim=-1), dim=1)


def split_loop(x, num_heads):
    d = x.shape[-1] // num_heads
    return torch.stack([x[..., h * d:(h + 1) * d] for h in range(num_heads)], dim=1)


def merge_flatten(x):
    return x.permute(0, 2, 1, 3).flatten(2)


def merge_cat(x):
    return torch.cat(x.unbind(1), dim=-1)


def merge_contiguous_view(x):
    B, H, T, d = x.shape
    return x.transpose(1, 2).contiguous().view(B, T, H * d)


@pytest.mark.parametrize("fn", [split_heads, split_reshape_permute, split_unflatten,
                                split_chunks, split_loop])
def test_correct_splits_pass(fn):
    assert check_split_heads(fn).passed
    assert check_split_heads(fn, seed=3).passed


@pytest.mark.parametrize("fn", [merge_heads, merge_flatten, merge_cat, merge_contiguous_view])
def test_correct_merges_pass(fn):
    assert check_merge_heads(fn).passed


def split_without_transpose(x, num_heads):
    B, T, D = x.shape
    return x.view(B, num_heads, T, D // num_heads)


def split_heads_last(x, num_heads):
    B, T, D = x.shape
    return x.view(B, T, D // num_heads, num_heads).permute(0, 3, 1, 2)


def split_forgets_transpose(x, num_heads):
    B, T, D = x.shape
    return x.reshape(B, T, num_heads, D // num_heads)


def split_eight_heads(x, num_heads):
    B, T, D = x.shape
    return x.view(B, T, 8, D // 8).transpose(1, 2)


def split_four_heads(x, num_heads):
    B, T, D = x.shape
    return x.reshape(B, T, 4, -1).transpose(1, 2)


@pytest.mark.parametrize(("fn", "mistake", "words"), [
    (split_without_transpose, "no_transpose", "x.view(B, T, H, d).transpose(1, 2)"),
    (split_heads_last, "split_order", "every H-th feature"),
    (split_forgets_transpose, "heads_not_moved", "(B, T, H, d)"),
    (split_eight_heads, "hard_coded_heads", "hard-coded"),
    (split_four_heads, "hard_coded_heads", "num_heads"),
])
def test_split_mistakes_are_named(fn, mistake, words, named):
    assert words in named(fn, mistake, check_split_heads)


def test_split_layout_hint_names_the_features_a_head_got(failure):
    def reversed_heads(x, num_heads):
        return student_split(x, num_heads).flip(1)

    message = str(failure(reversed_heads, check_split_heads))
    assert "head 0 at position 0 holds features [8, 9, 10, 11]" in message
    assert "contiguous slice 0:4" in message


def test_split_in_place_and_wrong_shape(failure):
    def resizes_input(x, num_heads):
        B, T, D = x.shape
        x.resize_(B, T, num_heads, D // num_heads)
        return x.transpose(1, 2)

    def flat_heads(x, num_heads):
        B, T, D = x.shape
        return student_split(x, num_heads).reshape(B * num_heads, T, -1)

    assert "changed its input x in place" in str(failure(resizes_input, check_split_heads))
    assert "out has shape (6, 5, 4), expected (2, 3, 5, 4)" in str(
        failure(flat_heads, check_split_heads))


def merge_without_transpose(x):
    B, H, T, d = x.shape
    return x.reshape(B, T, H * d)


def merge_view_without_transpose(x):
    B, H, T, d = x.shape
    return x.view(B, T, -1)


def merge_wrong_order(x):
    B, H, T, d = x.shape
    return x.permute(0, 2, 3, 1).reshape(B, T, H * d)


def merge_not_flattened(x):
    return x.transpose(1, 2)


def merge_view_after_transpose(x):
    B, H, T, d = x.shape
    return x.transpose(1, 2).view(B, T, H * d)


@pytest.mark.parametrize(("fn", "mistake", "words"), [
    (merge_without_transpose, "no_transpose", "x.transpose(1, 2).reshape(B, T, H * d)"),
    (merge_view_without_transpose, "no_transpose", "mixes positions"),
    (merge_wrong_order, "merge_order", "(d, H) instead of (H, d)"),
    (merge_not_flattened, "not_merged", "(B, T, H, d)"),
    (merge_view_after_transpose, "view_after_transpose", ".reshape"),
])
def test_merge_mistakes_are_named(fn, mistake, words, named):
    assert words in named(fn, mistake, check_merge_heads)


def test_merge_layout_hint_says_where_the_values_came_from(failure):
    message = str(failure(lambda x: student_merge(x.flip(1)), check_merge_heads))
    assert "position 0 of the result holds x[0, 2, 0, 0]" in message


def test_merge_garbage(failure):
    def stub(x):
        raise NotImplementedError()

    assert "not implemented yet" in str(failure(stub, check_merge_heads))
    assert "returned None" in str(failure(lambda x: None, check_merge_heads))
    assert "numpy array" in str(failure(lambda x: student_merge(x).numpy(),
                                        check_merge_heads))
    assert "Pass the function itself" in str(failure(merge_heads(torch.ones(1, 2, 3, 4)),
                                                      check_merge_heads))


def test_split_and_merge_are_registered():
    assert CHECKS["split_heads"] is SPLIT_HEADS_CHECK
    assert CHECKS["merge_heads"] is MERGE_HEADS_CHECK
    for check, ref in ((SPLIT_HEADS_CHECK, split_heads), (MERGE_HEADS_CHECK, merge_heads)):
        cases = check.cases(seed=1)
        assert check.judge(check.run(ref, cases), cases).passed


