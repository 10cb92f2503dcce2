"""The sync check, ``attn-course release --check``: is ``notebooks/`` what release would write?"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from attn_course.authoring.release import RECORD, SOURCE_GLOB, planned_notebooks, record_text


@dataclass
class Difference:
    """One way ``notebooks/`` differs from what release would write."""

    path: Path
    reason: str
    diff: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def check_release(source_dir: Path, dest_dir: Path) -> list[Difference]:
    """List how ``dest_dir`` differs from what release would write (empty = in sync)."""
    dest_dir = Path(dest_dir)
    planned = planned_notebooks(source_dir, dest_dir)
    differences = []
    for path, text in planned.items():
        if not path.exists():
            differences.append(Difference(path, "missing"))
            continue
        current = path.read_text(encoding="utf-8")
        if current != text:
            diff = "".join(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    fromfile=f"{path} (committed)",
                    tofile=f"{path} (release would write)",
                    n=1,
                )
            )
            differences.append(Difference(path, "differs from its source", diff))
    for stale in sorted(set(dest_dir.glob(SOURCE_GLOB)) - set(planned)):
        differences.append(Difference(stale, "has no source notebook"))
    record = dest_dir / RECORD
    if not record.is_file():
        differences.append(Difference(record, "missing (release records what it wrote there)"))
    elif record.read_text(encoding="utf-8") != record_text(planned):
        differences.append(Difference(record, "does not record what release would write"))
    return differences
