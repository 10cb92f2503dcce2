"""The package as pip builds it: licence metadata in the current form, the lab's files shipped."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import attn_course

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_license_is_an_spdx_expression_read_by_the_required_setuptools():
    """A TOML table (``license = {text = ...}``) is deprecated and makes setuptools warn; the
    SPDX string needs setuptools >= 77 (PEP 639)."""
    project = PYPROJECT["project"]
    assert isinstance(project["license"], str) and project["license"] == "MIT"
    assert all((ROOT / name).is_file() for name in project["license-files"])
    (setuptools,) = [r for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools")]
    floor = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", setuptools)
    assert floor and int(floor.group(1)) >= 77, setuptools


def test_the_labs_configuration_ships_with_the_package():
    package = Path(attn_course.__file__).parent
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["attn_course"]
    shipped = {p.relative_to(package).as_posix() for pattern in patterns
               for p in package.glob(pattern)}  # fmt: skip
    assert {"lab_config/jupyter_server_config.json",
            "lab_config/labconfig/page_config.json"} <= shipped  # fmt: skip
    assert (package / "lab_startup.py").is_file()


def test_readme_says_what_each_install_path_puts_on_disk():
    readme = (ROOT / "README.md").read_text()
    install = readme[readme.index("## Quick start"): readme.index("## What you will learn")]
    assert len(re.findall(r"\d+(?:\.\d+)? GB\s+in `\.venv`", install)) == 2, "default and CPU-only"
    assert "make cpu-torch" in install and 'make lab ARGS="' in install
    assert re.search(r"took \d+ s", install), "how long the install took"


def test_the_readme_figures_are_drawn_by_the_figures_script(tmp_path):
    import json
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    shown = set(re.findall(r"docs/figures/([\w.]+\.png)", readme))
    assert shown, "the README shows no figure from docs/figures/"
    subprocess.run([sys.executable, str(root / "scripts" / "figures.py"), "--out",
                    str(tmp_path)], check=True, capture_output=True, timeout=300)
    captions = json.loads((tmp_path / "captions.json").read_text())
    assert shown <= set(captions), shown - set(captions)
    for name in shown:
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
        assert (root / "docs" / "figures" / name).is_file(), f"run `make figures`: {name}"


def test_the_readme_screenshots_are_saved_by_the_browser_tests():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    shown = set(re.findall(r"docs/screenshots/([\w.]+\.png)", (root / "README.md").read_text()))
    assert {"head_explorer.png", "heads_sweep_explorer.png"} <= shown
    ui = " ".join(p.read_text() for p in (root / "tests" / "ui").glob("test_*.py"))
    for name in shown:
        assert f'"{name}"' in ui, f"no browser test saves {name} (make screenshots)"
        assert (root / "docs" / "screenshots" / name).read_bytes().startswith(b"\x89PNG")


def test_the_readme_results_are_the_kept_benchmark_output():
    """Every ratio and time in the README's measured column is in the kept output it cites."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    kept = re.search(r"\(benchmarks/results/(cpu_check-[\w-]+\.txt)\)", readme)
    assert kept, "the README cites no kept benchmark output"
    output = (root / "benchmarks" / "results" / kept.group(1)).read_text()
    table = readme[readme.index("| script | measures | goal | measured"):]
    table = table[:table.index("\n\n")]
    rows = [row.split(" | ")[-1] for row in table.splitlines()[2:]]
    numbers = [n for row in rows for n in re.findall(r"(\d+(?:\.\d+)?)(?:×| ms\b| s\b)", row)]
    assert len(numbers) >= 10
    for number in numbers:
        assert re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", output), number
