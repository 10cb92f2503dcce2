"""Real-browser tests: one JupyterLab server per session, driven by headless Chromium.

The server is the students' lab, started the way ``make lab`` starts it (``attn-course lab``:
the course's Jupyter configuration, the kernel hints, ``--allow-root`` as root), on 127.0.0.1
with a random port and token, in a temporary folder holding copies of the course notebooks
(``solutions/``, ``notebooks/`` and the work folder ``work/`` that ``attn-course lab`` fills).
The tests add two settings of their own: notebook windowing off (every cell stays in the page)
and no extension manager. Whatever else a student sees (no nbgrader interface, no news pop-up)
is the course's configuration. Chromium is Debian's (``/usr/bin/chromium``), driven by
Playwright's sync API; ``playwright install`` is never needed.

Without Chromium or Playwright the tests skip, unless ``CI=true``: then they fail.
``ATTN_COURSE_CHROMIUM`` points at another Chromium binary (``/nonexistent`` simulates none).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
# test-results/ui by default; `make screenshots` refreshes the README's docs/screenshots.
SCREENSHOTS = Path(os.environ.get("ATTN_COURSE_SCREENSHOTS", ROOT / "test-results" / "ui"))
CHROMIUM = os.environ.get("ATTN_COURSE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests may run as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
START_TIMEOUT_S = 120  # server start; the test machines have two busy cores
STOP_TIMEOUT_S = 20
WAIT_MS = 120_000  # the longest any single wait in a test may take
ACTION_MS = 60_000  # clicks, key presses, page loads

# Small notebooks written next to the copies: a progress bar alone, and notebook 07's sweep
# explorer without the training runs around it.
TQDM_DEMO = "tqdm_demo.ipynb"
SWEEP_DEMO = "heads_sweep_demo.ipynb"
LIVE_LOSS_DEMO = "live_loss_demo.ipynb"
DEMOS = {
    TQDM_DEMO: ["from tqdm.auto import tqdm\n\nfor _ in tqdm(range(20), desc='steps'):\n    pass"],
    SWEEP_DEMO: ["from attn_course.widgets import HeadsSweepExplorer",
                 "HeadsSweepExplorer(task='lookup', num_heads=8)"],
    LIVE_LOSS_DEMO: [  # notebook 10's live loss plot, on a short real run
        "from attn_course import viz\nfrom attn_course.experiments import char_gpt\n\n"
        "plot = viz.LiveLoss('a short run', every=10)\n"
        "model, history = char_gpt.train(40, on_step=plot.update)\n_ = plot.finish()",
        "_ = viz.LiveLoss('a short run')  # the same plot before any step",
    ],
}

# The tests' own lab settings, as the Settings editor would write them.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/extensionmanager-extension/plugin": {"enabled": False},
}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "ui: drives the course in real JupyterLab with headless Chromium"
    )


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install playwright)"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (
            f"no Chromium at {CHROMIUM} (Debian/Ubuntu: apt-get install chromium; "
            "or set ATTN_COURSE_CHROMIUM to a Chromium binary)"
        )
    return None


@pytest.fixture(scope="session")
def browser_available() -> None:
    reason = missing_browser()
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"CI=true and the browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


# ---------------------------------------------------------------------------------------------
# The JupyterLab server


@dataclass
class Lab:
    url: str  # http://127.0.0.1:PORT, no trailing slash
    token: str
    root: Path  # the server's root folder: solutions/, notebooks/, work/, tqdm_demo.ipynb
    log: Path

    def page_url(self, path: str, workspace: str) -> str:
        """Open `path` (relative to root) alone, in a fresh workspace."""
        return f"{self.url}/lab/workspaces/{workspace}/tree/{path}?reset&token={self.token}"

    def api(self, method: str, endpoint: str, timeout: float = 10) -> object:
        request = urllib.request.Request(
            f"{self.url}/api/{endpoint}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no server log)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_root(root: Path) -> None:
    """Copies of the course notebooks, plus the demo notebooks."""
    for folder in ("solutions", "notebooks"):
        (root / folder).mkdir(parents=True)
        for notebook in sorted((ROOT / folder).glob("*.ipynb")):
            shutil.copy2(notebook, root / folder / notebook.name)
    for name, cells in DEMOS.items():
        demo = nbformat.v4.new_notebook()
        demo.cells = [nbformat.v4.new_code_cell(source) for source in cells]
        demo.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
        nbformat.write(demo, root / name)


def jupyter_env(home: Path) -> dict[str, str]:
    """This Python's environment, with every Jupyter config and state folder inside `home`."""
    settings = home / "lab-settings"
    for plugin, values in LAB_SETTINGS.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(os.environ)
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
        PYTHONUNBUFFERED="1",
    )
    env.pop("JUPYTER_TOKEN", None)
    return env


def wait_until_up(lab: Lab, proc: subprocess.Popen, deadline: float) -> bool:
    """True once the server answers; False if it exited first (port taken, say)."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            lab.api("GET", "status", timeout=5)
            return True
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer within {START_TIMEOUT_S} s")


def stop_server(lab: Lab, proc: subprocess.Popen) -> None:
    """Stop the server and every process it started (kernels run in sessions of their own)."""
    import psutil

    try:
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    if proc.poll() is None:
        try:  # the clean way: the server shuts its kernels down, then exits
            lab.api("POST", "shutdown", timeout=5)
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)

    def alive(p) -> bool:
        try:
            return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    left = [p for p in family if alive(p)]
    for p in left:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, left = psutil.wait_procs(left, timeout=5)
    for p in left:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(left, timeout=5)


@pytest.fixture(scope="package")
def lab(browser_available, tmp_path_factory) -> Iterator[Lab]:
    home = tmp_path_factory.mktemp("jupyter")
    root = home / "course"
    prepare_root(root)
    env = jupyter_env(home)
    token = secrets.token_hex(24)
    log = home / "lab.log"
    deadline = time.monotonic() + START_TIMEOUT_S
    for _attempt in range(3):  # a random free port can be taken before the server binds it
        port = free_port()
        lab = Lab(url=f"http://127.0.0.1:{port}", token=token, root=root, log=log)
        command = [
            sys.executable, "-m", "attn_course.cli", "lab",
            "--notebooks", str(root / "notebooks"), "--work", str(root / "work"),
            "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
        ]  # fmt: skip
        with log.open("ab") as out:
            proc = subprocess.Popen(
                command, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            if wait_until_up(lab, proc, deadline):
                break
        except BaseException:  # timeout, KeyboardInterrupt: never leave a server behind
            stop_server(lab, proc)
            raise
        stop_server(lab, proc)
    else:
        pytest.fail(f"JupyterLab would not start; its log:\n{lab.log_tail()}", pytrace=False)
    try:
        yield lab
    finally:
        stop_server(lab, proc)


# ---------------------------------------------------------------------------------------------
# The browser


# Package scope, not session: while Playwright's sync API is open, the main thread has a running
# asyncio loop, and code run by later tests (the head-count explorer's scheduling) would see it.
@pytest.fixture(scope="package")
def browser(browser_available):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=ACTION_MS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, lab):
    """A fresh browser tab, 1400 x 1000, with bounded waits; closed, with its kernels, after the
    test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(ACTION_MS)
    context.set_default_navigation_timeout(ACTION_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
        with contextlib.suppress(urllib.error.URLError, OSError, TypeError, KeyError):
            for session in lab.api("GET", "sessions"):  # free the test's kernel
                lab.api("DELETE", f"sessions/{session['id']}")


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
