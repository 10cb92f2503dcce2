"""sinusoidal_positional_encoding: correct encodings pass, each classic mistake is named."""

import math

import numpy as np
import pytest
import torch

from attn_course.checks import (
    CHECKS,
    POSITIONAL_ENCODING_CHECK,
    check_positional_encoding,
)
from attn_course.reference import (
    sinusoidal_positional_encoding,
)

NEG_INF = float("-inf")


# ==== check_positional_encoding ==============================================================
def pe_annotated(T, d_model):
    """exp/log frequencies in float32, as in the Annotated Transformer (odd widths handled)."""
    pe = torch.zeros(T, d_model)
    position = torch.arange(0, T).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2) * -(math.log(10000.0) / d_model))
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term[: d_model // 2])
    return pe


def pe_loops(T, d_model):
    rows = []
    for pos in range(T):
        row = []
        for j in range(d_model):
            angle = pos / 10000 ** (2 * (j // 2) / d_model)
            row.append(math.sin(angle) if j % 2 == 0 else math.cos(angle))
        rows.append(row)
    return torch.tensor(rows)


def pe_numpy(T, d_model):
    pos = np.arange(T)[:, None]
    i = np.arange(d_model)[None, :]
    angles = pos / np.power(10000, (2 * (i // 2)) / d_model)
    pe = np.where(i % 2 == 0, np.sin(angles), np.cos(angles))
    return torch.from_numpy(pe).float()


def pe_stack_and_trim(T, d_model):
    freqs = 1.0 / 10000 ** (torch.arange(0, d_model + 1, 2, dtype=torch.float32) / d_model)
    angles = torch.arange(T, dtype=torch.float32)[:, None] * freqs
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)[:, :d_model]


@pytest.mark.parametrize("fn", [sinusoidal_positional_encoding, pe_annotated, pe_loops,
                                pe_numpy, pe_stack_and_trim])
def test_correct_encodings_pass(fn):
    assert check_positional_encoding(fn).passed


def pe_swapped(T, d_model):
    pe = pe_annotated(T, d_model)
    out = torch.zeros(T, d_model)
    angles = torch.arange(T)[:, None] / 10000 ** (torch.arange(0, d_model, 2) / d_model)
    out[:, 0::2] = torch.cos(angles)
    out[:, 1::2] = torch.sin(angles[:, : d_model // 2])
    assert out.shape == pe.shape
    return out


def pe_concatenated(T, d_model):
    angles = torch.arange(T)[:, None] / 10000 ** (torch.arange(0, d_model, 2) / d_model)
    return torch.cat([torch.sin(angles), torch.cos(angles[:, : d_model // 2])], dim=-1)


def pe_exponent_i(T, d_model):
    i = torch.arange((d_model + 1) // 2)
    angles = torch.arange(T)[:, None] / 10000 ** (i / d_model)
    pe = torch.zeros(T, d_model)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return pe


def pe_column_index(T, d_model):
    j = torch.arange(d_model)
    angles = torch.arange(T)[:, None] / 10000 ** (j / d_model)
    return torch.where(j % 2 == 0, angles.sin(), angles.cos())


def pe_base_1000(T, d_model):
    angles = torch.arange(T)[:, None] / 1000 ** (torch.arange(0, d_model, 2) / d_model)
    pe = torch.zeros(T, d_model)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return pe


def pe_from_one(T, d_model):
    angles = torch.arange(1, T + 1)[:, None] / 10000 ** (torch.arange(0, d_model, 2) / d_model)
    pe = torch.zeros(T, d_model)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return pe


def pe_transposed(T, d_model):
    return pe_annotated(T, d_model).T


def pe_even_only(T, d_model):
    angles = torch.arange(T)[:, None] / 10000 ** (torch.arange(0, d_model, 2) / d_model)
    pe = torch.zeros(T, d_model)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)  # one column too many when d_model is odd
    return pe


def pe_float64(T, d_model):
    return torch.from_numpy(pe_numpy(T, d_model).numpy().astype(np.float64))


def pe_multiplied(T, d_model):
    angles = torch.arange(T)[:, None] * 10000 ** (torch.arange(0, d_model, 2) / d_model)
    pe = torch.zeros(T, d_model)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return pe


@pytest.mark.parametrize(("fn", "mistake", "words"), [
    (pe_swapped, "sin_cos_swapped", "even columns must be sin"),
    (pe_concatenated, "concatenated", "interleave"),
    (pe_exponent_i, "exponent_i", "i instead of 2i"),
    (pe_column_index, "exponent_column", "share the sin column's frequency"),
    (pe_base_1000, "wrong_base", "10000"),
    (pe_from_one, "positions_from_1", "torch.arange(T)"),
    (pe_transposed, "transposed", "(T, d_model)"),
    (pe_even_only, "odd_unsupported", "odd d_model"),
    (pe_float64, "float64", "float32"),
    (pe_multiplied, "frequency_inverted", "multiplied"),
], ids=lambda x: getattr(x, "__name__", None))
def test_positional_mistakes_are_named(fn, mistake, words, named):
    assert words in named(fn, mistake, check_positional_encoding)


def test_positional_garbage(failure):
    def stub(T, d_model):
        raise NotImplementedError()

    assert "not implemented yet" in str(failure(stub, check_positional_encoding))
    assert "returned None" in str(failure(lambda T, d_model: None, check_positional_encoding))
    assert "cannot be called as sinusoidal_positional_encoding(6, 8)" in str(
        failure(lambda T: torch.zeros(T, 4), check_positional_encoding))
    message = str(failure(lambda T, d_model: pe_numpy(T, d_model).numpy(),
                           check_positional_encoding))
    assert "numpy array" in message
    assert CHECKS["positional_encoding"] is POSITIONAL_ENCODING_CHECK


