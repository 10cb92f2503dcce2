"""The one validation of viz's inputs: arrays of maps and their labels."""

import numpy as np
import pytest
import torch

from attn_course.viz.inputs import as_array, as_maps, check_labels


def test_as_array_takes_tensors_with_grad_any_dtype_and_plain_arrays():
    t = torch.rand(2, 3, requires_grad=True)
    arr = as_array(t, "x")
    assert arr.dtype == np.float64 and arr.shape == (2, 3)
    np.testing.assert_array_equal(arr, t.detach().double().numpy())
    assert as_array(torch.tensor([True, False]), "m").tolist() == [1.0, 0.0]
    assert as_array(torch.ones(2, dtype=torch.bfloat16), "x").tolist() == [1.0, 1.0]
    assert as_array([[0.5, 1]], "x").tolist() == [[0.5, 1.0]]
    with pytest.raises(TypeError, match="x must be a tensor or array of numbers, got str"):
        as_array("abc", "x")


def test_as_maps_drops_leading_size_one_dims_only():
    assert as_maps(torch.rand(1, 1, 2, 5), "w", ndim=2).shape == (2, 5)
    assert as_maps(torch.rand(1, 4, 2, 5), "w", ndim=3).shape == (4, 2, 5)
    assert as_maps(torch.rand(1, 3, 3), "w", ndim=3).shape == (1, 3, 3)
    with pytest.raises(ValueError, match=r"w must be one 2-D map \(T_q, T_k\), got shape \(3,\)"):
        as_maps(torch.rand(3), "w", ndim=2)
    with pytest.raises(ValueError, match=r"one map per head .*got shape \(2, 2, 3, 3\)"):
        as_maps(torch.rand(2, 2, 3, 3), "w", ndim=3)


def test_check_labels():
    assert check_labels(None, 3, "keys") is None
    assert check_labels([1, "b", 2.5], 3, "keys") == ["1", "b", "2.5"]
    with pytest.raises(ValueError, match=r"got 1 labels for 2 keys: pass one label for each"):
        check_labels(["a"], 2, "keys")
    with pytest.raises(ValueError, match="got 3 head titles for 2 heads: pass one head title"):
        check_labels(["a", "b", "c"], 2, "heads", kind="head title")
