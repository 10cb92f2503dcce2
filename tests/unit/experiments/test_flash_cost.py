"""flash_cost: the naive attention's memory grows like N², the tiled one's does not."""

import json

import pytest

from attn_course.experiments.flash_cost import flash_cost
from attn_course.viz import plot_flash_cost


def test_flash_cost_measures_every_method_and_length():
    cost = flash_cost((64, 128, 256), heads=2, head_dim=16, block_size=32, min_run_time=0.01,
                      progress=False)
    json.dumps(cost)
    assert cost["seq_lens"] == [64, 128, 256]
    naive, flash = cost["memory_mib"]["naive"], cost["memory_mib"]["flash"]
    # naive holds two (H, N, N) float32 tensors at once: exactly, from the allocation count
    assert naive[-1] >= 2 * cost["scores_mib"][-1]
    assert naive[-1] / naive[0] > 10 and flash[-1] / flash[0] < 5
    assert all(t > 0 for ts in cost["time_ms"].values() for t in ts)
    fig = plot_flash_cost(cost, pyplot=False)
    left, right = fig.axes
    assert left.get_yscale() == "log" and left.get_title() and right.get_ylabel()
    labels = [t.get_text() for t in left.get_legend().get_texts()]
    assert any("naive" in t for t in labels) and any("score tensor" in t for t in labels)


def test_flash_cost_refuses_bad_lengths():
    with pytest.raises(ValueError, match="positive lengths"):
        flash_cost((0,), progress=False)
