"""Running the student's function: prints, warnings, exceptions, in-place changes and global
state are captured or restored, and never hide the verdict."""

import sys
import warnings

import pytest
import torch

from attn_course.checks import (
    SCALED_DOT_PRODUCT_ATTENTION_CHECK,
    CheckFailed,
    check_scaled_dot_product_attention,
    check_softmax,
)
from tests.unit.checks.students import sdpa as ref

ATTENTION = SCALED_DOT_PRODUCT_ATTENTION_CHECK


def run_and_judge(fn):
    """The run and judge steps alone (the answer policy, read on the source, is not the subject:
    a student's answer may not use sys or warnings)."""
    cases = ATTENTION.cases()
    return ATTENTION.judge(ATTENTION.run(fn, cases), cases)


def test_printing_is_captured(capsys):
    def chatty(q, k, v, mask=None):
        for i in range(2000):
            print("debug line", i)
        print("to stderr", file=sys.stderr)
        return ref(q, k, v, mask)

    def chatty_and_wrong(q, k, v, mask=None):
        print("hello")
        return ref(q, k, v, None)

    assert run_and_judge(chatty).passed
    assert "printed" in run_and_judge(chatty_and_wrong).message
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_warnings_do_not_reach_stderr(capsys):
    def warns(q, k, v, mask=None):
        warnings.warn("careful", UserWarning, stacklevel=1)
        return ref(q, k, v, mask)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run_and_judge(warns).passed
    assert capsys.readouterr().err == ""


def test_keyboard_interrupt_is_not_swallowed():
    def interrupted(q, k, v, mask=None):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        check_scaled_dot_product_attention(interrupted)


def test_mask_modified_in_place_is_reported(message):
    def flips_mask(q, k, v, mask=None):
        if mask is not None:
            mask.logical_not_()
            mask.logical_not_()
            mask[..., 0] = True
        return ref(q, k, v, mask)

    text = message(flips_mask, check_scaled_dot_product_attention)
    assert "changed its input mask in place" in text


def test_global_state_is_restored():
    def disables_grad(q, k, v, mask=None):
        torch.set_grad_enabled(False)
        return ref(q, k, v, mask)

    threads = torch.get_num_threads()
    with pytest.raises(CheckFailed, match="gradients do not reach"):
        check_scaled_dot_product_attention(disables_grad)
    assert torch.is_grad_enabled()
    assert torch.get_num_threads() == threads


def test_bad_seed_is_a_clear_error():
    with pytest.raises(TypeError, match="seed must be an int"):
        check_softmax(torch.softmax, seed="zero")
