"""Timing the head-count explorer of notebook 04 in real JupyterLab, as a student sees it.

Used by ``benchmarks/bench_head_explorer_browser.py``, which runs this file with pytest so that
the server and the browser come from ``tests/ui/conftest.py``'s fixtures. It is not collected
by a plain ``pytest tests/ui`` (the file name does not start with ``test_``).

Every time is taken inside the page, on its clock (``performance.now()``, the same clock as an
input event's ``timeStamp``):

- **picture shown**: the explorer's ``<img>`` got a new ``src``, the image is decoded
  (``img.decode()``), and the next frame, which paints it, has been produced (a
  ``requestAnimationFrame`` callback, then a task queued from it).
- **first render**: from asking Lab to run the explorer cell (``explorer = HeadExplorer()``) to
  its picture shown, in a freshly restarted kernel that has run the cells above it (how a
  student meets it); **cold**: one that has run only the notebook's import cell.
- **step**: from the slider's ``keydown`` (ArrowRight or ArrowLeft on the focused handle) to the
  picture of the new head count shown. It is split into **until the new src** (the kernel's
  work and the messages both ways) and **drawing** (decoding, layout and paint in the browser).
- **drag to 64**: the mouse presses the handle at 1 head and moves to the right end of the
  track in small moves over about 0.3 s (a quick hand), then lets go. **settle**: from letting
  go to the last picture shown, which must be the one for 64 heads.
- **key burst**: six ArrowRight presses 30 ms apart (1 to 64 heads, faster than any redraw).
  **settle**: from the last key to the last picture shown; also how many pictures were shown.

After each step the kernel says where the picture came from (``explorer.last_picture``: drawn
now, kept from before, or drawn ahead while idle) and how long its update took. With
``ATTN_COURSE_EXPLORER_DRAW_AHEAD=0`` the explorer draws nothing ahead (``draw_ahead=False``).
The results go to the JSON file named by ``ATTN_COURSE_EXPLORER_TIMINGS``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.ui.conftest import WAIT_MS
from tests.ui.lab_page import (
    cells,
    error_outputs,
    open_notebook,
    restart_kernel,
    run_all,
    run_at,
    wait_for_widgets,
    wait_kernel_idle,
)

pytestmark = pytest.mark.ui

NOTEBOOK_04 = "solutions/04_multi_head_attention.ipynb"
IMPORT_CELL = "from attn_course.widgets import HeadExplorer"  # a line of the import cell
EXPLORER_CELL = "explorer = HeadExplorer()"
QUIET_MS = 400  # no new picture for this long: the explorer has settled
BURST_GAP_MS = 30
DRAG_MOVES, DRAG_MOVE_MS = 15, 20
MAIN_THREAD_METRICS = {  # Chromium's Performance.getMetrics names, in seconds
    "script": "ScriptDuration",
    "style": "RecalcStyleDuration",
    "layout": "LayoutDuration",
    "all tasks": "TaskDuration",
}

# Watch one cell: every input event on the page, every picture of the explorer in the cell.
WATCH_JS = """cellIndex => {
  const node = window.jupyterapp.shell.currentWidget.content.widgets[cellIndex].node;
  if (window.__explorerWatch) { window.__explorerWatch.observer.disconnect(); }
  const log = {inputs: [], pictures: [], superseded: 0};
  const stamp = e => log.inputs.push({type: e.type, key: e.key || null, t: e.timeStamp});
  if (!window.__explorerInputs) {
    window.__explorerInputs = true;
    for (const type of ['keydown', 'pointerdown', 'pointerup']) {
      document.addEventListener(type, e => window.__explorerWatch.stamp(e), true);
    }
  }
  const afterNextPaint = () => new Promise(resolve =>
    requestAnimationFrame(() => setTimeout(resolve, 0)));
  const observer = new MutationObserver(records => {
    for (const record of records) {
      const img = record.target;
      if (!img.matches || !img.matches('img.widget-image') || !img.src) continue;
      const src = img.src, changed = performance.now();
      img.decode().then(afterNextPaint).then(() => {
        if (img.src !== src) { log.superseded++; return; }
        log.pictures.push({src, changed, shown: performance.now(),
                           width: img.naturalWidth, height: img.naturalHeight});
      }, () => { log.superseded++; });
    }
  });
  observer.observe(node, {subtree: true, attributes: true, attributeFilter: ['src']});
  window.__explorerWatch = {log, observer, stamp};
}"""

LOG_JS = "() => window.__explorerWatch.log"

# Restart the kernel (no dialog), wait until it is idle.
# First render: run the explorer cell, resolve with the ms until its new picture is shown.
FIRST_RENDER_JS = """async ([index, timeoutMs]) => {
  const app = window.jupyterapp, notebook = app.shell.currentWidget.content;
  const node = notebook.widgets[index].node;
  node.querySelectorAll('img.widget-image').forEach(img => img.dataset.stale = '1');
  notebook.activeCellIndex = index;
  notebook.deselectAll();
  const start = performance.now();
  app.commands.execute('notebook:run-cell');
  const deadline = start + timeoutMs;
  while (performance.now() < deadline) {
    const img = node.querySelector('img.widget-image:not([data-stale])');
    if (img && img.src) {
      try { await img.decode(); } catch (e) { continue; }
      await new Promise(resolve => requestAnimationFrame(() => setTimeout(resolve, 0)));
      if (img.isConnected && img.naturalWidth > 0) return performance.now() - start;
    }
    await new Promise(resolve => requestAnimationFrame(resolve));
  }
  throw new Error(`no explorer picture within ${timeoutMs} ms`);
}"""

# Run `code` in the notebook's kernel; resolve with what it printed.
KERNEL_PRINT_JS = """async code => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = kernel.requestExecute({code, silent: false, store_history: false});
  let text = '';
  future.onIOPub = msg => {
    if (msg.header.msg_type === 'stream') text += msg.content.text;
    if (msg.header.msg_type === 'error') text += `${msg.content.ename}: ${msg.content.evalue}`;
  };
  await future.done;
  return text;
}"""


def kernel_print(page, code: str) -> str:
    """What `code` printed when run in the notebook's kernel (outside any cell)."""
    return page.evaluate(KERNEL_PRINT_JS, code)


