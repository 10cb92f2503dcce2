"""Test cells as probes: check calls run in the kernel, verdicts are reached outside it.

A test cell such as

    check_softmax(softmax, seed=7)
    check_softmax(softmax)

is parsed with `ast`. Each top-level call ``check_<name>(<target>, **literal options)`` whose
name is in `attn_course.checks.CHECKS` becomes a probe: in the kernel it only *records* what the
student's function returns (see `kernel_probe`); the grader reads the records back (JSON,
size-capped, validated) and judges them against the oracle on cases it generated itself.
Other statements of the cell run as they are; the cell then also needs the kernel's reply
to be "ok" (a weaker guarantee: kernel-side code can fake that reply).
"""

from __future__ import annotations

import ast
import json
import os
import secrets
import stat
import threading
from dataclasses import dataclass, field

from attn_course.checks import CHECKS
from attn_course.checks.records import Case, Record, Value

MAX_RESULT_BYTES = 16 * 2**20


@dataclass(frozen=True)
class Probe:
    """One check call: which check, on what target expression, with which options."""

    check: str
    target: str
    options: dict
    filename: str = ""
    hidden: bool = False  # inside BEGIN/END HIDDEN TESTS

    @property
    def label(self) -> str:
        return "hidden test" if self.hidden else "test"


@dataclass
class TestPlan:
    """How one test cell runs: the code sent to the kernel and the probes it writes."""

    code: str
    probes: list[Probe] = field(default_factory=list)
    kernel_judged: bool = False  # has statements that are not probes
    reason: str = ""  # why, naming the first such statement


def _check_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        name = func.id
    elif isinstance(func, ast.Attribute):
        name = func.attr
    else:
        return None
    if name.startswith("check_") and name[len("check_"):] in CHECKS:
        return name[len("check_"):]
    return None


_cases_cache: dict[tuple, list[Case]] = {}
# Checks keep caches and change torch's thread count while they work: one judge at a time.
_JUDGE_LOCK = threading.RLock()


def cases_for(probe: Probe) -> list[Case]:
    """The grader's own cases for a probe (cached: they are deterministic)."""
    key = (probe.check, json.dumps(probe.options, sort_keys=True))
    with _JUDGE_LOCK:
        if key not in _cases_cache:
            _cases_cache[key] = CHECKS[probe.check].cases(**probe.options)
        return _cases_cache[key]


def _as_probe(stmt: ast.stmt, source: str) -> Probe | None:
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return None
    call = stmt.value
    name = _check_name(call.func)
    if name is None or len(call.args) != 1 or isinstance(call.args[0], ast.Starred):
        return None
    options = {}
    for kw in call.keywords:
        if kw.arg is None:
            return None
        try:
            options[kw.arg] = ast.literal_eval(kw.value)
        except Exception:  # not a literal: the call cannot be replayed outside the kernel
            return None
    target = ast.get_source_segment(source, call.args[0]) or ast.unparse(call.args[0])
    probe = Probe(name, target, options)
    try:
        json.dumps(options)
        cases_for(probe)
    except Exception:  # options this check does not take: run the call as written
        return None
    return probe


def _hidden_lines(source: str) -> set[int]:
    """Line numbers (1-based) between BEGIN HIDDEN TESTS and END HIDDEN TESTS."""
    inside, out = False, set()
    for number, line in enumerate(source.splitlines(), start=1):
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "END HIDDEN TESTS" in line:
            inside = False
        elif inside:
            out.add(number)
    return out


