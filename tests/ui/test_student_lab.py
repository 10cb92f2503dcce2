"""What a student sees in the course's lab (started as `make lab` starts it): no instructor
interface, no pop-ups, a blank notebook that runs to the end, verdicts without internals, and a
hint after a kernel restart.
"""

from __future__ import annotations

import re
import urllib.error

import pytest

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the browser_available fixture skips the tests (fails them under CI=true)
    Page = expect = None

from tests.ui.conftest import WAIT_MS
from tests.ui.lab_page import (
    cells,
    notebook_cell,
    open_notebook,
    printed,
    restart_kernel,
    run_at,
    run_every_cell,
    wait_for_widgets,
)

pytestmark = pytest.mark.ui

STUDENT_01 = "work/01_scaled_dot_product_attention.ipynb"
STUDENT_04 = "work/04_multi_head_attention.ipynb"
NEWS_WAIT_MS = 8_000  # JupyterLab asks about news a few seconds after the page loads
INTERNALS = ("skipping hidden", "attn_course/", "site-packages", "Traceback")


def errors_by_cell(page: Page) -> dict[str, list[dict]]:
    """Error outputs by grade id (or cell index)."""
    found = {}
    for cell in cells(page):
        errors = [o for o in cell["outputs"] if o.get("output_type") == "error"]
        if errors:
            found[cell["id"] or str(cell["index"])] = errors
    return found


def server_warnings(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith("[W ") or "WARNING" in line]


def test_the_students_lab_has_no_instructor_interface_and_no_news_popup(page, lab, screenshots):
    log = lab.log.read_text(errors="replace")
    started = log[: log.index("is running at")]
    assert not server_warnings(started), "warnings as the lab started:\n" + started
    assert "nbgrader_config" not in started
    seen = len(log)
    open_notebook(page, lab, STUDENT_01, workspace="student-lab")
    menus = page.locator("#jp-menu-panel .lm-MenuBar-itemLabel")
    expect(menus.filter(has_text=re.compile(r"^File$"))).to_have_count(1)  # the locator works
    page.wait_for_timeout(NEWS_WAIT_MS)

    labels = menus.all_inner_texts()
    assert not [m for m in labels if "nbgrader" in m.lower()], f"menus: {labels}"
    side_tabs = page.locator(".jp-SideBar .lm-TabBar-tab").evaluate_all(
        "tabs => tabs.map(t => (t.getAttribute('title') || '') + ' ' + t.textContent)"
    )
    assert not [t for t in side_tabs if re.search("assignment|nbgrader", t, re.I)], side_tabs
    toolbar = page.locator(".jp-NotebookPanel-toolbar").inner_text()
    assert "Validate" not in toolbar, f"nbgrader's Validate button: {toolbar!r}"
    toasts = page.locator(".Toastify__toast").all_inner_texts()
    assert not toasts, f"pop-ups a student has to dismiss: {toasts}"
    page.screenshot(path=screenshots / "student_lab.png", animations="disabled")

    opened = lab.log.read_text(errors="replace")[seen:]  # the page, the notebook, its kernel
    assert not server_warnings(opened), "warnings in the lab's log:\n" + opened

    for endpoint in ("formgrader", "assignments"):  # nbgrader's server side is off too
        with pytest.raises(urllib.error.HTTPError) as missing:
            lab.api("GET", f"../{endpoint}")
        assert missing.value.code == 404, endpoint


def test_run_all_on_the_blank_notebook_04_reaches_the_explorer(page, lab, screenshots):
    open_notebook(page, lab, STUDENT_04, workspace="student-04-blank")
    notebook = run_every_cell(page)

    # Only the checks fail, each with its verdict and nothing of the package.
    checks = {c["id"] for c in notebook if c["id"] and c["id"].endswith("-check")}
    failed = errors_by_cell(page)
    assert set(failed) == checks, f"failed cells {sorted(failed)}, checks {sorted(checks)}"
    for grade_id, (error, *_) in failed.items():
        assert error["ename"] == "CheckFailed", (grade_id, error["ename"], error["evalue"])
    check_text = notebook_cell(page, next(c["index"] for c in notebook if c["id"] in checks))
    shown = check_text.locator(".jp-OutputArea-output").inner_text()
    assert shown.lstrip().startswith("✗"), shown[:300]
    for internal in INTERNALS:
        assert internal not in shown, f"{internal!r} in a check's output:\n{shown[:1500]}"

    # The showpiece ran: the explorer's picture is in the page.
    explorer = notebook_cell(page, next(c["index"] for c in notebook if c["id"] == "explorer"))
    explorer.scroll_into_view_if_needed()
    image = explorer.locator(".jp-OutputArea-output img").first
    expect(image).to_be_visible(timeout=WAIT_MS)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=image.element_handle(), timeout=WAIT_MS)  # fmt: skip
    wait_for_widgets(page)
    explorer.screenshot(path=screenshots / "blank_04_explorer.png", animations="disabled")


