"""The reference single-head SelfAttention's messages (its results are tested with the checks)."""

import pytest
import torch

from attn_course.reference import SelfAttention


def test_wrong_input_shapes_are_written_as_python_tuples():
    with pytest.raises(ValueError, match=r"\(B, T, d_model=8\), got \(5,\)\.$"):
        SelfAttention(8, 4)(torch.zeros(5))
    with pytest.raises(ValueError, match=r"got \(1, 5, 6\)\.$"):
        SelfAttention(8, 4)(torch.zeros(1, 5, 6))
    with pytest.raises(ValueError, match=r"got list\.$"):
        SelfAttention(8, 4)([[0.0] * 8])