def cell_index(page, text: str) -> int:
    found = [c["index"] for c in cells(page) if c["type"] == "code" and text in c["source"]]
    assert found, f"no code cell containing {text!r} in {NOTEBOOK_04}"
    return found[0]


class Explorer:
    """The explorer's widget in the page: slider, readout, stats line, picture log."""

    def __init__(self, page, index: int):
        self.page = page
        self.index = index
        cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
        view = cell.locator(".jp-OutputArea-output .widget-vbox").filter(
            has=page.locator("img.widget-image")
        )
        self.view = view.first
        self.image = self.view.locator("img.widget-image").first
        self.stats = self.view.locator(".widget-html-content").last
        slider = self.view.locator(".widget-slider").filter(has_text="heads")
        self.handle = slider.get_by_role("slider")
        self.readout = slider.locator(".widget-readout")
        self.track = slider.locator(".noUi-target")
        self.view.wait_for(state="visible", timeout=WAIT_MS)
        self.view.scroll_into_view_if_needed()
        page.evaluate(WATCH_JS, index)
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Performance.enable")

    def main_thread(self) -> dict[str, float]:
        """Chromium's running totals, in ms, of the page's main-thread work by kind."""
        metrics = {
            m["name"]: m["value"] for m in self.cdp.send("Performance.getMetrics")["metrics"]
        }
        return {kind: metrics[name] * 1e3 for kind, name in MAIN_THREAD_METRICS.items()}

    def log(self) -> dict:
        return self.page.evaluate(LOG_JS)

    def heads(self) -> int:
        return int(self.readout.inner_text().strip())

    def settle(self, heads: int, since: int) -> dict:
        """Wait until a picture after the first `since` ones, the one for `heads`, is shown and
        nothing changes for QUIET_MS."""
        deadline = time.monotonic() + WAIT_MS / 1000
        marker = f"{heads} head"
        while time.monotonic() < deadline:
            wait_kernel_idle(self.page)
            before = self.log()
            self.page.wait_for_timeout(QUIET_MS)
            after = self.log()
            stats = self.stats.inner_text()
            quiet = len(after["pictures"]) == len(before["pictures"])
            current = self.image.get_attribute("src")
            pictures = after["pictures"]
            shown = len(pictures) > since and pictures[-1]["src"] == current
            if quiet and shown and stats.startswith(marker) and self.heads() == heads:
                return after
        raise AssertionError(f"the explorer did not settle on {heads} heads")

    def step(self, key: str, heads: int) -> dict:
        """Press `key` on the handle; the times until the picture for `heads` is shown."""
        before, work = self.log(), self.main_thread()
        self.handle.focus()
        self.handle.press(key)
        after = self.settle(heads, len(before["pictures"]))
        work = {kind: ms - work[kind] for kind, ms in self.main_thread().items()}
        pressed = [e for e in after["inputs"][len(before["inputs"]) :] if e["type"] == "keydown"]
        new = after["pictures"][len(before["pictures"]) :]
        assert pressed and new, f"no key or no picture for the step to {heads} heads"
        key_t, last = pressed[-1]["t"], new[-1]
        return {
            "heads": heads,
            "step_ms": last["shown"] - key_t,
            "until_src_ms": last["changed"] - key_t,
            "drawing_ms": last["shown"] - last["changed"],
            "pictures": len(new),
            "size": [last["width"], last["height"]],
            "main_thread_ms": work,  # over the step and the quiet time after it
        }

    def burst(self, presses: int, heads: int) -> dict:
        """`presses` ArrowRight presses BURST_GAP_MS apart, ending on `heads`."""
        before = self.log()
        self.handle.focus()
        for _ in range(presses):
            self.page.keyboard.press("ArrowRight")
            self.page.wait_for_timeout(BURST_GAP_MS)
        after = self.settle(heads, len(before["pictures"]))
        pressed = [e for e in after["inputs"][len(before["inputs"]) :] if e["type"] == "keydown"]
        new = after["pictures"][len(before["pictures"]) :]
        return {
            "settle_ms": new[-1]["shown"] - pressed[-1]["t"],
            "from_first_key_ms": new[-1]["shown"] - pressed[0]["t"],
            "pictures": len(new),
            "key_gaps_ms": [b["t"] - a["t"] for a, b in zip(pressed, pressed[1:], strict=False)],
        }

    def drag_to_end(self, heads: int) -> dict:
        """Drag the handle to the right end of the track, like a hand would, and let go."""
        before = self.log()
        box, track = self.handle.bounding_box(), self.track.bounding_box()
        x0, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        x1 = track["x"] + track["width"] + 10
        mouse = self.page.mouse
        mouse.move(x0, y)
        mouse.down()
        for i in range(1, DRAG_MOVES + 1):
            mouse.move(x0 + (x1 - x0) * i / DRAG_MOVES, y)
            self.page.wait_for_timeout(DRAG_MOVE_MS)
        mouse.up()
        after = self.settle(heads, len(before["pictures"]))
        inputs = after["inputs"][len(before["inputs"]) :]
        down = [e["t"] for e in inputs if e["type"] == "pointerdown"]
        up = [e["t"] for e in inputs if e["type"] == "pointerup"]
        new = after["pictures"][len(before["pictures"]) :]
        assert down and up and new, "the drag left no pointer events or no picture"
        return {
            "settle_ms": new[-1]["shown"] - up[-1],
            "from_press_ms": new[-1]["shown"] - down[0],
            "drag_ms": up[-1] - down[0],
            "pictures": len(new),
        }


