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

from attn_course.grading.results import printable

MAX_SUBMISSION_BYTES = 64 * 2**20
MAX_ANSWER_CHARS = 2**20  # an answer cell's text (honest ones hold a few KB)


@dataclass
class Submission:
    """The answers of one file. `problem` is (status, message) when it cannot be graded."""

    path: Path
    sha256: str = ""
    answers: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problem: tuple[str, str] | None = None


def _read(path: Path, limit: int) -> tuple[bytes | None, str, tuple[str, str] | None]:
    """(the file's bytes, its digest, a problem). The size comes from fstat before anything is
    read, and no more than `limit` + 1 bytes are ever read: an 8 GiB file (sparse, or a FIFO
    that never ends) costs a stat, not 8 GiB of memory."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        return None, "", ("unreadable", f"cannot open the file: {exc.strerror}")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, "", ("not_a_notebook", "not a regular file")
        keep = info.st_size <= limit
        digest, data, size = _digest(fd, limit, keep=keep)
    except OSError as exc:
        return None, "", ("unreadable", f"cannot read the file: {exc.strerror}")
    finally:
        os.close(fd)
    if data is None or size > limit:  # over the limit, or it grew while it was read
        size = max(size, info.st_size)
        return None, digest, (
            "too_large",
            f"the file is {size / 2**20:.1f} MiB, over the {limit / 2**20:.0f} MiB limit: "
            "clear the outputs (Edit → Clear Outputs of All Cells), save, and submit again",
        )
    return data, digest, None


def _digest(fd: int, limit: int | None, *, keep: bool = False) -> tuple[str, bytes | None, int]:
    """(SHA-256, the bytes if `keep`, bytes read), reading at most `limit` + 1 bytes as a stream.

    A file longer than `limit` is identified by its first `limit` + 1 bytes and its size (what
    a cached result needs: a changed file gets another digest) and never read to its end.
    """
    digest, chunks, size = hashlib.sha256(), [], 0
    cap = None if limit is None else limit + 1
    while cap is None or size < cap:
        chunk = os.read(fd, 1 << 20 if cap is None else min(1 << 20, cap - size))
        if not chunk:
            break
        digest.update(chunk)
        if keep:
            chunks.append(chunk)
        size += len(chunk)
    if cap is not None and size >= cap:
        digest.update(f"\0and more, {os.fstat(fd).st_size} bytes in all".encode())
        return digest.hexdigest(), None, size
    return digest.hexdigest(), b"".join(chunks) if keep else None, size


def file_sha256(path: Path, limit: int | None = None) -> str:
    """The SHA-256 of a file's content, read as a stream ("" if it cannot be read); a file over
    `limit` bytes is identified as `read_submission` identifies it, without reading it all."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return ""
    try:
        return _digest(fd, limit)[0] if stat.S_ISREG(os.fstat(fd).st_mode) else ""
    except OSError:
        return ""
    finally:
        os.close(fd)


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
        if len(source) > MAX_ANSWER_CHARS:
            sub.problem = ("too_large", f"the answer cell {grade_id} holds "
                                        f"{len(source) / 2**20:.1f} MiB of text, over the "
                                        f"{MAX_ANSWER_CHARS // 2**20} MiB an answer may hold")
            return sub
        text = printable(source, "replace")  # runnable code: JSON's "\ud800" becomes "?"
        if text != source:
            sub.notes.append(f"cell {grade_id}: characters that are not valid text (lone "
                             "surrogates) were replaced by '?'")
        sub.answers[grade_id] = text
    if not sub.answers and answer_ids:
        sub.problem = ("wrong_notebook", "none of the answer cells of this assignment are in "
                                         "the notebook: is it the right notebook, and were the "
                                         "answer cells copied rather than edited in place?")
    return sub
