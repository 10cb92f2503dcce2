"""Flags for the instructor: answer code that reaches for things an exercise never needs.

The sandbox and out-of-kernel judging make tampering worthless, but two things remain possible
by design: calling the course's own reference implementations (the package is importable, demo
cells use it) and trying to tamper at all. Neither changes a score; both deserve a look. The
scan is textual and easy to evade: a hint for review, not a verdict.
"""

from __future__ import annotations

import io
import re
import tokenize

PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\battn_course\b|\breference\.\w+\(|\bCHECKS\b|\boracle\b",
     "uses the course package (reference implementations or checks)"),
    (r"\bsys\.modules\b|\bbuiltins\b|__import__|\bimportlib\b|\bsys\.excepthook\b",
     "changes the import system or exception hooks"),
    (r"\bget_ipython\b|\bIPython\b|\bipykernel\b", "talks to the kernel itself"),
    (r"\bos\.(fork|_exit|kill|system|exec\w*|spawn\w*)\b|\bsubprocess\b|\bmultiprocessing\b"
     r"|\bthreading\b|\bsignal\b|\bctypes\b", "starts processes or threads, or sends signals"),
    (r"\bopen\(|\bpathlib\b|\bglob\b|\bos\.(listdir|walk|scandir|remove|unlink|rename)\b",
     "reads or writes files"),
    (r"\bsocket\b|\burllib\b|\brequests\b|\bhttp\.client\b", "uses the network"),
)


def _code(text: str) -> str:
    """`text` with comments and strings blanked out (so prose cannot trigger a flag)."""
    lines = text.splitlines(keepends=True)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return text
    for tok in tokens:
        if tok.type not in (tokenize.COMMENT, tokenize.STRING):
            continue
        (row, col), (end_row, end_col) = tok.start, tok.end
        for r in range(row, end_row + 1):
            line = lines[r - 1]
            a = col if r == row else 0
            b = end_col if r == end_row else len(line.rstrip("\n"))
            lines[r - 1] = line[:a] + " " * (b - a) + line[b:]
    return "".join(lines)


def flags(answers: dict[str, str], code_ids: list[str]) -> list[str]:
    """Notes such as "for review: `softmax-answer` starts processes or threads, ..."."""
    notes = []
    for grade_id in code_ids:
        text = _code(answers.get(grade_id, ""))
        found = [reason for pattern, reason in PATTERNS if re.search(pattern, text)]
        if found:
            notes.append(f"for review: answer cell `{grade_id}` " + "; ".join(found))
    return notes
