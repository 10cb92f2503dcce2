"""The positive-int check every reference constructor and mask builder uses."""

import pytest

from attn_course.reference import MultiHeadSelfAttention, SelfAttention, causal_mask
from attn_course.reference import sinusoidal_positional_encoding as pe
from attn_course.reference.arguments import positive_int


def test_positive_ints_pass_through():
    assert positive_int("T", 1) == 1 and positive_int("d_model", 64) == 64


@pytest.mark.parametrize("bad", [0, -3, 2.0, True, "4", None])
def test_anything_else_is_named_in_the_error(bad):
    with pytest.raises(ValueError) as error:
        positive_int("d_k", bad)
    assert str(error.value) == f"d_k must be a positive int, got {bad!r}."
    with pytest.raises(ValueError) as error:
        positive_int("T", 0, "sequence length")
    assert str(error.value) == "T must be a positive int (sequence length), got 0."


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: causal_mask(0), "T must be a positive int (sequence length), got 0."),
        (lambda: pe(4, 0), "d_model must be a positive int, got 0."),
        (lambda: SelfAttention(8, 4, d_v=0), "d_v must be a positive int, got 0."),
        (lambda: MultiHeadSelfAttention(8, True), "num_heads must be a positive int, got True."),
    ],
)
def test_every_reference_uses_it(build, message):
    with pytest.raises(ValueError) as error:
        build()
    assert str(error.value) == message

