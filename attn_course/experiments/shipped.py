"""Results shipped with the course: trained over seeds in parallel, stored one record a line.

    records = run_parallel(run_seed, jobs)                     # one process per job, 1 thread each
    write_results(path, {"format": 1, ...}, records)           # the file in attn_course/data/
    records = with_earlier(path, records, key)                 # --add: keep the runs not redone
    results = load_results("copy_memory_seeds.json")           # {..., "records": [...]}
    mean, sd = mean_sd([0.7, 0.8, 0.9])                        # (0.8, 0.1): the sample sd

The scripts in scripts/ write the files; the notebooks and the claims tests read them.
"""

from __future__ import annotations

import json
import math
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from importlib import resources
from pathlib import Path

import torch


def run_parallel(fn: Callable, jobs: Sequence[tuple], processes: int = 2) -> list:
    """[fn(*job) for job in jobs], in `processes` spawned processes of one torch thread each
    (training runs on a small CPU interfere less that way); results in the order of `jobs`."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max(1, processes), context, initializer=torch.set_num_threads, initargs=(1,)
    ) as pool:
        return list(pool.map(fn, *zip(*jobs, strict=True)))


def write_results(path: Path, header: dict, records: list[dict]) -> None:
    """The header's fields, then "records", one JSON record a line (readable diffs)."""
    head = json.dumps(header, indent=1)[:-2]
    lines = ",\n  ".join(json.dumps(r) for r in records)
    Path(path).write_text(f'{head},\n "records": [\n  {lines}\n ]\n}}\n')


def with_earlier(path: Path, records: list[dict], key: Callable[[dict], tuple]) -> list[dict]:
    """`records` plus the records already in the file at `path` (if any) whose key none of them
    has, sorted by key: a script's --add keeps the runs it did not redo."""
    path = Path(path)
    if path.is_file():
        new = {key(r) for r in records}
        old = json.loads(path.read_text())["records"]
        records = records + [r for r in old if key(r) not in new]
    return sorted(records, key=key)


def load_results(name: str) -> dict:
    """A shipped file of attn_course/data/ as a dict."""
    return json.loads(resources.files("attn_course").joinpath("data", name).read_text())


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1); sd 0 for a single value."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
