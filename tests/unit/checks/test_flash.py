"""The flash attention checks: answers written differently pass, the flag hints point at the
case that fails, and the verdicts say what to change."""

import math

import pytest
import torch

from attn_course.checks import CheckFailed, check_flash_attention, check_online_softmax
from attn_course.exercise import try_student_function
from attn_course.reference import flash_attention_lse


def online_without_the_masked_guard(x, block_size):
    m = torch.full(x.shape[:-1], -math.inf, dtype=x.dtype)
    l = torch.zeros_like(m)
    for j in range(0, x.shape[-1], block_size):
        b = x[..., j:j + block_size]
        m_new = torch.maximum(m, b.amax(-1))
        l = l * torch.exp(m - m_new) + torch.exp(b - m_new[..., None]).sum(-1)
        m = m_new
    return torch.exp(x - m[..., None]) / l[..., None]


def test_a_first_block_of_minus_infinity_is_pointed_out():
    with pytest.raises(CheckFailed) as info:
        check_online_softmax(online_without_the_masked_guard)
    text = str(info.value)
    assert "the first block all -inf" in text and "nan" in text


def flash_bottom_right(q, k, v, causal, block_size):
    """Causal aligned to the last key (query i sees keys <= i + M - N): wrong when N != M."""
    N, M = q.shape[2], k.shape[2]
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        s = s.masked_fill(torch.ones(N, M, dtype=torch.bool).tril(M - N).logical_not(), -math.inf)
    return torch.exp(s - s.logsumexp(-1, keepdim=True)) @ v, s.logsumexp(-1)


def test_logsumexp_is_the_exercises_to_write():
    with pytest.raises(CheckFailed) as info:
        check_flash_attention(flash_bottom_right)
    assert "logsumexp" in str(info.value)


def test_try_student_function_returns_the_students_function_once_it_agrees(capsys):
    q = torch.randn(1, 1, 8, 4)
    assert try_student_function(flash_attention_lse, q, q, q, True, 4,
                                fallback=flash_attention_lse) is flash_attention_lse

    def unwritten(q, k, v, causal, block_size):
        raise NotImplementedError

    got = try_student_function(unwritten, q, q, q, True, 4, fallback=flash_attention_lse)
    assert got is flash_attention_lse
    assert "`unwritten` is not written yet" in capsys.readouterr().out
