"""Self-study: is the object a student checks their own code, or a library's?

    delegation(check, fn) -> str    "" when fn is the student's own work, else the reason

The answer policy (`attn_course.policy`) read on the function's (or class's) source, with the
globals it runs in: calling the course's reference, or the library function the exercise asks
the student to write (torch's attention for scaled dot-product attention, torch.softmax for
softmax), fails the check with the reason, as the grader would score it 0. The course's own
code (demos checking the reference) and objects without readable source pass through.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from typing import TYPE_CHECKING, Any

from attn_course.policy import Rules, course_object, resolve, violations

if TYPE_CHECKING:
    from attn_course.checks.check import Check

__all__ = ["delegation"]


def _parse(text: str) -> ast.Module | None:
    for candidate in (text, f"({text})"):
        try:
            return ast.parse(candidate)
        except (SyntaxError, RecursionError, MemoryError, ValueError):
            continue
    return None


def _lambda_source(fn: types.FunctionType, text: str) -> str | None:
    """A lambda's own source, out of the line(s) inspect gives (which hold the whole call)."""
    tree = _parse(text)
    if tree is None:
        return None
    source = text if ast.get_source_segment(text, tree.body[0]) is not None else f"({text})"
    code = fn.__code__
    names = list(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda)
             and [a.arg for a in (*n.args.posonlyargs, *n.args.args, *n.args.kwonlyargs)]
             == names]
    segments = [ast.get_source_segment(source, n) for n in found]
    return "\n".join(s for s in segments if s) or None


def _source_and_globals(obj: Any) -> tuple[str, dict] | None:
    """The source of a function or class and the globals its code runs in (None: unknown)."""
    functions = [obj] if isinstance(obj, types.FunctionType) else [
        f for f in vars(obj).values() if isinstance(f, types.FunctionType)
    ] if isinstance(obj, type) else []
    if not functions:
        return None
    try:
        source = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):  # a class defined in a notebook cell: read its methods
        parts = []
        for f in functions:
            try:
                parts.append(textwrap.dedent(inspect.getsource(f)))
            except (OSError, TypeError):
                continue
        if not parts:
            return None
        source = "\n".join(parts)
    if isinstance(obj, types.FunctionType) and obj.__name__ == "<lambda>":
        source = _lambda_source(obj, source)
        if source is None:
            return None
    namespace = dict(functions[0].__globals__)
    for f in functions:  # names from enclosing functions (a notebook's helpers, tests)
        cells = f.__closure__ or ()
        namespace.update((name, cell.cell_contents) for name, cell in
                         zip(f.__code__.co_freevars, cells, strict=True) if _filled(cell))
    return source, namespace


def _filled(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


def delegation(check: Check, fn: Any) -> str:
    """Why `fn` is not the student's own work for this check ("" when it is)."""
    fn = inspect.unwrap(fn)  # functools.cache, lru_cache, wraps: the student's function
    if course_object(fn):
        return ""
    for path in check.forbidden:
        if fn is resolve(path):
            return (f"you passed {path} itself: the exercise asks you to write "
                    f"{check.name} yourself")
    found = _source_and_globals(fn)
    if found is None:
        return ""
    source, namespace = found
    rules = Rules(forbidden=check.forbidden, lenient=True, namespace=namespace)
    problems = violations(source, rules)
    if not problems:
        return ""
    lines = "\n".join(f"  {p}" for p in problems[:4])
    return (f"your {check.name} uses code the exercise asks you to write yourself, or ways "
            f"around it:\n{lines}\nThe grader scores an answer that does this 0: write it "
            "with torch operations (see the cells above).")
