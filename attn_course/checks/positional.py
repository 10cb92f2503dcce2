"""The check for the sinusoidal positional encoding.

    check_positional_encoding(fn, *, seed=0)
        fn(T, d_model) -> float32 (T, d_model): PE[pos, 2i] = sin(pos / 10000^(2i/d_model)),
        PE[pos, 2i + 1] = cos(the same angle); an odd d_model ends with a sin column.

The oracle is the reference in float64, cast to float32.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from attn_course.checks import draw as drawing
from attn_course.checks.check import Check
from attn_course.checks.mistakes import ExceptionHint, FlagHint, Mistake, fails_exactly_with
from attn_course.checks.records import Case, output_arrays
from attn_course.checks.results import CheckResult
from attn_course.device import tolerances
from attn_course.reference.positional import sinusoidal_positional_encoding

__all__ = ["POSITIONAL_ENCODING_CHECK", "check_positional_encoding", "positional_cases"]

F64, F32 = torch.float64, torch.float32


# --------------------------------------------------------------------------------------------
# sinusoidal_positional_encoding(T, d_model)
# --------------------------------------------------------------------------------------------
def positional_cases(seed: int = 0, *, device: str | torch.device = "cpu") -> list[Case]:
    """(T, d_model) pairs: even and odd widths, T < d, T > d, T = d, T = 1 (the seed does not
    change them: the encoding is deterministic)."""
    del device  # the function creates its own tensor on the CPU
    specs = [
        ("T=6, d_model=8", 6, 8, ()),
        ("T=10, d_model=16", 10, 16, ()),
        ("T=5, d_model=7 (odd)", 5, 7, ("odd",)),
        ("T=1, d_model=4", 1, 4, ("t1",)),
        ("T=12, d_model=6", 12, 6, ()),
        ("T=6, d_model=6", 6, 6, ("square",)),
        ("T=4, d_model=1 (odd: one sin column)", 4, 1, ("odd",)),
        ("T=8, d_model=9 (odd)", 8, 9, ("odd",)),
        ("T=32, d_model=32", 32, 32, ("square",)),
    ]
    return [_positional_case(seed, i, *spec) for i, spec in enumerate(specs)]


def _positional_case(seed, i, name, T, d, flags=()) -> Case:
    atol, rtol = tolerances(F32)
    return Case(
        name=name,
        inputs={"T": T, "d_model": d},
        shapes=((T, d),),
        tolerance=(max(atol, 2e-6 * T), rtol),  # float32 angles grow with the position
        description=f"expected float32 ({T}, {d}): sin in even columns, cos in odd ones",
        flags=frozenset(flags),
        key=f"positional:{seed}:{i}:{name}",
    )


def positional_draw(seed: int, *, start: int,
                    device: str | torch.device = "cpu") -> list[Case]:
    """Three (T, d_model) pairs drawn from `seed`, beyond the public ones (T up to 32,
    d_model up to 32): a long sequence (T 40-120) with an even width, one with an odd width
    (11-63), and a short one (T 2-5) wider than it is long (d_model 34-64)."""
    del device  # no tensor goes in
    g = drawing.generator(seed)
    pairs = [(drawing.integer(g, 40, 120), 2 * drawing.integer(g, 17, 32)),
             (drawing.integer(g, 40, 120), 2 * drawing.integer(g, 5, 31) + 1),
             (drawing.integer(g, 2, 5), drawing.integer(g, 34, 64))]
    cases = []
    for T, d in pairs:
        odd = d % 2 == 1
        name = f"drawn: T={T}, d_model={d}" + (" (odd)" if odd else "")
        cases.append(_positional_case(seed, start + len(cases), name, T, d,
                                      ("odd",) if odd else ()))
    return cases


# ---- the known mistakes' variants: the encoding with one bug each ---------------------------
def _angles(T, d_model, *, base=10000.0, first=0, width=None):
    """pos / base^(2i / width) for the pairs i: (T, ceil(d_model / 2)), float64."""
    pos = torch.arange(first, first + T, dtype=F64)[:, None]  # (T, 1)
    two_i = torch.arange(0, d_model, 2, dtype=F64)  # (ceil(d / 2),)
    return pos / base ** (two_i / (width or d_model))


def _interleave(sin, cos, d_model):
    """sin in the even columns, cos in the odd ones: (T, d_model), float64."""
    pe = torch.zeros(sin.shape[0], d_model, dtype=F64)
    pe[:, 0::2], pe[:, 1::2] = sin, cos
    return pe


def _encoding(angles, d_model, dtype=F32):
    """The encoding of these angles (T, ceil(d_model / 2)): (T, d_model)."""
    return _interleave(torch.sin(angles), torch.cos(angles[:, : d_model // 2]), d_model).to(dtype)


def sin_cos_swapped(T, d_model):
    a = _angles(T, d_model)
    return _interleave(torch.cos(a), torch.sin(a[:, : d_model // 2]), d_model).to(F32)


def sins_then_cosines(T, d_model):
    a = _angles(T, d_model)
    return torch.cat([torch.sin(a), torch.cos(a[:, : d_model // 2])], dim=-1).to(F32)


def cosines_then_sins(T, d_model):
    a = _angles(T, d_model)
    return torch.cat([torch.cos(a), torch.sin(a[:, : d_model // 2])], dim=-1).to(F32)


def exponent_i(T, d_model):
    pos = torch.arange(T, dtype=F64)[:, None]
    return _encoding(pos / 10000.0 ** (torch.arange(0, d_model, 2, dtype=F64) / 2 / d_model),
                     d_model)


def exponent_per_column(T, d_model):
    j = torch.arange(d_model, dtype=F64)
    angle = torch.arange(T, dtype=F64)[:, None] * 10000.0 ** (-j / d_model)  # (T, d_model)
    return torch.where(j % 2 == 0, torch.sin(angle), torch.cos(angle)).to(F32)


def frequency_inverted(T, d_model):
    pos = torch.arange(T, dtype=F64)[:, None]
    return _encoding(pos * 10000.0 ** (torch.arange(0, d_model, 2, dtype=F64) / d_model),
                     d_model)


def _with_base(base: float):
    def encoding_with_other_base(T, d_model):
        return _encoding(_angles(T, d_model, base=base), d_model)

    encoding_with_other_base.__name__ = f"base_{base:g}"
    return encoding_with_other_base


def positions_from_1(T, d_model):
    return _encoding(_angles(T, d_model, first=1), d_model)


def transposed(T, d_model):
    return _encoding(_angles(T, d_model), d_model).T


def odd_column_dropped(T, d_model):
    pe = _encoding(_angles(T, d_model), d_model)
    return pe[:, :-1] if d_model % 2 else pe


def odd_width_padded(T, d_model):
    width = d_model + 1 if d_model % 2 else d_model
    return _encoding(_angles(T, d_model, width=width), d_model)


def odd_unsupported(T, d_model):
    a = _angles(T, d_model)
    return _interleave(torch.sin(a), torch.cos(a), d_model).to(F32)  # odd d_model: a mismatch


def in_float64(T, d_model):
    return _encoding(_angles(T, d_model), d_model, dtype=F64)


POSITIONAL_ENCODING_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "sin_cos_swapped",
        "sin and cos are swapped: even columns must be sin, odd columns cos",
        "pe[:, 0::2] = torch.sin(angles); pe[:, 1::2] = torch.cos(angles)",
        (sin_cos_swapped,),
    ),
    Mistake(
        "concatenated",
        "all the sins come first and then all the cosines; the columns must interleave",
        "interleave them: pe[:, 0::2] = torch.sin(angles); pe[:, 1::2] = torch.cos(angles)",
        (sins_then_cosines, cosines_then_sins),
    ),
    Mistake(
        "exponent_i",
        "the exponent uses i instead of 2i: the frequencies fall half as fast",
        "the pair (2i, 2i + 1) uses 10000^(2i / d_model): "
        "torch.arange(0, d_model, 2) / d_model",
        (exponent_i,),
    ),
    Mistake(
        "exponent_column",
        "each column uses its own index j in the exponent: the cos column 2i + 1 must share "
        "the sin column's frequency 10000^(2i / d_model)",
        "compute the angles once per pair: pos / 10000 ** (torch.arange(0, d_model, 2) / "
        "d_model), then sin for even columns and cos for odd ones",
        (exponent_per_column,),
    ),
    Mistake(
        "frequency_inverted",
        "the position is multiplied by 10000^(2i/d_model) instead of divided",
        "angle = pos / 10000 ** (2i / d_model)",
        (frequency_inverted,),
        # the angles reach 1e5, where float32 sin/cos keep only about two digits
        detect=lambda records, cases, oracle, results: _roughly(frequency_inverted, 0.1,
                                                                records, cases, results),
    ),
    Mistake(
        "wrong_base",
        "the base is not 10000",
        "use 10000: angle = pos / 10000 ** (2i / d_model)",
        (_with_base(1000.0), _with_base(100000.0), _with_base(10.0), _with_base(math.e)),
    ),
    Mistake(
        "positions_from_1",
        "positions start at 1; they start at 0 (the first row is sin 0 = 0, cos 0 = 1)",
        "pos = torch.arange(T)",
        (positions_from_1,),
    ),
    Mistake(
        "transposed",
        "the result is (d_model, T); expected (T, d_model), one row per position",
        "return shape (T, d_model): positions in rows, features in columns",
        (transposed,),
    ),
    Mistake(
        "odd_dropped",
        "for odd d_model the last column (a sin) is missing",
        "an odd d_model ends with a sin column: compute ceil(d_model / 2) angles for the sin "
        "columns and the first d_model // 2 of them for the cos columns",
        (odd_column_dropped,),
    ),
    Mistake(
        "odd_padded_width",
        "for odd d_model the exponent uses d_model + 1",
        "use the real d_model in 2i / d_model, also when it is odd",
        (odd_width_padded,),
    ),
    Mistake(
        "odd_unsupported",
        "it fails only for odd d_model: there is one more sin column than cos columns",
        "pe[:, 0::2] = torch.sin(angles); pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])",
        (odd_unsupported,),
        detect=fails_exactly_with("odd"),
    ),
    Mistake(
        "float64",
        "the result is float64; expected float32",
        "build it in float32 (torch.arange(T, dtype=torch.float32)) or end with .float()",
        (in_float64,),
    ),
)


def _roughly(variant, atol: float, records, cases, results) -> bool:
    """Every failing case returned the variant's values within `atol` (a loose match)."""
    failing = [i for i, r in enumerate(results) if not r.passed]
    for i in failing:
        arrays = output_arrays(records[i], 1)
        want = variant(**cases[i].inputs).to(F64).numpy()
        if arrays is None or arrays[0].shape != want.shape:
            return False
        if not np.allclose(arrays[0], want, atol=atol, rtol=0):
            return False
    return bool(failing)