def first_render(page, explorer_index: int, before: str) -> float:
    """ms from running the explorer cell in a fresh kernel to its picture shown. Before it, the
    kernel runs `before`: "cells above" (the notebook top to bottom, as a student meets the
    explorer) or "imports" (only the import cell: the cold case)."""
    restart_kernel(page)
    if before == "cells above":
        run_at(page, explorer_index, "notebook:run-all-above")
    else:
        run_at(page, cell_index(page, IMPORT_CELL), "notebook:run-cell")
    ms = page.evaluate(FIRST_RENDER_JS, [explorer_index, WAIT_MS])
    wait_kernel_idle(page)
    wait_for_widgets(page)
    errors = error_outputs(page)
    assert not errors, f"errors in the first render after {before}:\n" + "\n".join(errors)
    return ms


# What the kernel says about its last update (attributes the explorer may not have: "?").
KERNEL_SIDE = (
    "import json\n"
    "print(json.dumps({'picture': getattr(explorer, 'last_picture', '?'), "
    "'update_ms': getattr(explorer, 'update_ms', None)}))"
)


def set_state(page, explorer: Explorer, **values) -> None:
    """Set the explorer's controls from the kernel (not timed) and wait for its picture."""
    since = len(explorer.log()["pictures"])
    heads_first = sorted(values, key=lambda name: name != "num_heads")  # draw no other count
    code = "\n".join(f"explorer.{name}.value = {values[name]!r}" for name in heads_first)
    printed = kernel_print(page, code)
    assert not printed, f"setting {values} printed {printed!r}"
    explorer.settle(values["num_heads"], since)


