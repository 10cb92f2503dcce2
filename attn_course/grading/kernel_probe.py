"""The only grader code that runs inside the student's kernel: run one check, write its records.

The grader replaces every ``check_<name>(<target>, **options)`` call of a test cell with

    probe(directory, filename, "<name>", lambda: <target>, {<options>})

which calls the student's function on the check's cases and writes the JSON-safe records to
``directory/filename``. Nothing here decides a score: the grader reads the file, rebuilds the
records and judges them in its own process against cases it generated itself. Code in the kernel
may replace or fake this function; forged records still have to match the oracle.
"""

from __future__ import annotations

import json
import os

FORMAT = 1


def _error(exc: BaseException) -> dict:
    try:
        message = str(exc)
    except Exception:
        message = "<unprintable>"
    return {"type_name": type(exc).__name__, "message": message[:500]}


def _describe(target) -> dict | None:
    """None when `target` looks like a function, else what it is."""
    try:
        import numpy as np
        import torch

        if callable(target) and not isinstance(target, torch.Tensor | np.ndarray):
            return None
        return {"type_name": type(target).__name__}
    except Exception:
        return {"type_name": "object"}


def probe(directory: str, filename: str, check_name: str, target, options: dict) -> None:
    """Run CHECKS[check_name] on target() and write {"status", "records" | "error"}."""
    out: dict = {"format": FORMAT, "check": check_name}
    try:
        try:
            fn = target()
        except (Exception, SystemExit) as exc:  # e.g. NameError: the answer cell did not run
            out.update(status="target_error", error=_error(exc))
        else:
            problem = _describe(fn)
            if problem is not None:
                out.update(status="not_callable", error=problem)
            else:
                from attn_course.checks import CHECKS

                check = CHECKS[check_name]
                cases = check.cases(**options)
                records = check.run(fn, cases)
                out.update(status="ran", records=[r.to_dict() for r in records])
        text = json.dumps(out)
    except (Exception, SystemExit) as exc:
        text = json.dumps(
            {"format": FORMAT, "check": check_name, "status": "probe_error", "error": _error(exc)}
        )
    tmp = os.path.join(directory, f".{filename}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, os.path.join(directory, filename))
