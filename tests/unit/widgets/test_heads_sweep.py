"""The heads-sweep explorer, kernel side: each control changes the numbers and the pictures,
a head count the other task lacks falls back to one it has, and pictures are drawn once."""

import pytest

from attn_course.experiments.heads_sweep import load_sweep
from attn_course.widgets import HeadsSweepExplorer


@pytest.fixture(scope="module")
def explorer():
    return HeadsSweepExplorer(task="lookup", num_heads=8)


def test_it_starts_with_the_shipped_runs_and_says_what_the_head_count_scored(explorer):
    assert explorer.num_heads.options == (1, 2, 4, 8, 16, 32)
    text = explorer.stats.value
    assert "8 heads</b> of size d = 4" in text and "96.5% ± 0.3%" in text and "best" in text
    assert bytes(explorer.plot.value).startswith(b"\x89PNG")
    assert bytes(explorer.maps_image.value).startswith(b"\x89PNG")


def test_the_slider_and_the_task_change_numbers_and_pictures(explorer):
    plot, maps = explorer.plot.value, explorer.maps_image.value
    explorer.num_heads.value = 32
    assert "size d = 1" in explorer.stats.value and "points below the best" in explorer.stats.value
    assert explorer.plot.value != plot and explorer.maps_image.value != maps
    explorer.task.value = "offsets"
    assert explorer.num_heads.value == 32 and "(width 64)" in explorer.stats.value
    explorer.num_heads.value = 64
    explorer.task.value = "lookup"  # no 64 heads at width 32: the largest it has
    assert explorer.num_heads.value == 32
    explorer.num_heads.value = 8
    assert explorer.plot.value == plot  # drawn once, kept


def test_records_passed_in_are_used_and_a_missing_task_is_refused():
    records = [r for r in load_sweep()["records"] if r["task"] == "offsets"]
    only = HeadsSweepExplorer(records, task="offsets", num_heads=4)
    assert [o[1] for o in only.task.options] == ["offsets"]
    with pytest.raises(ValueError, match="no runs of the task 'lookup'"):
        HeadsSweepExplorer(records, task="lookup")
