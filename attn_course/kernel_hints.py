"""Hints in the notebook kernel: a name the kernel has forgotten says how to get it back.

After a kernel restart every name is gone, and a check cell run on its own fails with a bare
``NameError``. With the hint installed, a ``NameError`` raised by notebook code (a cell, or a
function defined in one) keeps its traceback and adds what to do: run the cells above.

Installed three ways, each idempotent: by the course's lab (``attn-course lab`` starts kernels
with ``lab_startup.py`` as ``PYTHONSTARTUP``, so the hint survives restarts), by importing any
check (``attn_course.checks``), or by hand with ``%load_ext attn_course.kernel_hints``.
This module imports nothing heavy: it runs at every kernel start.
"""

from __future__ import annotations

import types

HINT_COLOUR, RESET = "\x1b[1;33m", "\x1b[0m"
_INSTALLED = "_attn_course_name_hint"


def name_hint(name: str | None) -> list[str]:
    """The lines added under a NameError raised by notebook code."""
    what = f"`{name}`" if name else "this name"
    return [
        f"{HINT_COLOUR}Hint: {what} is not defined in this kernel.{RESET}",
        "  If you restarted the kernel (or opened the notebook just now), run the cells above "
        "this one first:",
        "  Run ▸ Run All Above Selected Cell. Otherwise check the spelling.",
    ]


def raised_by_notebook_code(tb: types.TracebackType | None, user_ns: dict) -> bool:
    """Whether the innermost frame of `tb` runs code of the notebook (its globals are the
    kernel's namespace), not code of a library."""
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_globals is user_ns


def _show_name_error(shell, etype, value, tb, tb_offset=None):
    """IPython custom exception handler: the usual traceback, plus the hint when it applies."""
    stb = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
    if raised_by_notebook_code(tb, shell.user_ns):
        stb = [*stb, *name_hint(getattr(value, "name", None))]
    shell._showtraceback(etype, value, stb)
    return stb


def load_ipython_extension(shell) -> None:
    """Install the NameError hint in an IPython shell (once)."""
    if getattr(shell, _INSTALLED, False):
        return
    # set_custom_exc replaces any earlier handler: do not take one over that is not ours.
    if getattr(shell, "custom_exceptions", ()):
        return
    shell.set_custom_exc((NameError,), _show_name_error)
    setattr(shell, _INSTALLED, True)


def install() -> bool:
    """Install the hint in the running IPython kernel, if there is one. True when installed."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    load_ipython_extension(shell)
    return bool(getattr(shell, _INSTALLED, False))
