"""Whatever a student's function does, the checker answers with CheckFailed and a clear message."""

import math
import sys
import warnings

import numpy as np
import pytest
import torch

from attn_course.checks import (
    CheckFailed,
    check_causal_mask,
    check_scaled_dot_product_attention,
    check_softmax,
)
from attn_course.reference import scaled_dot_product_attention as ref


def _failure(fn, check=check_scaled_dot_product_attention, **kw) -> str:
    with pytest.raises(CheckFailed) as info:
        check(fn, **kw)
    message = str(info.value)
    assert "Traceback" not in message
    assert "attn_course/checks" not in message and "attn_course\\checks" not in message
    return message


class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __float__(self):
        return 0.0

    def __len__(self):
        return 2


class SneakyTensor(torch.Tensor):
    """Claims to equal anything, under == and under torch's own comparisons."""

    def __eq__(self, other):
        return True

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal, torch.Tensor.allclose, torch.Tensor.equal):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


class BadMessage(Exception):
    def __str__(self):
        raise RuntimeError("no message for you")


def stub(q, k, v, mask=None):
    # YOUR CODE HERE
    raise NotImplementedError()


GARBAGE = [
    (stub, "not implemented yet: replace the `raise NotImplementedError()` line"),
    (lambda q, k, v, mask=None: None, "returned None"),
    (lambda q, k, v, mask=None: ref(q, k, v, mask)[0], "return out, weights"),
    (lambda q, k, v, mask=None: (*ref(q, k, v, mask), 0), "3 items; expected 2"),
    (lambda q, k, v, mask=None: tuple(t.detach().numpy() for t in ref(q, k, v, mask)),
     "numpy array"),
    (lambda q, k, v, mask=None: tuple(t.tolist() for t in ref(q, k, v, mask)), "a list"),
    (lambda q, k, v, mask=None: (ref(q, k, v, mask)[0][None], ref(q, k, v, mask)[1]),
     "extra leading dims"),
    (lambda q, k, v, mask=None: (ref(q, k, v, mask)[0], ref(q, k, v, mask)[1].mT),
     "transposed"),
    (lambda q, k, v, mask=None: tuple(torch.full_like(t, math.nan) for t in ref(q, k, v, mask)),
     "NaN"),
    (lambda q, k, v, mask=None: (AlwaysEqual(), AlwaysEqual()), "AlwaysEqual"),
    (lambda q, k, v, mask=None: tuple(torch.zeros_like(t).as_subclass(SneakyTensor)
                                      for t in ref(q, k, v, mask)), "values differ"),
    (lambda q, k, v, mask=None: (x for x in ref(q, k, v, mask)), "generator"),
    (lambda q, k, v, mask=None: {"out": 1}, "dict"),
    (lambda q, k, v, mask=None: 3.0, "Python float"),
    (lambda q, k, v: ref(q, k, v), "cannot be called as scaled_dot_product_attention(q, k, v"),
    (lambda q, k, v, mask=None: sys.exit(1), "exit()"),
    (lambda q, k, v, mask=None: (_ for _ in ()).throw(BadMessage()), "BadMessage"),
    (lambda q, k, v, mask=None: (ref(q, k, v, mask)[0], ref(q, k, v, mask)[1].to(torch.complex64)),
     "could not be read"),
]


@pytest.mark.parametrize(("fn", "keyword"), GARBAGE)
def test_garbage_gives_a_clear_verdict(fn, keyword):
    assert keyword in _failure(fn)


def test_exception_reports_type_message_and_student_line():
    def sdpa(q, k, v, mask=None):
        scores = q @ k.transpose(-2, -1)
        raise ValueError(f"oops {scores.shape[-1]}")

    message = _failure(sdpa)
    assert "ValueError: oops 4" in message
    assert 'raise ValueError(f"oops {scores.shape[-1]}")' in message
    assert "in sdpa" in message


@pytest.mark.parametrize("bad", [None, torch.ones(3), (1, 2), "softmax", 3])
def test_not_a_function(bad):
    for check in (check_softmax, check_scaled_dot_product_attention, check_causal_mask):
        message = _failure(bad, check)
        assert "Pass the function itself" in message


def test_printing_is_captured(capsys):
    def chatty(q, k, v, mask=None):
        for i in range(2000):
            print("debug line", i)
        print("to stderr", file=sys.stderr)
        return ref(q, k, v, mask)

    def chatty_and_wrong(q, k, v, mask=None):
        print("hello")
        return ref(q, k, v, None)

    assert check_scaled_dot_product_attention(chatty).passed
    assert "printed" in _failure(chatty_and_wrong)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_warnings_do_not_reach_stderr(capsys):
    def warns(q, k, v, mask=None):
        warnings.warn("careful", UserWarning, stacklevel=1)
        return ref(q, k, v, mask)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_scaled_dot_product_attention(warns).passed
    assert capsys.readouterr().err == ""


def test_keyboard_interrupt_is_not_swallowed():
    def interrupted(q, k, v, mask=None):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        check_scaled_dot_product_attention(interrupted)


def test_mask_modified_in_place_is_reported():
    def flips_mask(q, k, v, mask=None):
        if mask is not None:
            mask.logical_not_()
            mask.logical_not_()
            mask[..., 0] = True
        return ref(q, k, v, mask)

    assert "changed its input mask in place" in _failure(flips_mask)


def test_global_state_is_restored():
    def disables_grad(q, k, v, mask=None):
        torch.set_grad_enabled(False)
        return ref(q, k, v, mask)

    threads = torch.get_num_threads()
    with pytest.raises(CheckFailed, match="gradients do not reach"):
        check_scaled_dot_product_attention(disables_grad)
    assert torch.is_grad_enabled()
    assert torch.get_num_threads() == threads


def test_subclass_with_correct_values_is_judged_on_its_data():
    def subclass_out(q, k, v, mask=None):
        return tuple(t.as_subclass(SneakyTensor) for t in ref(q, k, v, mask))

    assert check_scaled_dot_product_attention(subclass_out).passed


def test_numpy_in_softmax_and_wrong_dtype_in_causal():
    assert "numpy array" in _failure(lambda x, dim=-1: np.exp(x.numpy()), check_softmax)
    assert "dtype=torch.bool" in _failure(lambda T: torch.ones(T, T).tril(), check_causal_mask)


def test_bad_seed_is_a_clear_error():
    with pytest.raises(TypeError, match="seed must be an int"):
        check_softmax(torch.softmax, seed="zero")
