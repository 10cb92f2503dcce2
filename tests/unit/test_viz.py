"""Heatmaps and the scaling plot: labelled axes, a colorbar, a fixed 0..1 colour scale."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from attn_course.experiments.scaling import scaling_experiment  # noqa: E402
from attn_course.viz import attention_heatmap, mask_heatmap, plot_scaling  # noqa: E402

TOKENS = ["the", "cat", "sat"]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _image(fig):
    (ax,) = [a for a in fig.axes if a.images and a.get_label() != "<colorbar>"]
    return ax, ax.images[0]


def test_heatmap_labels_axes_ticks_title_and_colorbar():
    weights = torch.softmax(torch.randn(3, 3, generator=torch.Generator().manual_seed(0)), -1)
    fig = attention_heatmap(weights, TOKENS, TOKENS, title="Self-attention")
    ax, image = _image(fig)
    assert ax.get_title() == "Self-attention"
    assert "key" in ax.get_xlabel() and "query" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == TOKENS
    assert [t.get_text() for t in ax.get_yticklabels()] == TOKENS
    assert image.colorbar is not None
    assert image.colorbar.ax.get_ylabel() == "attention weight"
    np.testing.assert_allclose(image.get_array(), weights.numpy(), rtol=1e-6)


def test_heatmap_colour_scale_is_fixed_to_0_1():
    fig = attention_heatmap(torch.full((2, 4), 0.25))
    _, image = _image(fig)
    assert image.get_clim() == (0.0, 1.0)
    # values outside 0..1 are clipped to the end colours, not rescaled
    fig = attention_heatmap(np.array([[-3.0, 0.0], [1.0, 7.0]]))
    _, image = _image(fig)
    assert image.get_clim() == (0.0, 1.0)
    norm = image.norm
    assert image.cmap(norm(-3.0)) == image.cmap(norm(0.0))
    assert image.cmap(norm(7.0)) == image.cmap(norm(1.0))


def test_small_maps_are_annotated_and_large_ones_are_not():
    fig = attention_heatmap(torch.eye(3))
    ax, _ = _image(fig)
    assert sorted(t.get_text() for t in ax.texts) == ["0.00"] * 6 + ["1.00"] * 3
    fig = attention_heatmap(torch.eye(11))
    ax, _ = _image(fig)
    assert len(ax.texts) == 0


def test_heatmap_accepts_batched_grad_tensors_and_draws_into_given_axes():
    weights = torch.rand(1, 1, 2, 5, requires_grad=True)
    fig, ax = plt.subplots()
    assert attention_heatmap(weights, ax=ax) is fig
    assert ax.images[0].get_array().shape == (2, 5)


def test_heatmap_bad_input_says_what_to_change():
    with pytest.raises(ValueError, match=r"one 2-D map .*shape \(2, 3, 3\).*weights\[0, h\]"):
        attention_heatmap(torch.rand(2, 3, 3))
    with pytest.raises(ValueError, match="got 2 labels for 3 queries"):
        attention_heatmap(torch.rand(3, 3), ["a", "b"], TOKENS)
    with pytest.raises(ValueError, match="got 4 labels for 3 keys"):
        attention_heatmap(torch.rand(3, 3), TOKENS, TOKENS + ["x"])
    with pytest.raises(TypeError, match="tensor or array of numbers"):
        attention_heatmap("not a tensor")


def test_mask_heatmap_two_colours_and_legend():
    mask = torch.ones(3, 3, dtype=torch.bool).tril()
    fig = mask_heatmap(mask, TOKENS, TOKENS, title="Causal mask")
    ax, image = _image(fig)
    assert ax.get_title() == "Causal mask"
    assert "key" in ax.get_xlabel() and "query" in ax.get_ylabel()
    legend = [t.get_text() for t in image.colorbar.ax.get_yticklabels()]
    assert legend == ["blocked\n(False)", "may attend\n(True)"]
    blocked, allowed = image.cmap(image.norm(0.0)), image.cmap(image.norm(1.0))
    assert blocked != allowed
    np.testing.assert_array_equal(image.get_array(), mask.float().numpy())


def test_mask_heatmap_custom_axis_names_and_non_boolean_rejected():
    fig = mask_heatmap(torch.tensor([[True, False]]), xlabel="position", ylabel="sequence")
    ax, _ = _image(fig)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("position", "sequence")
    with pytest.raises(ValueError, match="mask must be boolean"):
        mask_heatmap(torch.tensor([[0.5, 1.0]]))


def test_scaling_plot_has_four_labelled_panels():
    result = scaling_experiment((4, 16, 64), n_samples=8, seed=0)
    fig = plot_scaling(result)
    assert len(fig.axes) == 4
    for ax in fig.axes:
        assert ax.get_title() and ax.get_ylabel() and "d_k" in ax.get_xlabel()
        assert ax.get_legend() is not None
    raw = fig.axes[0].get_lines()[0]
    np.testing.assert_allclose(raw.get_ydata(), result.var_unscaled)
    scaled_jacobian = fig.axes[3].get_lines()[1]
    np.testing.assert_allclose(scaled_jacobian.get_ydata(), result.jacobian_scaled)
    assert fig.get_suptitle()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_heatmap_of_a_cuda_tensor():
    weights = torch.softmax(torch.randn(4, 4, device="cuda"), dim=-1)
    fig = attention_heatmap(weights)
    _, image = _image(fig)
    np.testing.assert_allclose(image.get_array(), weights.cpu().numpy(), rtol=1e-6)
