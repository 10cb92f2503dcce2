"""Notebook 04's claims about multi-offset recall hold over seeds, not just for one run.

Notebook 04 prints mean ± sd over the seeds shipped in attn_course/data/offsets_seeds_d64.json
(written by scripts/offsets_seeds.py) and states the claims below in its text and model answer.
These tests check that (1) every shipped seed satisfies each claim, (2) one shipped point
reproduces when trained again, and (3) the claims hold on seeds the shipped results did not use:
FRESH_SEEDS by default, or set ATTN_COURSE_CLAIM_SEEDS="5 17 23" to try others.
Each threshold sits beyond every shipped seed's value by several of their standard deviations,
so that a seed nobody chose passes too.
"""

import os
from pathlib import Path

import pytest
import torch

from attn_course.experiments.offsets import (
    MASS_COLUMNS,
    OFFSETS,
    load_seed_results,
    offset_mass,
    run_seed,
    seed_table,
    summarize,
)
from attn_course.experiments.shipped import run_parallel
from attn_course.reference.mha import divisors

FRESH_SEEDS = tuple(
    int(s) for s in os.environ.get("ATTN_COURSE_CLAIM_SEEDS", "101 202 303").split()
)

# The claims, as notebook 04 states them, checked per seed.
ONE_HEAD = {  # one blend: t-1 always, t-2 almost always, never all four everywhere
    "offset_1_min": 0.95,
    "offset_2_min": 0.8,
    "token_max": 0.97,
    "all_correct_max": 0.9,
}
ONE_HEAD_T1_MASS = (0.4, 0.65)  # "about half of its weight to t-1 on every seed", the largest share
TWO_HEADS_MIN = 0.95  # token accuracy with 2 heads ("about 98%")
TWO_HEADS_SECOND_SHARE = 0.08  # "each of them blends two or three offsets"
FOUR_HEADS_MIN = 0.99  # token accuracy with 4 heads (100% on every shipped seed)
FOUR_HEADS_TOP_TWO = 0.7  # each head: its two largest shares of t-1 .. t-4 together
FOUR_HEADS_COVER = 0.25  # each of t-1 .. t-4: its largest share in any head
DROP_64 = 0.005  # 64 heads (d = 1): token accuracy at least this far below 4 heads'


def check_one_head(record):
    seed = record["seed"]
    assert record["offset_1"] >= ONE_HEAD["offset_1_min"], seed
    assert record["offset_2"] >= ONE_HEAD["offset_2_min"], seed
    assert record["token_accuracy"] <= ONE_HEAD["token_max"], seed
    assert record["all_correct"] <= ONE_HEAD["all_correct_max"], seed
    mass = dict(zip(MASS_COLUMNS, record["mass"][0], strict=True))
    low, high = ONE_HEAD_T1_MASS
    assert low <= mass["t-1"] <= high, (seed, mass)
    assert mass["t-1"] == max(mass.values()), (seed, mass)


def check_two_heads(record):
    assert record["token_accuracy"] >= TWO_HEADS_MIN, record["seed"]
    # each head blends at least two of t-1 .. t-4 (the shipped seeds: second share >= 0.15)
    mass = torch.tensor(record["mass"])[:, 1 : 1 + len(OFFSETS)]  # (2, 4)
    second = mass.sort(-1, descending=True).values[:, 1]
    assert (second >= TWO_HEADS_SECOND_SHARE).all(), (record["seed"], mass)


def check_four_heads(record):
    assert record["token_accuracy"] >= FOUR_HEADS_MIN, record["seed"]
    # each head puts its weight on one offset of t-1 .. t-4, or splits it between two, and
    # every offset gets a large share of some head (shipped seeds: >= 0.85 and >= 0.5)
    mass = torch.tensor(record["mass"])[:, 1 : 1 + len(OFFSETS)]  # (4, 4): t-1 .. t-4
    top_two = mass.sort(-1, descending=True).values[:, :2].sum(-1)  # (4,)
    assert (top_two >= FOUR_HEADS_TOP_TWO).all(), (record["seed"], mass)
    assert (mass.max(0).values >= FOUR_HEADS_COVER).all(), (record["seed"], mass)


def by_heads(records, num_heads):
    return [r for r in records if r["num_heads"] == num_heads]


# --- (1) the shipped results -----------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    return load_seed_results()


def test_shipped_results_cover_every_head_count_over_seeds(shipped):
    assert shipped["d_model"] == 64 and shipped["steps"] == 1000
    seeds = {int(h): s for h, s in shipped["seeds"].items()}
    assert sorted(seeds) == divisors(64)
    assert all(len(s) >= 8 for s in seeds.values()) and len(seeds[1]) >= 16
    assert not set(FRESH_SEEDS) & {s for ss in seeds.values() for s in ss}
    pairs = {(r["num_heads"], r["seed"]) for r in shipped["records"]}
    assert pairs == {(h, s) for h, ss in seeds.items() for s in ss}
    for r in shipped["records"]:
        assert len(r["mass"]) == r["num_heads"] and len(r["mass"][0]) == len(MASS_COLUMNS)
        assert all(abs(sum(row) - 1) < 1e-3 for row in r["mass"])


def test_shipped_seed_0_is_the_shipped_model(shipped):
    from attn_course.experiments.offsets import load_payload

    for h in (1, 4):
        (record,) = [r for r in by_heads(shipped["records"], h) if r["seed"] == 0]
        final = load_payload(64, h)["final"]
        assert record["token_accuracy"] == pytest.approx(final["token_accuracy"], abs=1e-5)


