"""The scaling experiment's figure: six labelled panels drawn from the result."""

import numpy as np

from attn_course.experiments.scaling import scaling_experiment
from attn_course.viz import plot_scaling


def test_scaling_plot_has_six_labelled_panels():
    result = scaling_experiment((4, 16, 64), n_samples=8, seed=0)
    fig = plot_scaling(result)
    assert len(fig.axes) == 6
    for ax in fig.axes:
        assert ax.get_title() and ax.get_ylabel() and "d_k" in ax.get_xlabel()
        assert ax.get_legend() is not None
    raw = fig.axes[0].get_lines()[0]
    np.testing.assert_allclose(raw.get_ydata(), result.var_unscaled)
    scaled_jacobian = fig.axes[3].get_lines()[1]
    np.testing.assert_allclose(scaled_jacobian.get_ydata(), result.jacobian_scaled)
    medians = fig.axes[4].get_lines()
    np.testing.assert_allclose(medians[0].get_ydata(), result.query_grad_median_unscaled)
    np.testing.assert_allclose(medians[1].get_ydata(), result.query_grad_median_scaled)
    np.testing.assert_allclose(medians[2].get_ydata(), result.query_grad_mean_unscaled)
    np.testing.assert_allclose(medians[3].get_ydata(), result.query_grad_mean_scaled)
    assert [line.get_label() for line in medians] == [
        "raw, median", "scaled, median", "raw, mean", "scaled, mean"
    ]
    assert fig.axes[4].get_yscale() == "log"
    share = fig.axes[5].get_lines()[0]
    np.testing.assert_allclose(share.get_ydata(), result.query_grad_small_unscaled)
    assert "0.01" in fig.axes[5].get_title()
    assert fig.get_suptitle()
