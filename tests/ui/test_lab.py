"""The course in a real browser: notebooks run in JupyterLab 4, widgets render and respond.

Each test opens one notebook alone in a fresh tab; see conftest.py for the server and browser.
Screenshots of what a student sees go to test-results/ui/ (docs/screenshots/ with
`make screenshots`).
"""

from __future__ import annotations

import re

import pytest

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the browser_available fixture skips the tests (fails them under CI=true)
    Page = expect = None

from tests.ui.conftest import LIVE_LOSS_DEMO, SWEEP_DEMO, TQDM_DEMO, WAIT_MS, Lab
from tests.ui.lab_page import (
    cells,
    error_outputs,
    notebook_cell,
    open_notebook,
    run_all,
    wait_for_widgets,
)

pytestmark = pytest.mark.ui

READ_ONLY = re.compile(r"\bjp-mod-readOnly\b")  # Lab's class on a read-only cell editor
NOTEBOOK_04 = "solutions/04_multi_head_attention.ipynb"  # the head-count explorer


def run_cleanly(page: Page, lab: Lab, path: str) -> list[dict]:
    """Open `path`, run every cell, and check that all ran without an error. Returns the cells."""
    open_notebook(page, lab, path, workspace=path.replace("/", "-").removesuffix(".ipynb"))
    seconds = run_all(page)
    errors = error_outputs(page)
    assert not errors, f"{path}: errors after run-all ({seconds:.0f} s):\n" + "\n".join(errors)
    notebook = cells(page)
    not_run = [c["index"] for c in notebook if c["type"] == "code" and c["count"] is None]
    assert not not_run, f"{path}: code cells without an execution count: {not_run}"
    wait_for_widgets(page)
    return notebook


def png_of(image) -> bytes:
    """What the browser actually drew for an <img>, once it is loaded and visible."""
    expect(image).to_be_visible(timeout=WAIT_MS)
    image.page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=WAIT_MS
    )
    return image.screenshot(animations="disabled")


def test_head_explorer_renders_and_responds_to_the_heads_slider(page, lab, screenshots):
    run_cleanly(page, lab, NOTEBOOK_04)

    # The live widget, not the static PNG fallback its display bundle also carries.
    explorer = (
        page.locator(".jp-OutputArea-output .widget-vbox")
        .filter(has=page.locator("img.widget-image"))
        .first
    )
    image = explorer.locator("img.widget-image").first
    stats = explorer.locator(".widget-html-content").last
    slider = explorer.locator(".widget-slider").filter(has_text="heads")
    heads, readout = slider.get_by_role("slider"), slider.locator(".widget-readout")
    expect(explorer).to_be_visible(timeout=WAIT_MS)
    cell = page.locator(".jp-Notebook .jp-Cell").filter(has=explorer)
    cell.scroll_into_view_if_needed()

    start = readout.inner_text().strip()
    expect(stats).to_contain_text(f"{start} head", timeout=WAIT_MS)
    before_src, before_png = image.get_attribute("src"), png_of(image)
    cell.screenshot(path=screenshots / "head_explorer.png", animations="disabled")

    heads.focus()
    heads.press("ArrowRight")  # the next divisor of d_model (4 -> 8 with the defaults)
    expect(readout).not_to_have_text(start, timeout=WAIT_MS)
    now = readout.inner_text().strip()
    expect(stats).to_contain_text(f"{now} heads", timeout=WAIT_MS)  # the kernel answered
    expect(image).not_to_have_attribute("src", before_src, timeout=WAIT_MS)
    after_png = png_of(image)
    assert after_png != before_png, "the picture did not change after moving the heads slider"
    cell.screenshot(path=screenshots / "head_explorer_changed.png", animations="disabled")
    wait_for_widgets(page)
    errors = error_outputs(page)
    assert not errors, "errors after moving the slider:\n" + "\n".join(errors)



def test_heads_sweep_explorer_follows_the_slider_and_the_task(page, lab, screenshots):
    run_cleanly(page, lab, SWEEP_DEMO)  # notebook 07's explorer cell, without the training runs
    explorer = (
        page.locator(".jp-OutputArea-output .widget-vbox")
        .filter(has=page.locator(".widget-toggle-buttons"))
        .first
    )
    expect(explorer).to_be_visible(timeout=WAIT_MS)
    explorer.scroll_into_view_if_needed()
    stats = explorer.locator(".widget-html-content").first
    plot = explorer.locator("img.widget-image").first
    slider = explorer.locator(".widget-slider").filter(has_text="heads")
    heads, readout = slider.get_by_role("slider"), slider.locator(".widget-readout")
    expect(readout).to_have_text("8", timeout=WAIT_MS)
    expect(stats).to_contain_text("8 heads of size d = 4", timeout=WAIT_MS)
    before_src, before = plot.get_attribute("src"), png_of(plot)
    size = page.viewport_size  # tall enough for the whole explorer in the README's picture
    page.set_viewport_size({"width": size["width"], "height": 1600})
    explorer.scroll_into_view_if_needed()
    explorer.screenshot(path=screenshots / "heads_sweep_explorer.png", animations="disabled")
    page.set_viewport_size(size)

    heads.focus()
    heads.press("ArrowRight")  # 8 -> 16 heads
    expect(readout).to_have_text("16", timeout=WAIT_MS)
    expect(stats).to_contain_text("16 heads of size d = 2", timeout=WAIT_MS)
    expect(stats).to_contain_text("points below the best")
    expect(plot).not_to_have_attribute("src", before_src, timeout=WAIT_MS)  # the new picture
    assert png_of(plot) != before, "the sweep plot did not mark the new head count"

    explorer.get_by_role("button", name=re.compile("multi-offset recall")).click()
    expect(stats).to_contain_text("(width 64)", timeout=WAIT_MS)
    expect(stats).to_contain_text("16 heads of size d = 4")
    errors = error_outputs(page)
    assert not errors, "errors after using the explorer:\n" + "\n".join(errors)


