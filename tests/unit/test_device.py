"""Devices, seeds and tolerances; CUDA runs of the checks when a GPU is present."""

import random

import numpy as np
import pytest
import torch

from attn_course.checks import (
    CAUSAL_MASK_CHECK,
    SCALED_DOT_PRODUCT_ATTENTION_CHECK,
    SOFTMAX_CHECK,
    CheckFailed,
)
from attn_course.device import pick_device, seed_everything, tolerances
from attn_course.reference import scaled_dot_product_attention, softmax
from tests.unit.checks.students import sdpa_without_scale

SDPA = SCALED_DOT_PRODUCT_ATTENTION_CHECK



def test_pick_device_returns_an_available_device():
    dev = pick_device()
    assert isinstance(dev, torch.device)
    torch.ones(1, device=dev)  # usable
    if torch.cuda.is_available():
        assert dev.type == "cuda"
    assert pick_device("cpu") == torch.device("cpu")


def test_pick_device_falls_back_when_preferred_is_missing():
    if not torch.cuda.is_available():
        assert pick_device("cuda").type in ("mps", "cpu")


def test_seed_everything_reproduces_all_generators():
    def draw():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    g = seed_everything(123)
    first = (draw(), float(torch.rand(1, generator=g)))
    g = seed_everything(123)
    assert (draw(), float(torch.rand(1, generator=g))) == first
    with pytest.raises(TypeError, match="seed must be an int"):
        seed_everything(1.5)


def test_tolerances():
    assert tolerances(torch.float64) < tolerances(torch.float32) < tolerances(torch.float16)
    assert tolerances(torch.float32, "cuda") >= tolerances(torch.float32, "cpu")
    assert tolerances(torch.bool) == (0.0, 0.0) and tolerances(torch.int64) == (0.0, 0.0)
    with pytest.raises(TypeError, match="torch.dtype"):
        tolerances("float32")


def _judge(check, fn, device):
    cases = check.cases(0, device=device)
    return cases, check.run(fn, cases), check.judge(check.run(fn, cases), cases)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_checks_on_cuda_match_cpu():
    for check, fn in [(SDPA, scaled_dot_product_attention), (SOFTMAX_CHECK, softmax),
                      (CAUSAL_MASK_CHECK, CAUSAL_MASK_CHECK.oracle)]:
        cpu_cases, cpu_records, cpu_verdict = _judge(check, fn, "cpu")
        gpu_cases, gpu_records, gpu_verdict = _judge(check, fn, "cuda")
        assert cpu_verdict.passed and gpu_verdict.passed, gpu_verdict.message
        assert [c.name for c in cpu_cases] == [c.name for c in gpu_cases]
        for c, g in zip(cpu_records, gpu_records, strict=True):
            got = g.value.items if g.value.kind == "sequence" else [g.value]
            want = c.value.items if c.value.kind == "sequence" else [c.value]
            for a, b in zip(got, want, strict=True):
                assert a.shape == b.shape and a.dtype == b.dtype
                np.testing.assert_allclose(a.data, b.data, atol=1e-4, rtol=1e-3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_mistakes_are_named_and_wrong_device_is_reported():
    def to_cpu(q, k, v, mask=None):
        return tuple(t.cpu() for t in scaled_dot_product_attention(q, k, v, mask))

    *_, verdict = _judge(SDPA, sdpa_without_scale, "cuda")
    assert verdict.diagnosis.mistake == "no_scale"
    *_, verdict = _judge(SDPA, to_cpu, "cuda")
    assert "is on cpu, expected cuda" in verdict.message
    with pytest.raises(CheckFailed):
        verdict.result()
