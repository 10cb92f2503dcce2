"""Reading a submitted file without trusting it: only the answer cells' text is kept.

Checksums, metadata, outputs, extra cells and edited instructions or tests are ignored. Whatever
the file is (corrupt JSON, an old nbformat, a PDF, a FIFO, 2 GB of outputs), the result is either
the answers or a status and a message saying what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

MAX_SUBMISSION_BYTES = 64 * 2**20


@dataclass
class Submission:
    """The answers of one file. `problem` is (status, message) when it cannot be graded."""

    path: Path
    sha256: str = ""
    answers: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problem: tuple[str, str] | None = None


def _read(path: Path, limit: int) -> tuple[bytes | None, str, tuple[str, str] | None]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        return None, "", ("unreadable", f"cannot open the file: {exc.strerror}")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, "", ("not_a_notebook", "not a regular file")
        digest = hashlib.sha256()
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
            else:
                chunks = []
    except OSError as exc:
        return None, "", ("unreadable", f"cannot read the file: {exc.strerror}")
    finally:
        os.close(fd)
    if size > limit:
        return None, digest.hexdigest(), (
            "too_large",
            f"the file is {size / 2**20:.1f} MiB, over the {limit / 2**20:.0f} MiB limit: clear "
            "the outputs (Edit → Clear Outputs of All Cells), save, and submit again",
        )
    return b"".join(chunks), digest.hexdigest(), None


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's content ("" if it cannot be read)."""
    return _read(Path(path), 2**62)[1]


def _text(source) -> str | None:
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    return None


def read_submission(path: str | Path, answer_ids: list[str],
                    max_bytes: int = MAX_SUBMISSION_BYTES) -> Submission:
    """The answers (grade_id -> text) of a submitted notebook, or a problem."""
    path = Path(path)
    data, digest, problem = _read(path, max_bytes)
    sub = Submission(path, digest)
    if problem is not None:
        sub.problem = problem
        return sub
    if not data.strip():
        sub.problem = ("empty", "the file is empty")
        return sub
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        sub.problem = ("not_a_notebook", "not a notebook: the file is not text (a PDF, an "
                                         "image or an archive?). Submit the .ipynb file")
        return sub
    if not text.lstrip("\ufeff \t\r\n").startswith("{"):
        sub.problem = ("not_a_notebook", "not a notebook: a notebook is a JSON file starting "
                                         "with '{'. Submit the .ipynb file itself")
        return sub
    try:
        nb = json.loads(text)
    except RecursionError:
        sub.problem = ("corrupt", "not a readable notebook: the JSON is nested too deeply")
        return sub
    except ValueError as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if hasattr(exc, "lineno") else ""
        sub.problem = ("corrupt", f"not a readable notebook: the JSON is broken{where}. Was it "
                                  "saved completely? Open it in Jupyter, fix it and save again")
        return sub
    if not isinstance(nb, dict) or "cells" not in nb and "worksheets" not in nb:
        sub.problem = ("not_a_notebook", "not a notebook: the JSON has no cells")
        return sub
    version = nb.get("nbformat")
    if version != 4:
        sub.problem = ("unsupported_format",
                       f"nbformat {version!r} is not supported (only nbformat 4): open the "
                       "notebook in a current Jupyter and save it again")
        return sub
    cells = nb.get("cells")
    if not isinstance(cells, list):
        sub.problem = ("corrupt", "not a readable notebook: 'cells' is not a list")
        return sub
    if not cells:
        sub.problem = ("empty", "the notebook has no cells")
        return sub
    wanted = set(answer_ids)
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        meta = cell.get("metadata")
        meta = meta.get("nbgrader") if isinstance(meta, dict) else None
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if not isinstance(grade_id, str) or grade_id not in wanted:
            continue
        source = _text(cell.get("source", ""))
        if source is None:
            sub.notes.append(f"cell {grade_id}: unreadable source, ignored")
            continue
        if grade_id in sub.answers:
            sub.notes.append(f"cell {grade_id} appears twice; the first one was graded")
            continue
        sub.answers[grade_id] = source
    if not sub.answers and answer_ids:
        sub.problem = ("wrong_notebook", "none of the answer cells of this assignment are in "
                                         "the notebook: is it the right notebook, and were the "
                                         "answer cells copied rather than edited in place?")
    return sub
