"""try_student_module: the student's nn.Module with the reference's weights when it computes
the same, the reference module (with a note) otherwise."""

import math

import torch
import torch.nn as nn

from attn_course.exercise import NOTE, try_student_module
from attn_course.reference import MultiHeadSelfAttention


class StudentMHSA(nn.Module):
    """An independent, correct multi-head self-attention (no code shared with the reference)."""

    def __init__(self, d_model, num_heads, bias=True, scale=True):
        super().__init__()
        self.h, self.scale = num_heads, scale
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, mask=None, return_weights=False):
        B, T, D = x.shape
        d = D // self.h

        def heads(t):
            return t.reshape(B, T, self.h, d).permute(0, 2, 1, 3)

        q, k, v = heads(self.q_proj(x)), heads(self.k_proj(x)), heads(self.v_proj(x))
        scores = torch.einsum("bhid,bhjd->bhij", q, k)
        if self.scale:
            scores = scores / math.sqrt(d)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = scores.softmax(-1)
        out = self.out_proj(torch.einsum("bhij,bhjd->bihd", weights, v).reshape(B, T, D))
        return (out, weights) if return_weights else out


class Unscaled(StudentMHSA):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__(d_model, num_heads, bias, scale=False)


class Stub(nn.Module):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__()
        raise NotImplementedError()


class OtherNames(StudentMHSA):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__(d_model, num_heads, bias)
        self.proj_out = self.out_proj
        del self.out_proj


def test_a_correct_student_module_is_used_with_the_reference_weights(capsys):
    module = try_student_module(StudentMHSA, MultiHeadSelfAttention, d_model=16, num_heads=4)
    assert type(module) is StudentMHSA
    assert capsys.readouterr().out == ""
    torch.manual_seed(0)
    reference = MultiHeadSelfAttention(16, 4)
    for name, value in reference.state_dict().items():
        assert torch.equal(module.state_dict()[name], value), name
    x = torch.randn(3, 7, 16)
    assert torch.allclose(module(x), reference(x), atol=1e-6)


def test_the_seed_picks_the_weights():
    a = try_student_module(StudentMHSA, MultiHeadSelfAttention, 16, 4, seed=0)
    b = try_student_module(StudentMHSA, MultiHeadSelfAttention, 16, 4, seed=1)
    assert not torch.equal(a.q_proj.weight, b.q_proj.weight)


def test_a_stub_falls_back_to_the_reference_with_a_note(capsys):
    module = try_student_module(Stub, MultiHeadSelfAttention, d_model=16, num_heads=4)
    assert type(module) is MultiHeadSelfAttention
    assert capsys.readouterr().out == f"{NOTE}: `Stub` is not written yet.\n"


def test_a_wrong_result_falls_back(capsys):
    module = try_student_module(Unscaled, MultiHeadSelfAttention, d_model=16, num_heads=4)
    assert type(module) is MultiHeadSelfAttention
    assert "`Unscaled` gives a different result from the reference" in capsys.readouterr().out


def test_wrong_parameter_names_fall_back_and_say_why(capsys):
    module = try_student_module(OtherNames, MultiHeadSelfAttention, d_model=16, num_heads=4)
    assert type(module) is MultiHeadSelfAttention
    out = capsys.readouterr().out
    assert out.startswith(f"{NOTE}: `OtherNames` raised RuntimeError")
    assert out.count("\n") == 1  # one line, however long the error
    try_student_module(OtherNames, MultiHeadSelfAttention, 16, 4, quiet=True)
    assert capsys.readouterr().out == ""


def test_a_wrong_mask_handling_falls_back(capsys):
    class IgnoresMask(StudentMHSA):
        def forward(self, x, mask=None, return_weights=False):
            return super().forward(x, None, return_weights)

    module = try_student_module(IgnoresMask, MultiHeadSelfAttention, d_model=8, num_heads=2)
    assert type(module) is MultiHeadSelfAttention
    assert "different result" in capsys.readouterr().out


def test_the_returned_weights_are_compared_too(capsys):
    class AveragedWeights(StudentMHSA):
        def forward(self, x, mask=None, return_weights=False):
            out, weights = super().forward(x, mask, return_weights=True)
            return (out, weights.mean(1)) if return_weights else out

    class NoWeights(StudentMHSA):
        def forward(self, x, mask=None):
            return super().forward(x, mask)

    for cls in (AveragedWeights, NoWeights):
        module = try_student_module(cls, MultiHeadSelfAttention, d_model=8, num_heads=2)
        assert type(module) is MultiHeadSelfAttention
    out = capsys.readouterr().out
    assert "`AveragedWeights` gives a different result" in out
    assert "`NoWeights` raised TypeError" in out


def test_a_single_head_module_without_return_weights_is_used(capsys):
    from attn_course.reference import SelfAttention

    class StudentSA(nn.Module):
        def __init__(self, d_model, d_k, d_v=None, bias=False):
            super().__init__()
            self.q_proj = nn.Linear(d_model, d_k, bias=bias)
            self.k_proj = nn.Linear(d_model, d_k, bias=bias)
            self.v_proj = nn.Linear(d_model, d_v or d_k, bias=bias)

        def forward(self, x, mask=None):
            q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(-1)
            return weights @ v, weights

    module = try_student_module(StudentSA, SelfAttention, d_model=16, d_k=8, d_v=4)
    assert type(module) is StudentSA and capsys.readouterr().out == ""
    out, weights = module(torch.randn(1, 3, 16))
    assert out.shape == (1, 3, 4) and weights.shape == (1, 3, 3)