def test_live_loss_plot_is_redrawn_in_place_while_the_model_trains(page, lab):
    run_cleanly(page, lab, LIVE_LOSS_DEMO)
    outputs = page.locator(".jp-Notebook .jp-Cell.jp-CodeCell .jp-OutputArea")
    training, empty = outputs.nth(0), outputs.nth(1)
    expect(training).to_contain_text("40/40", timeout=WAIT_MS)  # the run's progress bar
    pictures = training.locator("img")
    expect(pictures).to_have_count(1)  # updated in place: one picture, not one per redraw
    blank = empty.locator("img")
    expect(blank).to_have_count(1)
    png_of(pictures.first)
    drawn, before = pictures.first.get_attribute("src"), blank.first.get_attribute("src")
    assert drawn.startswith("data:image/png") and before.startswith("data:image/png")
    assert drawn != before, "the picture is the empty plot: the loss curve was never drawn"


def test_tqdm_progress_bar_renders_as_a_widget(page, lab):
    run_cleanly(page, lab, TQDM_DEMO)
    row = (
        page.locator(".jp-OutputArea-output .widget-hbox")
        .filter(has=page.locator(".widget-hprogress"))
        .first
    )
    expect(row).to_be_visible(timeout=WAIT_MS)
    expect(row).to_contain_text("20/20", timeout=WAIT_MS)
    expect(row).to_contain_text("100%")
    filled = row.locator(".widget-hprogress .progress-bar").evaluate("e => e.style.width")
    assert filled == "100%", f"the progress bar is filled to {filled}, not 100%"


def test_setup_notebook_interact_slider_reruns_the_demo(page, lab):
    run_cleanly(page, lab, "solutions/00_setup.ipynb")
    slider = page.locator(".widget-slider").filter(has_text="temperature").get_by_role("slider")
    expect(slider).to_be_visible(timeout=WAIT_MS)
    area = page.locator(".jp-OutputArea-output").filter(has=slider).first
    printed = area.locator(".widget-output")
    expect(printed).to_contain_text("cat", timeout=WAIT_MS)
    before = printed.inner_text()
    slider.focus()
    slider.press("ArrowRight")
    expect(printed).not_to_have_text(before, timeout=WAIT_MS)
    expect(printed).to_contain_text("cat")


def test_student_notebook_shows_the_stub_and_locks_the_checks(page, lab, screenshots):
    path = "notebooks/01_scaled_dot_product_attention.ipynb"
    open_notebook(page, lab, path, workspace="student-01")
    notebook = {c["id"]: c for c in cells(page)}
    answer, check = notebook["sdpa-answer"], notebook["sdpa-check"]

    # What the student sees: the stub in the answer cell's editor, the check cell read-only.
    answer_cell = notebook_cell(page, answer["index"])
    check_cell = notebook_cell(page, check["index"])
    expect(answer_cell.locator(".cm-content")).to_contain_text("raise NotImplementedError()")
    assert answer["editable"] is not False
    assert check["editable"] is False, "the check cell is not locked (metadata editable)"
    expect(check_cell.locator(".cm-content")).to_have_attribute("aria-readonly", "true")
    expect(check_cell.locator(".cm-editor")).to_have_class(READ_ONLY)
    expect(answer_cell.locator(".cm-editor")).not_to_have_class(READ_ONLY)
    header = notebook_cell(page, notebook["exercise-header"]["index"])
    header.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.screenshot(path=screenshots / "student_notebook.png", animations="disabled")

    # Typing: the check cell ignores it, the answer cell takes it.
    for cell in (check_cell, answer_cell):
        cell.locator(".cm-content").click()
        page.keyboard.press("Control+End")
        page.keyboard.type("\n# typed by the test")
    notebook = {c["id"]: c for c in cells(page)}
    assert notebook["sdpa-check"]["source"] == check["source"], "typing changed a locked cell"
    assert "# typed by the test" in notebook["sdpa-answer"]["source"], "the answer cell is locked"
