"""Driving a notebook in JupyterLab 4 through its own application object (``window.jupyterapp``,
exposed by ``--LabApp.expose_app_in_browser``) and the page's DOM."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tests.ui.conftest import WAIT_MS, Lab

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'

# The notebook at `path` is the current widget, its document is loaded, and its kernel is
# connected and idle. (The status bar's "Idle" can show before a kernel exists.)
NOTEBOOK_READY_JS = """path => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  if (!panel || !panel.context || panel.context.path !== path || !panel.context.isReady) {
    return false;
  }
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""

RUN_ALL_JS = """async ms => {
  const app = window.jupyterapp;
  await app.commands.execute('notebook:clear-all-cell-outputs');  // also clears [n] prompts
  const timeout = new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`run-all still busy after ${ms} ms`)), ms));
  return await Promise.race([app.commands.execute('notebook:run-all-cells'), timeout]);
}"""

# Done: the kernel is idle and every code cell has an execution count, or a cell failed that
# stops run-all (later cells would never get a count). A failed cell tagged raises-exception
# (the student notebooks' check cells) does not stop run-all.
RUN_FINISHED_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const code = panel.content.widgets.filter(cell => cell.model.type === 'code');
  const failed = code.some(cell =>
    !(cell.model.getMetadata('tags') || []).includes('raises-exception') &&
    cell.model.outputs.toJSON().some(output => output.output_type === 'error'));
  const counted = code.every(cell => cell.model.executionCount !== null);
  return !!kernel && kernel.status === 'idle' && (counted || failed);
}"""

KERNEL_IDLE_JS = """() => {
  const session = window.jupyterapp.shell.currentWidget.sessionContext.session;
  const kernel = session && session.kernel;
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""

RESTART_JS = """async () => {
  await window.jupyterapp.shell.currentWidget.sessionContext.restartKernel();
}"""

# Make cell `index` the active (and only selected) cell, then run a notebook command there
# ('notebook:run-cell', 'notebook:run-all-above', ...); resolves once the command has run.
RUN_AT_JS = """async ([index, command]) => {
  const app = window.jupyterapp, notebook = app.shell.currentWidget.content;
  notebook.activeCellIndex = index;
  notebook.deselectAll();
  await app.commands.execute(command);
}"""

CELLS_JS = """() => window.jupyterapp.shell.currentWidget.content.widgets.map((cell, index) => ({
  index,
  type: cell.model.type,
  id: (cell.model.getMetadata('nbgrader') || {}).grade_id || null,
  editable: cell.model.getMetadata('editable'),
  source: cell.model.sharedModel.getSource(),
  count: cell.model.type === 'code' ? cell.model.executionCount : null,
  outputs: cell.model.type === 'code' ? cell.model.outputs.toJSON() : [],
}))"""


def open_notebook(page: Page, lab: Lab, path: str, workspace: str) -> None:
    """Open `path` alone in a fresh workspace; wait for its kernel; hide the side bar."""
    page.goto(lab.page_url(path, workspace), wait_until="domcontentloaded")
    try:
        page.wait_for_function(NOTEBOOK_READY_JS, arg=path, timeout=WAIT_MS, polling=250)
    except Exception as error:
        raise AssertionError(
            f"{path} did not open with an idle kernel within {WAIT_MS // 1000} s "
            f"({type(error).__name__}); server log:\n{lab.log_tail()}"
        ) from error
    windowing = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.notebookConfig.windowingMode"
    )
    assert windowing == "none", f"Lab settings not applied: windowingMode is {windowing!r}"
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")


def run_all(page: Page, timeout_ms: int = WAIT_MS) -> float:
    """Clear every output, run all cells, wait until done (at most `timeout_ms`). Returns the
    seconds it took."""
    start = time.monotonic()
    page.evaluate(RUN_ALL_JS, timeout_ms)
    page.wait_for_function(RUN_FINISHED_JS, timeout=timeout_ms, polling=250)
    return time.monotonic() - start


def cells(page: Page) -> list[dict]:
    """Every cell of the current notebook, from the application's model."""
    return page.evaluate(CELLS_JS)


def run_every_cell(page: Page, timeout_ms: int = WAIT_MS) -> list[dict]:
    """`run_all`, then the notebook's cells, having checked that Run All reached every code
    cell (it fails naming those it never ran)."""
    seconds = run_all(page, timeout_ms=timeout_ms)
    notebook = cells(page)
    not_run = [c["index"] for c in notebook if c["type"] == "code" and c["count"] is None]
    assert not not_run, f"run-all stopped ({seconds:.0f} s): cells never run: {not_run}"
    return notebook


def printed(cell: dict) -> str:
    """The text a cell (from `cells`) printed, its streams joined."""
    return "".join("".join(o.get("text", "")) for o in cell["outputs"])


def wait_kernel_idle(page: Page) -> None:
    """Wait until the notebook's kernel is connected and idle."""
    page.wait_for_timeout(50)  # let a just-sent message turn the kernel busy first
    page.wait_for_function(KERNEL_IDLE_JS, timeout=WAIT_MS, polling=20)


def restart_kernel(page: Page) -> None:
    """Restart the notebook's kernel (no dialog) and wait until it is idle."""
    page.evaluate(RESTART_JS)
    wait_kernel_idle(page)


def run_at(page: Page, index: int, command: str = "notebook:run-cell") -> None:
    """Run a notebook command with cell `index` active, and wait until the kernel is idle."""
    page.evaluate(RUN_AT_JS, [index, command])
    wait_kernel_idle(page)


def notebook_cell(page: Page, index: int) -> Locator:
    """The DOM of cell `index` (every cell is in the page: windowing is off)."""
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def error_outputs(page: Page) -> list[str]:
    """Every error output (ename: evalue) and every traceback shown as text, as one list."""
    found = []
    for cell in cells(page):
        for output in cell["outputs"]:
            if output.get("output_type") == "error":
                found.append(f"cell {cell['index']}: {output['ename']}: {output['evalue']}")
    for text in page.locator(".jp-OutputArea-output .jp-RenderedText").all_inner_texts():
        if "Traceback" in text:
            found.append(f"traceback in the page: {text[:500]}")
    for text in page.locator(STDERR).all_inner_texts():
        if "Traceback" in text:
            found.append(f"stderr: {text[:500]}")
    return found


def wait_for_widgets(page: Page) -> None:
    """Every widget view has rendered: no "Loading widget..." left, no error placeholder."""
    loading = page.get_by_text("Loading widget...")
    deadline = time.monotonic() + WAIT_MS / 1000
    while loading.count() and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert loading.count() == 0, "a widget is still 'Loading widget...'"
    errors = page.get_by_text("Error displaying widget").all_inner_texts()
    assert not errors, f"widget errors in the page: {errors}"
