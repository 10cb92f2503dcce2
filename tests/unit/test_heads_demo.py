"""Demo code of the self-attention notebooks: student modules with reference weights, figures."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from attn_course.exercise import NOTE, try_student_module  # noqa: E402
from attn_course.heads_demo import (  # noqa: E402
    plot_head_split,
    plot_heads,
    plot_positional_encoding,
    token_embeddings,
)
from attn_course.reference import MultiHeadSelfAttention  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


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


def test_token_embeddings_give_equal_words_equal_vectors():
    tokens = ["the", "cat", "sat", "on", "the", "mat"]
    x = token_embeddings(tokens, d_model=8, seed=0)
    assert x.shape == (1, 6, 8) and x.dtype == torch.float32
    assert torch.equal(x[0, 0], x[0, 4])
    distinct = x[0, [0, 1, 2, 3, 5]]
    assert torch.cdist(distinct, distinct).fill_diagonal_(1.0).min() > 0.1
    assert torch.equal(x, token_embeddings(tokens, d_model=8, seed=0))
    assert not torch.equal(x, token_embeddings(tokens, d_model=8, seed=1))
    # a word's vector does not depend on where it stands
    shuffled = token_embeddings(list(reversed(tokens)), d_model=8, seed=0)
    assert torch.equal(shuffled[0].flip(0), x[0])


def test_positional_encoding_figure_is_labelled():
    pe = torch.sin(torch.arange(12.0)[:, None] * torch.arange(1.0, 9.0)[None, :] / 8)
    fig = plot_positional_encoding(pe)
    heat, sim = [ax for ax in fig.axes if ax.images]
    assert heat.get_xlabel().startswith("feature") and heat.get_ylabel() == "position t"
    assert heat.images[0].get_array().shape == (12, 8)
    assert sim.images[0].get_array().shape == (12, 12)
    assert heat.images[0].colorbar is not None and sim.images[0].colorbar is not None
    assert "T = 12, d_model = 8" in fig.get_suptitle()
    with pytest.raises(ValueError, match=r"\(T, d_model\)"):
        plot_positional_encoding(pe[None])


def test_head_split_figure_shows_each_head_its_slice():
    fig = plot_head_split(num_heads=3, d_model=12, seq_len=4)
    axes = fig.axes
    assert len(axes) == 4
    assert axes[0].get_title() == "x[b]: (T, d_model) = (4, 12)"
    assert [ax.get_xlabel() for ax in axes[1:]] == ["features 0–3", "features 4–7", "features 8–11"]
    head_1 = sorted({int(t.get_text()) for t in axes[2].texts})
    assert head_1 == [4, 5, 6, 7]
    with pytest.raises(ValueError, match="not divisible"):
        plot_head_split(num_heads=5, d_model=12)


def test_heads_grid_has_one_labelled_map_per_head():
    weights = torch.softmax(torch.randn(1, 6, 5, 5, generator=torch.Generator().manual_seed(0)), -1)
    fig = plot_heads(weights, list("abcde"), title="six heads")
    maps = [ax for ax in fig.axes if ax.images and ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in maps] == [f"head {h}" for h in range(6)]
    for h, ax in enumerate(maps):
        assert torch.allclose(torch.as_tensor(ax.images[0].get_array()), weights[0, h])
        assert ax.images[0].get_clim() == (0.0, 1.0)
        assert [t.get_text() for t in ax.get_xticklabels()] == list("abcde")
    assert any(ax.get_xlabel().startswith("key") for ax in maps)
    assert any(ax.get_ylabel().startswith("query") for ax in maps)
    assert fig.get_suptitle() == "six heads"
    with pytest.raises(ValueError, match="labels"):
        plot_heads(weights, list("abc"))
    with pytest.raises(ValueError, match="head titles"):
        plot_heads(weights, list("abcde"), head_titles=["one"])


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
