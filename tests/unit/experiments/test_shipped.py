"""The shipped-results helpers: parallel runs keep their order, files round-trip, sample sd."""

import json
import math
from pathlib import Path

import pytest

from attn_course.experiments import shipped
from attn_course.experiments.shipped import (
    load_results,
    mean_sd,
    run_parallel,
    with_earlier,
    write_results,
)


def test_mean_sd_is_the_sample_sd():
    assert mean_sd([0.7, 0.8, 0.9]) == pytest.approx((0.8, 0.1))
    assert mean_sd([0.5]) == (0.5, 0.0)
    assert mean_sd([1, 3]) == pytest.approx((2, math.sqrt(2)))


def test_write_results_one_record_a_line(tmp_path):
    path = tmp_path / "r.json"
    records = [{"seed": 0, "accuracy": 0.5}, {"seed": 1, "accuracy": 0.75}]
    write_results(path, {"format": 1, "steps": 10}, records)
    text = path.read_text()
    assert json.loads(text) == {"format": 1, "steps": 10, "records": records}
    assert '  {"seed": 1, "accuracy": 0.75}\n' in text  # a diff shows which run changed


def test_every_shipped_file_is_written_as_write_results_writes_it(tmp_path):
    data = Path(shipped.__file__).resolve().parent.parent / "data"
    for name in ("copy_memory_seeds.json", "offset_recall_runs.json", "offsets_seeds_d64.json"):
        results = load_results(name)
        records = results.pop("records")
        write_results(tmp_path / name, results, records)
        assert (tmp_path / name).read_text() == (data / name).read_text(), name


@pytest.mark.slow
def test_run_parallel_returns_results_in_job_order():
    assert run_parallel(pow, [(2, 5), (3, 2), (10, 0)], processes=2) == [32, 9, 1]


def test_with_earlier_keeps_the_runs_not_redone(tmp_path):
    path = tmp_path / "r.json"
    key = lambda r: (r["seed"],)  # noqa: E731
    assert with_earlier(path, [{"seed": 2}, {"seed": 0}], key) == [{"seed": 0}, {"seed": 2}]
    write_results(path, {"format": 1}, [{"seed": 0, "a": 1}, {"seed": 1, "a": 1}])
    got = with_earlier(path, [{"seed": 1, "a": 2}, {"seed": 3, "a": 2}], key)
    assert got == [{"seed": 0, "a": 1}, {"seed": 1, "a": 2}, {"seed": 3, "a": 2}]
