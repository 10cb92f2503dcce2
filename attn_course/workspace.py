"""The student's work folder: copies of the course notebooks that no tool overwrites.

``notebooks/`` is written by ``attn-course release``; students work in ``work/`` (git-ignored),
which ``attn-course lab`` (``make lab``) fills before opening the lab there:

- a notebook missing from ``work/`` is copied;
- a copy nobody has touched since it was copied (same bytes as recorded in
  ``work/.copied.json``) follows the course: it is replaced by the newer version;
- a copy with the student's work in it is never replaced: the newer version's path is named.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from attn_course.grading.results import atomic_write

WORK_DIR = "work"
RECORD = ".copied.json"  # in the work folder: {notebook name: sha256 of the copy as written}
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class Prepared:
    """What `prepare` did to the work folder."""

    copied: list[Path] = field(default_factory=list)  # new in the work folder
    updated: list[Path] = field(default_factory=list)  # untouched copies, replaced by newer ones
    kept: list[tuple[Path, Path]] = field(default_factory=list)  # (edited copy, newer version)

    def lines(self) -> list[str]:
        """What to tell the student, one line each."""
        out = [f"copied {p}" for p in self.copied]
        out += [f"updated {p} (you had not changed it; the course has a newer version)"
                for p in self.updated]  # fmt: skip
        out += [
            f"kept your {mine}: the course has a newer version at {theirs} "
            "(open it beside yours to take what changed)"
            for mine, theirs in self.kept
        ]
        return out


def read_record(work_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((Path(work_dir) / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def _write_record(work_dir: Path, record: dict[str, str]) -> None:
    atomic_write(Path(work_dir) / RECORD, json.dumps(dict(sorted(record.items())), indent=1) + "\n")


def _copy_new(src: Path, dest: Path) -> bool:
    """Copy `src` to `dest` only if `dest` does not exist (checked atomically). True if copied."""
    try:
        with open(dest, "xb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out)
    except FileExistsError:
        return False
    return True


def _replace(src: Path, dest: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare(notebooks_dir: Path, work_dir: Path) -> Prepared:
    """Bring the course notebooks into `work_dir` without ever replacing the student's work."""
    notebooks_dir, work_dir = Path(notebooks_dir), Path(work_dir)
    if not notebooks_dir.is_dir():
        raise FileNotFoundError(f"no course notebooks: {notebooks_dir}/ does not exist")
    work_dir.mkdir(parents=True, exist_ok=True)
    record = read_record(work_dir)
    done = Prepared()
    for src in sorted(notebooks_dir.glob(NOTEBOOK_GLOB)):
        dest = work_dir / src.name
        latest = sha256_of(src)
        if _copy_new(src, dest):
            record[src.name] = latest
            done.copied.append(dest)
            continue
        current = sha256_of(dest)
        if current == latest:
            record[src.name] = latest
        elif record.get(src.name) == current:  # untouched since copied: follow the course
            _replace(src, dest)
            record[src.name] = latest
            done.updated.append(dest)
        else:
            done.kept.append((dest, src))
    _write_record(work_dir, record)
    return done
