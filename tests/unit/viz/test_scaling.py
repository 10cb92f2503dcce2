"""The scaling experiment's figure: four labelled panels drawn from the result."""

import numpy as np

from attn_course.experiments.scaling import scaling_experiment
from attn_course.viz import plot_scaling


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