def test_a_check_run_after_a_restart_says_to_run_the_cells_above(page, lab):
    open_notebook(page, lab, STUDENT_01, workspace="student-restart")
    restart_kernel(page)
    index = next(c["index"] for c in cells(page) if c["id"] == "sdpa-check")
    run_at(page, index)
    output = notebook_cell(page, index).locator(".jp-OutputArea-output")
    expect(output).to_contain_text("NameError", timeout=WAIT_MS)
    expect(output).to_contain_text("run the cells above")
    expect(output).to_contain_text("Run All Above Selected Cell")


STUDENT_05 = "work/05_why_several_heads.ipynb"
RUN_ALL_05_MS = 300_000  # five live training runs: about 50 s on 2 quiet cores, more when busy


def test_run_all_on_the_blank_notebook_05_trains_with_progress_bars(page, lab, screenshots):
    """Notebook 05 trains models live: Run All on the blank copy shows every progress bar
    finished, every figure, and only the exercise's check failing."""
    open_notebook(page, lab, STUDENT_05, workspace="student-05-blank")
    notebook = run_every_cell(page, timeout_ms=RUN_ALL_05_MS)
    failed = errors_by_cell(page)
    assert set(failed) == {"profile-check"}, sorted(failed)
    assert failed["profile-check"][0]["ename"] == "CheckFailed"

    wait_for_widgets(page)
    # tqdm.auto draws each loop as a widget: one bar per training run and the sizes' loop,
    # each at its end (1000 steps for offset recall, 400 for copy memory, 6 lengths)
    bars = page.locator(".jp-OutputArea-output .widget-hprogress").count()
    assert bars == 6, f"{bars} progress bars, expected 6"
    texts = page.locator(".jp-OutputArea-output .widget-html-content").all_inner_texts()
    finished = [t for t in texts if re.search(r"(1000/1000|400/400|6/6)", t)]
    assert len(finished) == 6, texts

    # the demo after the failed check fell back to the reference, and said so
    demo = next(c for c in notebook if c["id"] == "profile-demo")
    shown = printed(demo)
    assert "reference" in shown and "head 3:" in shown, shown[:500]

    figures = page.locator(".jp-OutputArea-output img")
    assert figures.count() == 4, f"{figures.count()} figures, expected 4"
    curves = notebook_cell(page, next(c["index"] for c in notebook if c["id"] == "curves"))
    curves.scroll_into_view_if_needed()
    curves.screenshot(path=screenshots / "blank_05_learning_curves.png", animations="disabled")


STUDENT_10 = "work/10_tiny_gpt.ipynb"
CHECKS_10 = {"mha-check", "block-check", "cache-check", "induction-check"}


def test_run_all_on_the_blank_notebook_10_trains_on_the_course_classes(page, lab, screenshots):
    """The capstone with nothing written: Run All trains the GPT and the induction model on the
    course's classes, says so, redraws both live loss plots, and only the four checks fail."""
    open_notebook(page, lab, STUDENT_10, workspace="student-10-blank")
    notebook = run_every_cell(page, timeout_ms=RUN_ALL_05_MS)
    failed = errors_by_cell(page)
    assert set(failed) == CHECKS_10, sorted(failed)
    assert all(errors[0]["ename"] == "CheckFailed" for errors in failed.values())

    shown = {c["id"]: printed(c) for c in notebook if c["id"]}
    notes = shown["assemble"]
    assert "`MultiHeadSelfAttention` is not written yet" in notes, notes[:400]
    assert "`pre_ln_block` is not written yet" in notes, notes[:400]
    assert "`attend_with_cache` is not written yet" in shown["cache-compare"]
    assert "max |cached - uncached logits|" in shown["cache-compare"]
    assert "`induction_score` is not written yet" in shown["scores"]
    assert not any(s in printed(c) for c in notebook for s in INTERNALS)

    wait_for_widgets(page)
    texts = page.locator(".jp-OutputArea-output .widget-html-content").all_inner_texts()
    assert [t for t in texts if "200/200" in t] and [t for t in texts if "1000/1000" in t], texts
    for cell_id in ("train-live", "induction-train"):  # one live plot each, redrawn in place
        index = next(c["index"] for c in notebook if c["id"] == cell_id)
        expect(notebook_cell(page, index).locator(".jp-OutputArea-output img")).to_have_count(1)
    live = notebook_cell(page, next(c["index"] for c in notebook if c["id"] == "induction-train"))
    live.scroll_into_view_if_needed()
    live.screenshot(path=screenshots / "blank_10_induction_training.png", animations="disabled")
