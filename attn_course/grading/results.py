"""Per-submission results on disk: written atomically, keyed by content, locked while graded.

    OUTDIR/results/<submission>.json   one file per submission, replaced atomically
    OUTDIR/.locks/<submission>.lock    held (fcntl) by the grader working on that submission

A result is reused when the submission's SHA-256 and the source's SHA-256 are unchanged, so a
rerun resumes where a killed run stopped, and two graders sharing an OUTDIR never grade the same
submission at once nor leave a half-written file.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from attn_course import __version__

FORMAT = 2  # 2: names from the whole path (alice+ps1+01), `file` an absolute path


@dataclass
class ItemResult:
    """One graded item of one submission. score is None while a manual item awaits grading."""

    grade_id: str
    kind: str
    max_score: float
    score: float | None
    status: str
    message: str = ""
    error: str = ""

    def __post_init__(self) -> None:
        self.message, self.error = printable(self.message), printable(self.error)


def printable(text: str, errors: str = "backslashreplace") -> str:
    """`text` with what no UTF-8 file or terminal can carry (lone surrogates, from a student's
    JSON or kernel) written as escapes (or as `errors` says, e.g. "replace": "?"): reports and
    the console never fail on it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors).decode("utf-8")
    except AttributeError:  # not a string
        return text
    return text


@dataclass
class SubmissionResult:
    submission: str
    file: str
    sha256: str
    source: str
    source_sha256: str
    status: str  # "graded", a problem with the file ("corrupt", ...), or "grader_error"
    message: str = ""
    items: list[ItemResult] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)  # written answers, for manual grading
    notes: list[str] = field(default_factory=list)
    sandbox: str = ""
    memory: str = ""  # the memory limit and what enforced it
    gpu: str = ""  # the device node of the GPU the submission had, if any
    seconds: float = 0.0
    graded_at: str = ""
    version: str = __version__

    def __post_init__(self) -> None:
        self.message = printable(self.message)
        self.notes = [printable(n) for n in self.notes]
        self.answers = {k: printable(v) for k, v in self.answers.items()}

    @property
    def cacheable(self) -> bool:
        """False when the grader, not the submission, failed: retried on the next run."""
        return self.status != "grader_error" and all(
            i.status != "grader_error" for i in self.items
        )

    def to_dict(self) -> dict:
        return {"format": FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> SubmissionResult:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError("not a result file of this version")
        d = dict(d)
        d.pop("format")
        items = [ItemResult(**i) for i in d.pop("items")]
        return cls(items=items, **d)


@dataclass(frozen=True)
class Totals:
    """A submission's points: `score` counts what is graded, `pending` the written answers (and
    their `pending_points`) still to be graded by hand."""

    score: float
    max_score: float
    pending: int
    pending_points: float


def totals(result: SubmissionResult) -> Totals:
    waiting = [i for i in result.items if i.score is None]
    return Totals(sum(i.score or 0.0 for i in result.items),
                  sum(i.max_score for i in result.items),
                  len(waiting), sum(i.max_score for i in waiting))


def reusable(result: SubmissionResult | None, sha256: str, source_sha256: str) -> bool:
    """Whether `result` stands for a file of this content graded against this source."""
    return (result is not None and result.sha256 == sha256
            and result.source_sha256 == source_sha256 and result.cacheable)


def grader_error_items(items, message: str) -> list[ItemResult]:
    """Every item of an assignment as failed by the grading machine (scored 0, written answers
    left unscored): not cached, so the next run grades the submission again."""
    return [ItemResult(i.grade_id, i.kind, i.points, None if i.kind == "manual" else 0.0,
                       "grader_error", message) for i in items]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def spreadsheet_safe(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: one that would start a formula (=, +, -, @, a
    tab, a carriage return, or their full-width forms) gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_csv(rows) -> str:
    """CSV text of `rows`, every cell made spreadsheet-safe."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    for row in rows:
        writer.writerow([spreadsheet_safe(v) for v in row])
    return buf.getvalue()


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never a part."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        # a student's text may hold lone surrogates (JSON's "\ud800"): written as escapes
        with open(tmp, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class Store:
    """The results folder of one OUTDIR."""

    def __init__(self, outdir: Path):
        self.outdir = Path(outdir)
        self.results = self.outdir / "results"
        self.locks = self.outdir / ".locks"

    def prepare(self) -> None:
        """Create the folders; raises OSError when OUTDIR is not usable."""
        for folder in (self.outdir, self.results, self.locks):
            folder.mkdir(parents=True, exist_ok=True)
        probe = self.locks / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()

    def path(self, name: str) -> Path:
        return self.results / f"{name}.json"

    def load(self, name: str) -> SubmissionResult | None:
        try:
            return SubmissionResult.from_dict(json.loads(self.path(name).read_text("utf-8")))
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def save(self, result: SubmissionResult) -> None:
        atomic_write(self.path(result.submission), json.dumps(result.to_dict(), indent=1))

    def cached(self, name: str, sha256: str, source_sha256: str) -> SubmissionResult | None:
        """The stored result if it was graded from the same file and the same source."""
        result = self.load(name)
        return result if reusable(result, sha256, source_sha256) else None

    def all(self) -> list[SubmissionResult]:
        out = []
        for path in sorted(self.results.glob("*.json")):
            result = self.load(path.stem)
            if result is not None:
                out.append(result)
        return out

    def lock(self, name: str, *, blocking: bool = False) -> Lock:
        return Lock(self.locks / f"{name}.lock", blocking=blocking)


class Lock:
    """An fcntl lock on a file, released when closed or when the process dies (even SIGKILL)."""

    def __init__(self, path: Path, *, blocking: bool = False):
        self.path = Path(path)
        self.blocking = blocking
        self._file = None

    def acquire(self) -> bool:
        f = open(self.path, "a")  # noqa: SIM115 - kept open while the lock is held
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if self.blocking else fcntl.LOCK_NB))
        except OSError:
            f.close()
            return False
        self._file = f
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Lock:
        if not self.acquire():
            raise BlockingIOError(f"{self.path} is locked")
        return self

    def __exit__(self, *exc) -> None:
        self.release()
