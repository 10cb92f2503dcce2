"""The sqrt(d_k) experiment: variance grows like d_k raw and stays near 1 scaled."""

import math

import pytest
import torch

from attn_course.experiments.scaling import scaling_experiment, softmax_jacobian_norm


@pytest.fixture(scope="module")
def result():
    return scaling_experiment((4, 16, 64, 256), seq_len=16, n_samples=128, seed=0)


def test_raw_variance_grows_like_d_k(result):
    for d_k, var in zip(result.d_k, result.var_unscaled, strict=True):
        assert 0.85 * d_k < var < 1.15 * d_k, (d_k, var)


def test_scaled_variance_stays_near_one(result):
    for var in result.var_scaled:
        assert 0.85 < var < 1.15


def test_raw_softmax_saturates_and_scaled_does_not(result):
    raw_max, raw_ent = result.max_weight_unscaled, result.entropy_unscaled
    assert list(raw_max) == sorted(raw_max) and raw_max[-1] > 0.85
    assert list(raw_ent) == sorted(raw_ent, reverse=True) and raw_ent[-1] < 0.4
    spread = max(result.max_weight_scaled) - min(result.max_weight_scaled)
    assert spread < 0.05
    for ent in result.entropy_scaled:
        assert 0.75 * math.log(16) < ent <= math.log(16)


def test_jacobian_shrinks_when_softmax_saturates(result):
    raw, scaled = result.jacobian_unscaled, result.jacobian_scaled
    assert list(raw) == sorted(raw, reverse=True) and raw[-1] < 0.5 * raw[0]
    assert max(scaled) - min(scaled) < 0.05


def test_jacobian_norm_matches_autograd():
    scores = torch.randn(3, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for row in scores:
        jac = torch.autograd.functional.jacobian(lambda s: torch.softmax(s, -1), row)
        expected = torch.linalg.matrix_norm(jac)
        got = softmax_jacobian_norm(torch.softmax(row, -1))
        assert torch.allclose(got, expected), (got, expected)
    one_hot = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    assert softmax_jacobian_norm(one_hot) == 0


def test_same_seed_same_numbers_and_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = scaling_experiment((8, 32), n_samples=16, seed=3)
    after = torch.rand(1)
    b = scaling_experiment((8, 32), n_samples=16, seed=3)
    c = scaling_experiment((8, 32), n_samples=16, seed=4)
    assert a == b
    assert a.var_unscaled != c.var_unscaled
    assert torch.equal(before, after)


def test_table_has_a_row_per_d_k(result):
    lines = result.table().splitlines()
    assert len(lines) == 2 + len(result.d_k) + 1
    assert lines[2].split()[0] == "4" and lines[-2].split()[0] == "256"
    assert "Jacobian norm" in lines[0]
    assert "uniform weights over 16 keys" in lines[-1]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"d_ks": ()}, "d_ks must be positive"),
        ({"d_ks": (0, 4)}, "d_ks must be positive"),
        ({"seq_len": 1}, "seq_len must be at least 2"),
        ({"n_samples": 0}, "n_samples must be at least 1"),
    ],
)
def test_bad_arguments_are_explained(kwargs, match):
    with pytest.raises(ValueError, match=match):
        scaling_experiment(**kwargs)