def plan_test_cell(source: str, directory: str) -> TestPlan:
    """Rewrite a test cell: probes for check calls, other statements unchanged."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # e.g. IPython magics: run as written, judged by the kernel's reply
        return TestPlan(source, [], kernel_judged=bool(source.strip()),
                        reason="it is not plain Python (an IPython magic?)")
    hidden_lines = _hidden_lines(source)
    lines: list[str] = []
    probes: list[Probe] = []
    judged, reason = False, ""
    for stmt in tree.body:
        probe = _as_probe(stmt, source)
        if probe is None:
            text = ast.get_source_segment(source, stmt) or ast.unparse(stmt)
            if not judged:
                reason = f"line {stmt.lineno}, `{text.splitlines()[0][:80]}`, is not a check call"
            judged = True
            lines.append(text)
            continue
        probe = Probe(probe.check, probe.target, probe.options,
                      f"probe-{secrets.token_hex(8)}.json", stmt.lineno in hidden_lines)
        probes.append(probe)
        lines.append(
            '__import__("attn_course.grading.kernel_probe", fromlist=["probe"]).probe('
            f"{directory!r}, {probe.filename!r}, {probe.check!r}, lambda: ({probe.target}), "
            f"{probe.options!r})"
        )
    return TestPlan("\n".join(lines) + "\n", probes, judged, reason)


# --------------------------------------------------------------------------------------------
# Reading results back (everything in the file is untrusted)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeOutcome:
    passed: bool
    message: str
    error: str = ""  # the student's error, when the target could not even be found
    hidden: bool = False


def read_result(dir_fd: int, filename: str, limit: int = MAX_RESULT_BYTES) -> dict | str:
    """The probe's JSON as a dict, or a reason string. Never follows links or blocks."""
    try:
        fd = os.open(filename, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "unreadable"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "unreadable"
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            return "too large"
    finally:
        os.close(fd)
    try:
        data = json.loads(b"".join(chunks).decode("utf-8"))
    except (ValueError, RecursionError):
        return "malformed"
    return data if isinstance(data, dict) else "malformed"


def _check_value(value: Value | None) -> None:
    """A tensor must carry its values, in the shape it claims (else judging could skip the
    comparison or broadcast)."""
    if value is None:
        return
    if value.kind == "tensor" and value.data is None:
        raise ValueError("a tensor without its values")  # judging would skip the comparison
    if value.data is not None:
        if value.kind not in ("tensor", "ndarray", "scalar"):
            raise ValueError("data on a value that cannot hold any")
        if value.shape is None or tuple(value.data.shape) != tuple(value.shape):
            raise ValueError("data does not have the shape the value claims")
    for item in value.items:
        _check_value(item)


def _records(data: dict, cases: list[Case]) -> list[Record]:
    raw = data.get("records")
    if not isinstance(raw, list) or len(raw) != len(cases):
        raise ValueError("wrong number of records")
    records = [Record.from_dict(r) for r in raw]
    for record, case in zip(records, cases, strict=True):
        if record.case != case.name:
            raise ValueError("records out of order")
        _check_value(record.value)
        for grad in record.grads.values():
            if not isinstance(grad, str):
                _check_value(grad)
    return records


def judge_probe(probe: Probe, data: dict | str) -> ProbeOutcome:
    """Turn what the kernel wrote into a verdict, judged here against the grader's cases."""
    outcome = _judge(probe, data)
    return ProbeOutcome(outcome.passed, outcome.message, outcome.error, probe.hidden)


def _judge(probe: Probe, data: dict | str) -> ProbeOutcome:
    name = probe.check
    if isinstance(data, str):
        return ProbeOutcome(False, f"{name}: the check produced no result ({data}): the cell "
                                   "was interrupted or the kernel stopped")
    status = data.get("status")
    error = data.get("error") if isinstance(data.get("error"), dict) else {}
    etype, emsg = str(error.get("type_name", "?"))[:100], str(error.get("message", ""))[:500]
    if data.get("check") != name:
        return ProbeOutcome(False, f"{name}: the check's result could not be read")
    if status == "target_error":
        text = f"{etype}: {emsg}" if emsg else etype
        hint = ""
        if etype == "NameError":
            hint = (f" Is `{probe.target}` defined in your answer cell, and does that cell run "
                    "without errors?")
        return ProbeOutcome(False, f"{name}: `{probe.target}` could not be found ({text}).{hint}",
                            text)
    if status == "not_callable":
        return ProbeOutcome(False, f"{name}: expected your function, got {etype}. Keep "
                                   f"`{probe.target}` a function (def ...).")
    if status == "probe_error":
        return ProbeOutcome(False, f"{name}: the check could not run ({etype}: {emsg})")
    if status != "ran":
        return ProbeOutcome(False, f"{name}: the check's result could not be read")
    cases = cases_for(probe)
    try:
        records = _records(data, cases)
    except Exception as exc:  # anything malformed: forged or damaged by kernel-side code
        return ProbeOutcome(False, f"{name}: the check's result could not be read "
                                   f"({str(exc)[:200]})")
    with _JUDGE_LOCK:
        verdict = CHECKS[name].judge(records, cases)
    if verdict.passed:
        return ProbeOutcome(True, f"{probe.label}: {name}, {len(cases)}/{len(cases)} cases "
                                  "passed")
    return ProbeOutcome(False, f"{probe.label.capitalize()} failed. "
                               + (verdict.message or f"{name}: failed"))
