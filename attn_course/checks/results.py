"""What a check concludes: problems per case, the diagnosis, the verdict, and what the student sees.

    Problem     one thing wrong in one case ("shape", "dtype", "values", "raised", ...)
    CaseResult  a case's problems (none: the case passed)
    Diagnosis   the named mistake behind a failure, or the best generic explanation
    Verdict     every CaseResult, the diagnosis and the full message
    CheckResult a passed check: a green card in Jupyter, one line in a terminal
    CheckFailed a failed check: an AssertionError whose message says what to change
    CheckSkipped a check that cannot run here (what it needs is missing): a grey card and why
"""

from __future__ import annotations

import html
from dataclasses import dataclass

__all__ = ["CaseResult", "CheckFailed", "CheckResult", "CheckSkipped", "Diagnosis", "Problem",
           "Verdict"]

RED, RESET = "\x1b[1;31m", "\x1b[0m"  # ANSI: how Jupyter colours a traceback's header


class CheckFailed(AssertionError):
    """A check failed. The message says what is wrong and what to change.

    `verdict` holds the full `Verdict` (per-case problems, diagnosis) when available.
    """

    def __init__(self, message: str, verdict: Verdict | None = None):
        super().__init__(message)
        self.verdict = verdict

    def __reduce__(self):
        return (type(self), (str(self), self.verdict))

    def _render_traceback_(self) -> list[str]:
        """What IPython shows instead of a traceback: the verdict alone, in red.

        The package's own frames say nothing to a student; the message says what to change.
        The exception is still an AssertionError, so nbgrader, nbval and pytest see a failure.
        """
        lines = str(self).splitlines() or [""]
        return [f"{RED}✗ {lines[0]}{RESET}", *lines[1:]]


@dataclass(frozen=True)
class CheckResult:
    """A passed check: renders as a green card in Jupyter and one line in a terminal."""

    name: str
    cases: tuple[str, ...]

    passed = True

    def __bool__(self) -> bool:
        return True

    def __str__(self) -> str:
        n = len(self.cases)
        return f"✓ {self.name}: {n}/{n} cases passed"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        n = len(self.cases)
        items = " · ".join(f"{html.escape(c)} ✓" for c in self.cases)
        return (
            '<div class="attn-check attn-check-passed" style="border-left:4px solid #2e7d32;'
            "background:#f1f8e9;padding:6px 10px;margin:4px 0;border-radius:3px;"
            'font-family:system-ui,sans-serif;font-size:13px;line-height:1.4">'
            f'<span style="color:#2e7d32;font-weight:bold">✓ {html.escape(self.name)}</span>'
            f" — {n}/{n} cases passed"
            f'<div style="color:#555;font-size:12px">{items}</div></div>'
        )


@dataclass(frozen=True)
class CheckSkipped:
    """A check that cannot run on this machine: a grey card that says why, and how to fix it."""

    name: str
    why: str

    passed = False

    def __str__(self) -> str:
        return f"– {self.name}: skipped. {self.why}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return (
            '<div class="attn-check attn-check-skipped" style="border-left:4px solid #9e9e9e;'
            "background:#f5f5f5;padding:6px 10px;margin:4px 0;border-radius:3px;"
            'font-family:system-ui,sans-serif;font-size:13px;line-height:1.4">'
            f'<span style="color:#616161;font-weight:bold">– {html.escape(self.name)}</span>'
            f" — skipped: {html.escape(self.why)}</div>"
        )


@dataclass(frozen=True)
class Problem:
    """One thing wrong in one case. code: e.g. "shape", "dtype", "values", "raised"."""

    code: str
    message: str
    output: str | None = None


@dataclass(frozen=True)
class CaseResult:
    name: str
    problems: tuple[Problem, ...]

    @property
    def passed(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Diagnosis:
    """The named mistake (or best generic explanation) behind a failure.

    confidence: "match" (a known mistake reproduces every case), "partial" (it reproduces the
    first failing case and most others), "structural" (the same problem everywhere: a stub,
    None, one exception) or "generic" (no catalogue entry fits).
    """

    title: str
    fix: str = ""
    mistake: str | None = None
    confidence: str = "generic"
    hints: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    check: str
    results: tuple[CaseResult, ...]
    diagnosis: Diagnosis | None = None
    message: str = ""

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def n_passed(self) -> int:
        return sum(r.passed for r in self.results)

    def result(self) -> CheckResult:
        """The CheckResult for a passed verdict; raises CheckFailed otherwise."""
        __tracebackhide__ = True
        if not self.passed:
            raise CheckFailed(self.message, self)
        return CheckResult(self.check, tuple(r.name for r in self.results))
