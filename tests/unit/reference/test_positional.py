"""The reference sinusoidal positional encoding."""

import math

import pytest
import torch

from attn_course.reference import sinusoidal_positional_encoding


def _formula(pos: int, j: int, d_model: int, base: float = 10000.0) -> float:
    angle = pos / base ** (2 * (j // 2) / d_model)
    return math.sin(angle) if j % 2 == 0 else math.cos(angle)


@pytest.mark.parametrize(("T", "d_model"), [(1, 1), (5, 2), (7, 7), (10, 16), (3, 33)])
def test_matches_the_formula_entry_by_entry(T, d_model):
    pe = sinusoidal_positional_encoding(T, d_model, dtype=torch.float64)
    want = torch.tensor([[_formula(p, j, d_model) for j in range(d_model)] for p in range(T)],
                        dtype=torch.float64)
    torch.testing.assert_close(pe, want, atol=1e-12, rtol=0)


def test_shape_dtype_and_first_row():
    pe = sinusoidal_positional_encoding(6, 8)
    assert pe.shape == (6, 8) and pe.dtype == torch.float32
    assert pe[0].tolist() == [0.0, 1.0] * 4  # sin 0, cos 0
    assert (pe.abs() <= 1).all()


def test_odd_width_ends_with_a_sin_column():
    pe = sinusoidal_positional_encoding(4, 5, dtype=torch.float64)
    angle = torch.arange(4, dtype=torch.float64) / 10000 ** (4 / 5)
    torch.testing.assert_close(pe[:, -1], torch.sin(angle))
    torch.testing.assert_close(sinusoidal_positional_encoding(4, 1)[:, 0],
                               torch.sin(torch.arange(4.0)))


def test_a_shift_is_a_rotation_of_each_pair():
    """PE[pos + k] is PE[pos] with each (sin, cos) pair rotated by the angle k * freq."""
    d, k = 8, 3
    pe = sinusoidal_positional_encoding(20, d, dtype=torch.float64)
    freqs = 1 / 10000 ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    c, s = torch.cos(k * freqs), torch.sin(k * freqs)
    sin, cos = pe[:-k, 0::2], pe[:-k, 1::2]
    torch.testing.assert_close(pe[k:, 0::2], sin * c + cos * s)
    torch.testing.assert_close(pe[k:, 1::2], cos * c - sin * s)


def test_rows_are_distinct_and_base_is_a_parameter():
    pe = sinusoidal_positional_encoding(50, 16)
    assert torch.cdist(pe, pe).add(torch.eye(50)).min() > 0.1
    small = sinusoidal_positional_encoding(5, 4, base=100.0, dtype=torch.float64)
    assert small[2, 2].item() == pytest.approx(math.sin(2 / 100 ** 0.5))


@pytest.mark.parametrize(("args", "kwargs", "match"), [
    ((0, 8), {}, "T must be a positive int, got 0"),
    ((4, 2.0), {}, "d_model must be a positive int, got 2.0"),
    ((True, 4), {}, "T must be a positive int, got True"),
    ((4, 4), {"base": 1.0}, "base must be a number > 1"),
])
def test_bad_arguments_are_clear_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sinusoidal_positional_encoding(*args, **kwargs)
