"""What the course runs on: Python and package versions, the device torch will use, threads.

    >>> from attn_course.environment import environment_report
    >>> environment_report()          # a table in Jupyter, plain text with print()

`problems` lists what falls short of the course's needs, each with what to change.
"""

from __future__ import annotations

import html
import os
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata

# Distribution name -> minimum (major, minor) the course needs; None means "any version".
REQUIRED: dict[str, tuple[int, int] | None] = {
    "torch": (2, 2),
    "numpy": None,
    "matplotlib": None,
    "ipywidgets": (8, 0),
    "jupyterlab": (4, 0),
}
MIN_PYTHON = (3, 11)


@dataclass(frozen=True)
class EnvironmentReport:
    """Versions, device and threads, plus a list of problems (empty when all is well)."""

    python: str
    packages: dict[str, str | None]  # distribution -> version, None when not installed
    device: str  # "cuda", "mps" or "cpu"
    device_name: str  # e.g. "NVIDIA H100 80GB HBM3", "Apple MPS", "CPU (x86_64)"
    torch_threads: int
    cpu_count: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs in display order."""
        rows = [("Python", self.python)]
        rows += [(name, version or "not installed") for name, version in self.packages.items()]
        rows.append(("device", f"{self.device}: {self.device_name}"))
        rows.append(("threads", f"{self.torch_threads} torch threads, {self.cpu_count} CPU cores"))
        return rows

    def __str__(self) -> str:
        width = max(len(label) for label, _ in self.rows())
        lines = [f"{label:<{width}}  {value}" for label, value in self.rows()]
        if self.problems:
            lines.append("")
            lines += [f"problem: {p}" for p in self.problems]
        else:
            lines.append("\nAll set: everything the course needs is here.")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(label)}</th>"
            f"<td style='text-align:left'>{html.escape(value)}</td></tr>"
            for label, value in self.rows()
        )
        if self.problems:
            items = "".join(f"<li>{html.escape(p)}</li>" for p in self.problems)
            footer = f"<p style='color:#b00020'><b>Problems</b></p><ul>{items}</ul>"
        else:
            footer = "<p style='color:#1b7e3c'><b>All set:</b> everything the course needs.</p>"
        return f"<table>{cells}</table>{footer}"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _major_minor(version: str) -> tuple[int, int]:
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit()) or "0"
        parts.append(int(digits))
    while len(parts) < 2:
        parts.append(0)
    return parts[0], parts[1]


def detect_device() -> tuple[str, str]:
    """The device the course will use, as (kind, human-readable name): CUDA, then MPS, then CPU."""
    import torch

    from attn_course.device import pick_device

    kind = pick_device().type
    if kind == "cuda":
        return kind, torch.cuda.get_device_name(0)
    if kind == "mps":
        return kind, "Apple MPS"
    return kind, f"CPU ({platform.machine() or 'unknown'})"


def find_problems(python: tuple[int, int], packages: dict[str, str | None]) -> list[str]:
    """What falls short of `MIN_PYTHON` and `REQUIRED`, each as 'found X, need Y: do Z'."""
    problems = []
    if python < MIN_PYTHON:
        need = ".".join(map(str, MIN_PYTHON))
        problems.append(
            f"Python {python[0]}.{python[1]} found, the course needs Python >= {need}: "
            f"create the environment with a newer Python."
        )
    for name, version in packages.items():
        minimum = REQUIRED.get(name)
        if version is None:
            problems.append(f"{name} is not installed: run `pip install -e .` in the course root.")
        elif minimum is not None and _major_minor(version) < minimum:
            need = ".".join(map(str, minimum))
            problems.append(
                f"{name} {version} found, the course needs {name} >= {need}: "
                f"run `pip install -U '{name}>={need}'`."
            )
    return problems


def environment_report() -> EnvironmentReport:
    """Collect versions, device and thread counts; nothing is downloaded or changed."""
    import torch

    packages = {name: _version(name) for name in REQUIRED}
    device, device_name = detect_device()
    return EnvironmentReport(
        python=platform.python_version(),
        packages=packages,
        device=device,
        device_name=device_name,
        torch_threads=torch.get_num_threads(),
        cpu_count=os.cpu_count() or 1,
        problems=find_problems(sys.version_info[:2], packages),
    )
