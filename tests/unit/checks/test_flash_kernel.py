"""The Triton kernel check: kernels that stray past their tensors are caught, not crashed, the
verdicts name Triton's own mistakes (masks, strides), a plain function or a blank kernel says what
to do, and without Triton the check is skipped with how to get it. The kernels run in Triton's
interpreter here, compiled on a GPU (the `gpu` test)."""

from __future__ import annotations

import itertools
import linecache

import pytest
import torch

import attn_course.checks.flash_kernel as flash_kernel_module
from attn_course.checks import CheckFailed, CheckSkipped, check_flash_kernel
from attn_course.checks.flash_kernel import OutsideTheOutput, run_kernel
from attn_course.exercise import NOTE, try_student_checked
from attn_course.reference.flash import flash_attention_lse
from attn_course.reference.flash_triton import import_triton, reference_kernel, triton_available
from tests.grading.honest_answers import FLASH_KERNEL

pytestmark = pytest.mark.skipif(not triton_available()[0], reason=triton_available()[1])

HONEST = FLASH_KERNEL[0]  # pointers built once and moved along the key loop
_files = itertools.count()


def kernel_from(text: str):
    """The flash_kernel an answer cell's text defines (its source readable, as in a notebook)."""
    triton, tl = import_triton()
    filename = f"<kernel-{next(_files)}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    namespace = {"triton": triton, "tl": tl}
    exec(compile(text, filename, "exec"), namespace)
    return namespace["flash_kernel"]


def changed(*replacements: tuple[str, str]):
    text = HONEST
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return kernel_from(text)


def test_an_honest_kernel_passes_and_the_fences_keep_the_layout():
    kernel = kernel_from(HONEST)
    assert check_flash_kernel(kernel, seed=3).passed
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 40, 16, generator=g) for _ in range(3))
    strided = [t.transpose(1, 2).contiguous().transpose(1, 2) for t in (q, k, v)]
    out, lse = run_kernel(kernel, *strided, True, 16)
    want, want_lse = flash_attention_lse(q, k, v, True, 16)
    torch.testing.assert_close(out, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(lse, want_lse, atol=1e-5, rtol=1e-5)


def test_a_store_past_the_last_row_is_reported_not_written_over_memory():
    kernel = changed((", acc.to(O.dtype.element_ty), mask=offs_m[:, None] < N)",
                      ", acc.to(O.dtype.element_ty))"))
    q = torch.randn(1, 1, 20, 16)
    with pytest.raises(OutsideTheOutput, match="outside O: mask its tl.store"):
        run_kernel(kernel, q, q, q, False, 16)
    with pytest.raises(CheckFailed, match="stored values outside O"):
        check_flash_kernel(kernel)


def test_loads_without_masks_read_nan_and_the_verdict_says_mask_the_edges(named):
    kernel = changed(("q = tl.load(q_ptrs, mask=offs_m[:, None] < N, other=0.0)",
                      "q = tl.load(q_ptrs)"),
                     ("v = tl.load(v_ptrs, mask=(start_n + offs_n)[:, None] < M, other=0.0)",
                      "v = tl.load(v_ptrs)"))
    text = named(kernel, "edges_not_masked", check_flash_kernel)
    assert "NaN" in text and "mask every tl.load" in text


def test_addresses_from_a_layout_not_the_strides_are_named(named):
    kernel = changed((
        "off_b * sk_b + off_h * sk_h + offs_n[None, :] * sk_n + offs_d[:, None] * sk_d",
        "(off_b * H + off_h) * M * D + offs_n[None, :] * D + offs_d[:, None]"))
    text = named(kernel, "strides_ignored", check_flash_kernel)
    assert "stored (B, N, H, d)" in text and "from the strides" in text


def test_a_known_mistake_written_by_hand_is_named(named):
    kernel = changed(("acc = acc * corr[:, None] + tl.dot(p, v, input_precision=\"ieee\")",
                      "acc = acc + tl.dot(p, v, input_precision=\"ieee\")"))
    assert "alpha" in named(kernel, "acc_not_rescaled", check_flash_kernel)


def test_a_blank_kernel_and_a_plain_function_say_what_to_do(failure):
    head, _ = HONEST.split("    pid_m = ", 1)
    blank = kernel_from(head + "    # YOUR CODE HERE\n    raise NotImplementedError()\n")
    err = failure(blank, check_flash_kernel)
    assert err.verdict.diagnosis.title == "not implemented yet"
    plain = kernel_from(HONEST.replace("@triton.jit\n", ""))
    assert "put @triton.jit on the line above" in str(failure(plain, check_flash_kernel))


def test_the_demo_uses_a_kernel_once_it_passes(capsys):
    kernel = kernel_from(HONEST)
    assert try_student_checked(kernel, check_flash_kernel, fallback="reference") is kernel
    assert capsys.readouterr().out == ""
    broken = changed(("qk = qk * scale", "qk = qk"))
    assert try_student_checked(broken, check_flash_kernel, fallback="reference") == "reference"
    said = capsys.readouterr().out
    assert said.startswith(NOTE) and "does not pass its check yet" in said


def test_without_triton_the_check_is_skipped_and_says_how_to_get_it(monkeypatch):
    why = "Triton is not installed: pip install triton"
    monkeypatch.setattr(flash_kernel_module, "triton_available", lambda: (False, why))
    result = check_flash_kernel(lambda: None)
    assert isinstance(result, CheckSkipped) and not result.passed
    assert why in str(result) and "skipped" in result._repr_html_()
    fallback = try_student_checked(lambda: None, check_flash_kernel, fallback="reference")
    assert fallback == "reference"


def test_the_stand_ins_without_triton_define_the_cell_and_explain_the_rest(monkeypatch):
    import attn_course.reference.flash_triton as flash_triton

    monkeypatch.setattr(flash_triton, "triton_available", lambda: (False, "no Triton here"))
    triton, tl = flash_triton.import_triton()
    head, _ = HONEST.split("    pid_m = ", 1)
    namespace = {"triton": triton, "tl": tl}
    exec(head + "    return None\n", namespace)  # the answer cell still runs
    assert callable(namespace["flash_kernel"])
    with pytest.raises(RuntimeError, match="no Triton here"):
        tl.program_id(0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_the_gpu_the_check_compiles_and_adds_real_sizes(named):
    assert check_flash_kernel(reference_kernel()).passed
    assert check_flash_kernel(kernel_from(HONEST), seed=5).passed
    named(changed(("qk = qk * scale", "qk = qk")), "no_scale", check_flash_kernel)
