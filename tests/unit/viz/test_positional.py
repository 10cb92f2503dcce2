"""The positional-encoding figure: the encoding and the similarity of positions, labelled."""

import numpy as np
import pytest
import torch

from attn_course.reference import sinusoidal_positional_encoding
from attn_course.viz import plot_positional_encoding


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


def test_similarity_panel_is_the_cosine_of_positions():
    pe = sinusoidal_positional_encoding(10, 16, dtype=torch.float64)
    fig = plot_positional_encoding(pe)
    heat, sim = [ax for ax in fig.axes if ax.images]
    unit = pe / pe.norm(dim=-1, keepdim=True)
    np.testing.assert_allclose(sim.images[0].get_array(), (unit @ unit.T).numpy(), atol=1e-12)
    np.testing.assert_allclose(heat.images[0].get_array(), pe.numpy())
    assert sim.images[0].get_clim()[1] == 1
