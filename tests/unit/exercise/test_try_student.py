"""try_student: the student's result when it is right, the reference's (with a note) otherwise."""

import pytest
import torch

from attn_course.exercise import NOTE, try_student


def reference(x, dim=-1):
    return torch.softmax(x, dim=dim), x.sum()


def stub(x, dim=-1):
    raise NotImplementedError()


def wrong(x, dim=-1):
    return torch.softmax(x, dim=0), x.sum()


def crashes(x, dim=-1):
    raise IndexError("Dimension out of range\nlong traceback text")


X = torch.arange(6.0).reshape(2, 3)


def test_correct_student_result_is_returned_silently(capsys):
    def student(x, dim=-1):
        return torch.exp(x) / torch.exp(x).sum(dim, keepdim=True), x.sum()

    got = try_student(student, X, fallback=reference, dim=-1)
    assert capsys.readouterr().out == ""
    assert got[0] is not None and torch.allclose(got[0], reference(X)[0])


def test_stub_falls_back_with_a_note(capsys):
    got = try_student(stub, X, fallback=reference)
    assert torch.equal(got[0], reference(X)[0])
    assert capsys.readouterr().out == f"{NOTE}: `stub` is not written yet.\n"


def test_wrong_result_falls_back(capsys):
    got = try_student(wrong, X, fallback=reference)
    assert torch.equal(got[0], reference(X)[0])
    assert "`wrong` gives a different result from the reference" in capsys.readouterr().out


def test_error_names_the_exception_on_one_line(capsys):
    try_student(crashes, X, fallback=reference)
    out = capsys.readouterr().out
    assert out == f"{NOTE}: `crashes` raised IndexError: Dimension out of range.\n"


def test_wrong_shape_or_dtype_is_different(capsys):
    mask = torch.ones(3, 3, dtype=torch.bool).tril()
    try_student(lambda t: mask.int(), 3, fallback=lambda t: mask)
    try_student(lambda t: mask[:2], 3, fallback=lambda t: mask)
    assert capsys.readouterr().out.count("different result") == 2
    assert try_student(lambda t: mask.clone(), 3, fallback=lambda t: mask, quiet=True) is not mask


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_student_result_is_compared_with_a_cpu_reference(capsys):
    got = try_student(
        lambda x: torch.softmax(x.cuda(), -1), X, fallback=lambda x: torch.softmax(x, -1)
    )
    assert got.is_cuda and capsys.readouterr().out == ""