def _pe_dtype_hint(output: str, got: str, want: str) -> str:
    return ("return float32, torch's default float dtype: build positions with "
            "torch.arange(T, dtype=torch.float32) or end with .float()")


POSITIONAL_ENCODING_CHECK = Check(
    "sinusoidal_positional_encoding",
    check_function="check_positional_encoding",
    outputs=("pe",),
    signature="def sinusoidal_positional_encoding(T, d_model): ... return pe  # (T, d_model)",
    make_cases=positional_cases,
    draw=positional_draw,
    oracle=sinusoidal_positional_encoding,
    mistakes=POSITIONAL_ENCODING_MISTAKES,
    exception_hints=(
        ExceptionHint(r"must match the existing size|shape mismatch|could not broadcast",
                      "for odd d_model there is one more sin column than cos columns: "
                      "pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])"),
    ),
    flag_hints=(
        FlagHint(frozenset({"t1"}), "it fails only for T=1: keep the shape (1, d_model)"),
        FlagHint(frozenset({"square"}), "it fails only when T == d_model: rows are positions, "
                                        "columns features"),
    ),
    dtype_hint=_pe_dtype_hint,
)


def check_positional_encoding(fn, *, seed: int = 0) -> CheckResult:
    """Check `fn(T, d_model)` -> float32 (T, d_model) sinusoidal positional encoding. Raises
    CheckFailed naming the mistake, or returns a CheckResult."""
    __tracebackhide__ = True
    return POSITIONAL_ENCODING_CHECK.check(fn, seed=seed)
