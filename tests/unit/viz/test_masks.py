"""Masks as pictures: two colours with a legend, the course's axis names unless told otherwise."""

import numpy as np
import pytest
import torch

from attn_course.viz import mask_heatmap

TOKENS = ["the", "cat", "sat"]


def _image(fig):
    (ax,) = [a for a in fig.axes if a.images and a.get_label() != "<colorbar>"]
    return ax, ax.images[0]


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


def test_mask_heatmap_checks_its_labels_and_shape():
    with pytest.raises(ValueError, match="got 2 labels for 3 rows"):
        mask_heatmap(torch.ones(3, 3, dtype=torch.bool), ["a", "b"])
    with pytest.raises(ValueError, match=r"mask must be one 2-D map .*\(2, 3, 3\)"):
        mask_heatmap(torch.ones(2, 3, 3, dtype=torch.bool))
