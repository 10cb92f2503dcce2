"""Notebook 07 quotes the shipped results; retraining them means rewriting those sentences.

Each mean ± sd, time and cache size the text and the model answer of
solutions/07_choosing_the_number_of_heads.ipynb state is recomputed here from
attn_course/data/heads_sweep.json.
"""

import pytest

from attn_course.experiments.heads_sweep import load_sweep, summarize
from tests.unit.experiments.notebook_text import notebook_text


@pytest.fixture(scope="module")
def text():
    return notebook_text("07_choosing_the_number_of_heads.ipynb")


@pytest.fixture(scope="module")
def rows():
    records = load_sweep()["records"]
    by = {t: {r["num_heads"]: r for r in summarize(
        [x for x in records if x["kind"] == "sweep" and x["task"] == t])}
        for t in ("offsets", "lookup")}
    by["gqa"] = {r["kv_heads"]: r for r in summarize(
        [x for x in records if x["kind"] == "gqa"], "kv_heads")}
    by["pruning"] = next(r["pruning"] for r in records
                         if r["task"] == "offsets" and "pruning" in r)
    return by


def pm(row):
    mean, sd = row["accuracy"]
    return f"{100 * mean:.1f} ± {100 * sd:.1f}%"


@pytest.mark.parametrize(("task", "heads"), [("offsets", 1), ("offsets", 2), ("offsets", 64),
                                              ("lookup", 1), ("lookup", 8), ("lookup", 16),
                                              ("lookup", 32)])
def test_the_sweep_accuracies_quoted_are_the_shipped_ones(text, rows, task, heads):
    assert pm(rows[task][heads]) in text


@pytest.mark.parametrize("kv_heads", [1, 2, 4, 8])
def test_the_kv_head_accuracies_quoted_are_the_shipped_ones(text, rows, kv_heads):
    assert pm(rows["gqa"][kv_heads]) in text


def test_the_step_times_and_cache_sizes_quoted_are_the_shipped_ones(text, rows):
    for heads in (1, 64):
        assert f"{1e3 * rows['offsets'][heads]['seconds_per_step'][0]:.1f} ms" in text
    assert f"from {rows['gqa'][8]['kv_cache_bytes']} to {rows['gqa'][1]['kv_cache_bytes']}" in text


def test_the_pruning_numbers_quoted_are_the_shipped_seeds(text, rows):
    curve = rows["pruning"]
    kept = [f"{100 * a:.0f}%" for a in curve["by_importance"][1:5]]
    assert (f"still scores {kept[0]}, with two {kept[1]}, with three {kept[2]} and with four "
            f"{kept[3]}") in text
    mean, sd = curve["random_mean"][2], curve["random_sd"][2]
    assert f"({100 * mean:.0f}% ± {100 * sd:.0f}%)" in text