def measure(page, lab, rounds: int, first_renders: int, draw_ahead: bool = True) -> dict:
    """Open notebook 04, run it, then time first renders, steps, drags and key bursts.

    Each round works on another input sequence, so that its first visit of a head count is the
    explorer's first picture of that state: steps up from 1 head are first visits, the steps
    back down are revisits; drags use the sequence without the causal mask, bursts with random
    weights, so that they too draw states not seen before.
    """
    open_notebook(page, lab, NOTEBOOK_04, workspace="explorer-timing")
    run_seconds = run_all(page)
    errors = error_outputs(page)
    assert not errors, "errors after run-all:\n" + "\n".join(errors)
    wait_for_widgets(page)
    package = kernel_print(page, "import attn_course; print(attn_course.__file__)").strip()
    explorer_index = cell_index(page, EXPLORER_CELL)

    colds = [first_render(page, explorer_index, "imports") for _ in range(first_renders)]
    firsts = [first_render(page, explorer_index, "cells above") for _ in range(first_renders)]
    explorer = Explorer(page, explorer_index)
    if not draw_ahead:
        kernel_print(page, "explorer.draw_ahead = False")
    found = kernel_print(
        page,
        "import json\nfrom attn_course.widgets.head_explorer import SEQUENCES\n"
        "print(json.dumps([list(explorer.num_heads.options), list(SEQUENCES), "
        "explorer.sequence.value, explorer.num_heads.value]))",
    )
    options, sequences, sequence, heads = json.loads(found)
    assert rounds <= len(sequences), f"at most {len(sequences)} rounds (one per sequence)"
    visited = {(sequence, heads)}  # drawn by the first render
    steps, drags, bursts = [], [], []
    for r in range(rounds):
        sequence = sequences[r]
        set_state(page, explorer, sequence=sequence, causal=True, weights="trained",
                  num_heads=options[0])  # fmt: skip
        visited.add((sequence, options[0]))
        moves = [("ArrowRight", h) for h in options[1:]]
        moves += [("ArrowLeft", h) for h in reversed(options[:-1])]
        for key, heads in moves:
            step = explorer.step(key, heads)
            step["kernel"] = json.loads(kernel_print(page, KERNEL_SIDE))
            step["first_visit"] = (sequence, heads) not in visited
            visited.add((sequence, heads))
            steps.append(step)
        set_state(page, explorer, causal=False, num_heads=options[0])
        drags.append(explorer.drag_to_end(options[-1]))
        drags[-1]["kernel"] = json.loads(kernel_print(page, KERNEL_SIDE))
        set_state(page, explorer, causal=True, weights="random", num_heads=options[0])
        bursts.append(explorer.burst(len(options) - 1, options[-1]))
        bursts[-1]["kernel"] = json.loads(kernel_print(page, KERNEL_SIDE))
    errors = error_outputs(page)
    assert not errors, "errors while timing:\n" + "\n".join(errors)
    return {
        "package": package,
        "draw_ahead": draw_ahead,
        "run_all_s": run_seconds,
        "head_options": options,
        "first_render_ms": firsts,
        "cold_first_render_ms": colds,
        "steps": steps,
        "drags": drags,
        "bursts": bursts,
    }


def test_time_the_head_explorer(page, lab):
    out = os.environ.get("ATTN_COURSE_EXPLORER_TIMINGS")
    if not out:
        pytest.skip("run by benchmarks/bench_head_explorer_browser.py")
    rounds = int(os.environ.get("ATTN_COURSE_EXPLORER_ROUNDS", "3"))
    firsts = int(os.environ.get("ATTN_COURSE_EXPLORER_FIRST_RENDERS", "3"))
    draw_ahead = os.environ.get("ATTN_COURSE_EXPLORER_DRAW_AHEAD", "1") == "1"
    result = measure(page, lab, rounds, firsts, draw_ahead)
    Path(out).write_text(json.dumps(result, indent=1))
