"""The environment report: real versions, device detection, and problems that say what to do."""

import platform

import torch

from attn_course.environment import (
    MIN_PYTHON,
    REQUIRED,
    EnvironmentReport,
    detect_device,
    environment_report,
    find_problems,
)


def _public(version: str) -> str:
    return version.split("+", 1)[0]


def test_report_lists_python_packages_device_and_threads():
    report = environment_report()
    assert report.python == platform.python_version()
    assert set(report.packages) == set(REQUIRED)
    # torch.__version__ carries the build's local label (2.14.1+cu130, 2.13.0+cpu); the
    # distribution's metadata may not (PyPI's default wheel): compare the public versions
    assert _public(report.packages["torch"]) == _public(str(torch.__version__))
    assert report.torch_threads == torch.get_num_threads()
    assert report.cpu_count >= 1
    text = str(report)
    for label in ("Python", "torch", "numpy", "ipywidgets", "jupyterlab", "device", "threads"):
        assert label in text
    assert "<table>" in report._repr_html_()


def test_installed_environment_has_no_problems():
    report = environment_report()
    assert report.problems == [], report.problems
    assert report.ok
    assert "All set" in str(report)


def test_device_matches_torch():
    kind, name = detect_device()
    if torch.cuda.is_available():
        assert (kind, name) == ("cuda", torch.cuda.get_device_name(0))
    elif torch.backends.mps.is_available():
        assert kind == "mps"
    else:
        assert kind == "cpu" and name.startswith("CPU")


def test_old_and_missing_packages_are_problems_with_a_fix():
    problems = find_problems((3, 9), {"torch": "2.1.0", "ipywidgets": None, "numpy": "1.0"})
    assert len(problems) == 3
    python, torch_problem, widgets = problems
    need = ".".join(map(str, MIN_PYTHON))
    assert "Python 3.9" in python and f">= {need}" in python
    assert "torch 2.1.0 found" in torch_problem and "pip install -U 'torch>=2.2'" in torch_problem
    assert "ipywidgets is not installed" in widgets and "pip install" in widgets


def test_new_versions_and_local_builds_are_fine():
    assert find_problems((3, 12), {"torch": "2.13.0+cu126", "jupyterlab": "4.0.0rc1"}) == []


def test_problems_show_in_text_and_html():
    report = EnvironmentReport(
        python="3.9.0",
        packages={"torch": None},
        device="cpu",
        device_name="CPU (x86_64)",
        torch_threads=1,
        cpu_count=1,
        problems=["torch is not installed: run `pip install -e .`"],
    )
    assert not report.ok
    assert "problem: torch is not installed" in str(report)
    assert "not installed" in report._repr_html_() and "Problems" in report._repr_html_()
