"""The course's JupyterLab, as ``make lab`` (``attn-course lab``) opens it for a student.

- It opens on the work folder (``attn_course.workspace``), never on the generated ``notebooks/``.
- Its Jupyter configuration is the course's own (``attn_course/lab_config``, added to
  ``JUPYTER_CONFIG_PATH`` for this server only; the user's own configuration is not touched):
  nbgrader's instructor extensions (Formgrader, Create Assignment, Validate) and the news
  pop-up are off.
- Kernels start with ``lab_startup.py`` as ``PYTHONSTARTUP``: a check cell run after a restart
  says to run the cells above (``attn_course.kernel_hints``).
- Kernels talk to the server over local sockets (IPC) where the system has them, not over
  unencrypted TCP on 127.0.0.1 (and ipykernel's warning about it goes away).
- The lab signs (trusts) the copies it makes, as ``jupyter trust`` would: they are the course's
  own notebooks.
- As root (a container, a cloud VM) it passes ``--allow-root``; any other option goes to
  ``jupyter lab`` unchanged (``make lab ARGS="--port 9999 --no-browser"``).

The server's settings (``lab_config/jupyter_server_config.json``) also set the websocket ping
timeout to the ping interval: jupyter_server's default (3 × the interval) makes tornado warn.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

LAB_CONFIG = Path(__file__).resolve().parent / "lab_config"
STARTUP = Path(__file__).resolve().parent / "lab_startup.py"


def lab_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """`environ` (default: this process's) with the course's Jupyter config and kernel startup."""
    env = dict(os.environ if environ is None else environ)
    paths = [p for p in env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p]
    if str(LAB_CONFIG) not in paths:
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join([str(LAB_CONFIG), *paths])
    own = env.get("PYTHONSTARTUP")
    if own and Path(own) != STARTUP:
        env["ATTN_COURSE_USER_PYTHONSTARTUP"] = own
    env["PYTHONSTARTUP"] = str(STARTUP)
    return env


def lab_command(work_dir: Path, extra: list[str], *, is_root: bool | None = None) -> list[str]:
    """The ``jupyter lab`` command line: this Python, the work folder, the student's options."""
    if is_root is None:
        is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    command = [sys.executable, "-m", "jupyter", "lab"]
    if not any(a.startswith(("--ServerApp.root_dir", "--notebook-dir")) for a in extra):
        command.append(f"--ServerApp.root_dir={Path(work_dir).resolve()}")
    if is_root and "--allow-root" not in extra:
        command.append("--allow-root")
    if os.name == "posix" and not any("transport" in a for a in extra):
        command.append("--KernelManager.transport=ipc")
    return command + list(extra)


def trust(paths: list[Path]) -> None:
    """Sign notebooks as trusted for this user (``jupyter trust``), as the lab will run them."""
    import nbformat
    from nbformat.sign import NotebookNotary

    notary = NotebookNotary()
    for path in paths:
        try:
            notary.sign(nbformat.read(path, as_version=4))
        except Exception:  # unreadable: JupyterLab will say so when it is opened; not trusted
            continue