def test_every_shipped_seed_supports_the_claims(shipped):
    records = shipped["records"]
    for r in by_heads(records, 1):
        check_one_head(r)
    for r in by_heads(records, 2):
        check_two_heads(r)
    for r in by_heads(records, 4):
        check_four_heads(r)
    worst_middle = min(r["token_accuracy"] for h in (4, 8, 16, 32) for r in by_heads(records, h))
    best_64 = max(r["token_accuracy"] for r in by_heads(records, 64))
    assert best_64 < worst_middle - DROP_64  # the notebook: no 64-head seed reaches 4..32 heads


def test_seed_table_prints_mean_and_sd(shipped):
    table = seed_table(shipped["records"])
    lines = table.splitlines()
    assert len(lines) == 1 + len(divisors(64))
    assert "t-4" in lines[0] and "±" in lines[1]
    summary = summarize(shipped["records"])
    mean, sd = summary[1]["token_accuracy"]
    assert f"{mean:.1%} ± {sd:.1%}" in lines[1]
    assert summary[1]["seeds"] == shipped["seeds"]["1"]


def test_summarize_uses_the_sample_sd():
    records = [
        {
            "num_heads": 1,
            "seed": s,
            "token_accuracy": a,
            "all_correct": 0.0,
            **{f"offset_{k}": a for k in OFFSETS},
            "mass": [[0, 1, 0, 0, 0, 0]],
        }
        for s, a in enumerate([0.7, 0.8, 0.9])
    ]
    row = summarize(records)[1]
    assert row["token_accuracy"] == pytest.approx((0.8, 0.1))
    assert row["mass"][0] == [[0, 1, 0, 0, 0, 0]] and row["mass"][1] == [[0.0] * 6]


def test_offset_mass_rows_sum_to_one_and_find_a_previous_token_head():
    from attn_course.experiments.offsets import pretrained

    mass = offset_mass(pretrained(64, 4), n=32)
    assert mass.shape == (4, len(MASS_COLUMNS))
    torch.testing.assert_close(mass.sum(-1), torch.ones(4), atol=1e-4, rtol=0)
    assert mass[:, 1].max() > 0.8  # one head looks at t-1


def test_the_explorers_two_heads_each_blend_three_offsets():
    from attn_course.experiments.offsets import pretrained

    mass = offset_mass(pretrained(64, 2))[:, 1 : 1 + len(OFFSETS)]  # (2, 4): t-1 .. t-4
    assert ((mass >= 0.1).sum(-1) == 3).all()  # three offsets each
    assert (mass.max(-1).values >= 0.4).all()  # one of them with a large share


# --- (2) reproduce one shipped point, (3) fresh seeds ----------------------------------------


def _heads_in_order(mass):
    """(H, 6) -> the same rows ordered by the offset each head looks at most, then by its share."""
    rows = torch.tensor(mass)
    order = sorted(range(len(rows)), key=lambda h: (int(rows[h].argmax()), -float(rows[h].max())))
    return rows[order]


@pytest.mark.slow
def test_a_shipped_point_reproduces(shipped):
    # two heads: every seed lands within a few tenths of a point (97.8-98.1%, seed 0 aside), so
    # a run on another CPU, whose rounding may steer training elsewhere, still compares
    (expected,) = [r for r in by_heads(shipped["records"], 2) if r["seed"] == 5]
    got = run_seed(64, 2, seed=5)
    for key in ("token_accuracy", "all_correct", *(f"offset_{k}" for k in OFFSETS)):
        assert got[key] == pytest.approx(expected[key], abs=0.01), key
    torch.testing.assert_close(
        _heads_in_order(got["mass"]), _heads_in_order(expected["mass"]), atol=0.05, rtol=0
    )


@pytest.fixture(scope="module")
def fresh():
    """Train H = 1, 2, 4, 64 on FRESH_SEEDS: 12 runs, in parallel processes of one thread each."""
    jobs = [(64, h, seed) for h in (64, 1, 2, 4) for seed in FRESH_SEEDS]  # slowest first
    records = run_parallel(run_seed, jobs, processes=min(4, os.cpu_count() or 1))
    return {h: [r for r in records if r["num_heads"] == h] for h in (1, 2, 4, 64)}


@pytest.mark.slow
def test_one_head_claims_hold_on_fresh_seeds(fresh):
    assert len(fresh[1]) >= 3
    for r in fresh[1]:
        check_one_head(r)


@pytest.mark.slow
def test_two_heads_claims_hold_on_fresh_seeds(fresh):
    for r in fresh[2]:
        check_two_heads(r)


@pytest.mark.slow
def test_four_heads_claims_hold_on_fresh_seeds(fresh):
    for r in fresh[4]:
        check_four_heads(r)


@pytest.mark.slow
def test_64_heads_drop_on_fresh_seeds(fresh):
    mean = {h: sum(r["token_accuracy"] for r in rs) / len(rs) for h, rs in fresh.items()}
    assert mean[64] < mean[4] - DROP_64


def test_notebook_04_states_the_shipped_numbers(shipped):
    """The text quotes the shipped means ± sd; retraining means rewriting those sentences."""
    import nbformat

    path = Path(__file__).resolve().parents[3] / "solutions" / "04_multi_head_attention.ipynb"
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    summary = summarize(shipped["records"])

    def pm(h, key):
        mean, sd = summary[h][key]
        return f"{100 * mean:.1f} ± {100 * sd:.1f}%"

    for h, key in [(1, "token_accuracy"), (1, "offset_1"), (1, "offset_2"), (2, "token_accuracy")]:
        assert pm(h, key) in text, (h, key, pm(h, key))
    assert pm(64, "token_accuracy") in text
    mean, sd = summary[1]["offset_4"]
    assert f"{100 * mean:.0f} ± {100 * sd:.0f}%" in text
    assert f"{summary[1]['mass'][0][0][1]:.2f} ± {summary[1]['mass'][1][0][1]:.2f}" in text
