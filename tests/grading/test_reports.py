"""What the instructor and the students read, without kernels: student copies refused, the
nbgrader-shaped export, pending written answers, titles, and Markdown and math drawn safely."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from attn_course.grading import manual
from attn_course.grading.feedback import feedback_html
from attn_course.grading.markup import inline_html, to_html
from attn_course.grading.mathsvg import tex_svg
from attn_course.grading.reports import by_student_csv, grades_csv, summary, write_reports
from attn_course.grading.results import ItemResult, Store, SubmissionResult
from attn_course.grading.source import lacks, load_source, parse_source, student_copy_problem
from attn_course.grading.titles import titles
from tests.grading import corpus

SOLUTIONS = sorted((corpus.ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
STUDENT_COPIES = sorted((corpus.ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
HOSTILE = ("Fine. <script>alert('answer')</script> <img src=x onerror=alert(2)> "
           "[click](javascript:alert(3)) [data](data:text/html,<script>alert(4)</script>) "
           "![pixel](https://tracker.example/p.png) and $e^{x_i - c}$.\n\n"
           "<iframe src='https://example.org'></iframe>\n")


def _misuse(capsys, *args: str) -> str:
    from attn_course.cli import main

    assert main(list(args)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def result_for(assignment, name: str, scores: dict[str, float | None],
               answers: dict[str, str] | None = None) -> SubmissionResult:
    """A stored-looking result of `assignment`: each item's score (None: awaiting a hand)."""
    items = []
    for item in assignment.items:
        score = scores.get(item.grade_id, 0.0)
        status = ("manual" if score is None else "passed" if item.kind == "auto" and score
                  else "failed" if item.kind == "auto" else "graded")
        items.append(ItemResult(item.grade_id, item.kind, item.points, score, status,
                                "Test failed.\nLikely mistake: x\n  Fix: y" if status == "failed"
                                else ""))
    return SubmissionResult(name, f"/class/{name}.ipynb", "sha", assignment.name,
                            assignment.sha256, "graded", items=items, answers=answers or {},
                            graded_at="2026-01-01T10:00:00")


# ---- student copies -----------------------------------------------------------------------------
@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_every_course_source_is_a_source(path):
    assert student_copy_problem(load_source(path)) == ""


@pytest.mark.parametrize("path", STUDENT_COPIES, ids=lambda p: p.stem)
def test_every_student_copy_is_refused_with_what_to_pass_instead(path):
    problem = student_copy_problem(load_source(path))
    assert str(path) in problem and "holds a solution" in problem
    assert f"solutions/{path.name}" in problem and "--allow-student-source" in problem
    assert lacks(load_source(path)) == ["model answers", "hidden tests"]


def _variant(tmp_path, drop: tuple[str, ...]):
    """The course's notebook 00 without the lines that mention any of `drop`."""
    nb = nbformat.read(corpus.SOURCE, as_version=4)
    for cell in nb.cells:
        cell.source = "\n".join(ln for ln in cell.source.splitlines()
                                if not any(d in ln for d in drop))
    return parse_source(nb, tmp_path / "00_setup.ipynb", "0")


def test_sources_without_hidden_tests_or_markers_are_still_sources(tmp_path):
    no_hidden = _variant(tmp_path, ("HIDDEN TESTS", "seed=7"))
    assert lacks(no_hidden) == ["hidden tests"] and student_copy_problem(no_hidden) == ""
    whole_cells = _variant(tmp_path, ("SOLUTION",))  # nbgrader's other way: whole-cell answers
    assert lacks(whole_cells) == [] and student_copy_problem(whole_cells) == ""


def test_a_students_filled_in_notebook_is_no_source(tmp_path):
    path = tmp_path / "alice.ipynb"
    path.write_bytes(corpus.dump(corpus.filled(corpus.CORRECT, corpus.ESSAY)))
    assignment = load_source(path)
    assert lacks(assignment) == ["model answers", "hidden tests"]
    assert "alice.ipynb is a student notebook" in student_copy_problem(assignment)


def test_the_cli_refuses_a_student_copy(tmp_path, capsys):
    sub = tmp_path / "s.ipynb"
    sub.write_bytes(corpus.dump(corpus.student()))
    err = _misuse(capsys, "grade", "--source", str(corpus.STUDENT), "--out",
                  str(tmp_path / "out"), str(sub))
    assert "is a student notebook, not a source" in err
    assert f"--source {corpus.SOURCE}" in err and "no hidden tests" in err
    assert not (tmp_path / "out" / "results").exists()  # nothing graded


def test_an_allowed_student_copy_shows_no_model_answer(tmp_path, capsys):
    from attn_course.cli import main

    assignment = load_source(corpus.STUDENT)
    store = Store(tmp_path / "out")
    store.prepare()
    store.save(result_for(assignment, "alice", {"softmax-check": 3.0, "why-max": None},
                          {"why-max": corpus.ESSAY}))
    assert main(["grade", "--source", str(corpus.STUDENT), "--out", str(store.outdir),
                 "--allow-student-source"]) == 0
    out = capsys.readouterr().out
    assert "is a student copy" in out and "no model answers" in out
    assert "no hidden tests (only its public tests count)" in out
    page = (store.outdir / "manual" / "why-max.html").read_text()
    assert "YOUR ANSWER HERE" not in page and "hold no solution" in page
    assert corpus.ESSAY[:40] in page


# ---- the nbgrader-shaped export ------------------------------------------------------------------
def nbgrader_columns() -> list[str]:
    """The header `nbgrader export` writes, from the installed nbgrader itself."""
    from types import SimpleNamespace

    from nbgrader.plugins.export import CsvExportPlugin

    out = Path(pytest.importorskip("tempfile").mkdtemp()) / "grades.csv"
    CsvExportPlugin(to=str(out)).export(SimpleNamespace(assignments=[], students=[]))
    return out.read_text().strip().split(",")


def test_grades_by_student_has_nbgraders_columns_and_shows_what_is_pending():
    pytest.importorskip("nbgrader")
    assignment = load_source(corpus.SOURCE)
    results = [result_for(assignment, "alice", {"softmax-check": 3.0, "why-max": None}),
               result_for(assignment, "bob", {"softmax-check": 3.0, "why-max": 1.5}),
               result_for(assignment, "=cmd|calc", {"softmax-check": 0.0, "why-max": 0.0})]
    rows = list(csv.reader(io.StringIO(by_student_csv(assignment, results))))
    assert rows[0][:11] == nbgrader_columns()
    assert rows[0][11:] == ["needs_manual_grade", "manual_pending"]
    got = {r[3]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert len(rows) == 4 and set(got) == {"alice", "bob", "'=cmd|calc"}  # formula-safe
    alice, bob = got["alice"], got["bob"]
    assert alice["assignment"] == "00_setup" and alice["max_score"] == "5"
    assert (alice["raw_score"], alice["score"], alice["late_submission_penalty"]) == ("3", "3", "0")
    assert (alice["needs_manual_grade"], alice["manual_pending"]) == ("True", "1")
    assert (bob["score"], bob["needs_manual_grade"], bob["manual_pending"]) == ("4.5", "False", "0")


def test_grades_csv_keeps_one_line_per_item():
    assignment = load_source(corpus.SOURCE)
    text = grades_csv([result_for(assignment, "bob", {"softmax-check": 0.0, "why-max": None})])
    assert len(text.splitlines()) == 3
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["message"] == "Test failed. | Likely mistake: x | Fix: y"


def test_reports_are_written_together(tmp_path):
    assignment = load_source(corpus.SOURCE)
    store = Store(tmp_path)
    store.prepare()
    store.save(result_for(assignment, "alice", {"softmax-check": 3.0, "why-max": None}))
    write_reports(store, assignment)
    for name in ("grades.csv", "grades_by_student.csv", "grades.json",
                 "feedback/alice.html", "manual/why-max.html"):
        assert (tmp_path / name).is_file(), name


# ---- pending written answers -------------------------------------------------------------------
def test_the_summary_counts_pending_answers_as_pending_not_zero():
    assignment = load_source(corpus.SOURCE)
    results = [result_for(assignment, "alice", {"softmax-check": 3.0, "why-max": None}),
               result_for(assignment, "bob", {"softmax-check": 3.0, "why-max": 2.0})]
    text = summary(assignment, results)
    total = next(ln for ln in text.splitlines() if ln.startswith("total"))
    assert "5.00" in total and "(1 fully graded)" in total  # bob alone: 5 of 5
    assert "Score distribution (1 fully graded submissions): 0-20%: 0" in text
    assert "80-100%: 1" in text
    assert "Pending: 1 submission(s) have written answers still to be graded by hand" in text
    assert "Autograded part, 3 points (2 submissions): mean 3.00" in text
    everyone = summary(assignment, results[1:])
    assert "Pending" not in everyone and "Score distribution (1 fully graded" in everyone


def test_feedback_says_pending_and_the_range_of_the_final_score():
    assignment = load_source(corpus.SOURCE)
    page = feedback_html(assignment, result_for(assignment, "alice",
                                                {"softmax-check": 3.0, "why-max": None}))
    assert "3 / 5 points so far" in page and "between 3 and 5" in page
    assert "pending, up to 2 points" in page and "0 / 2" not in page


# ---- titles ------------------------------------------------------------------------------------
def test_feedback_headings_are_the_items_titles_with_math_drawn():
    assignment = load_source(corpus.ROOT / "solutions" / "01_scaled_dot_product_attention.ipynb")
    page = feedback_html(assignment, result_for(assignment, "alice", {"sdpa-check": 5.0}))
    headings = re.findall(r"<h2>(.*?)</h2>", page, re.S)
    assert any(h.startswith("Exercise: implement scaled dot-product attention") for h in headings)
    assert any(h.startswith("Written answer: Why divide by <svg") for h in headings)
    assert not any(h.startswith(("sdpa-check", "scaling-answer")) for h in headings)
    assert "$" not in "".join(headings) and "\\sqrt" not in "".join(headings).split("aria")[0]


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_every_course_item_has_a_title_of_its_own(path):
    assignment = load_source(path)
    names = titles(assignment)
    assert set(names) == {i.grade_id for i in assignment.items}
    assert len(set(names.values())) == len(names)
    for grade_id, title in names.items():
        assert title != grade_id and "BEGIN" not in title and not title[0].isdigit(), title


def test_titles_come_from_a_comment_a_heading_or_the_grade_id(tmp_path):
    def meta(grade_id, **flags):
        return {"nbgrader": {"schema_version": 3, "grade_id": grade_id, "locked": False,
                             "grade": False, "solution": False, "task": False, "points": 1,
                             **flags}}

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("check_softmax(softmax)", metadata=meta("early", grade=True)),
        nbformat.v4.new_markdown_cell("## 2. Masks\n\nText."),
        nbformat.v4.new_code_cell("### BEGIN HIDDEN TESTS\n# Test: a stable softmax\n"
                                  "check_softmax(softmax)\n### END HIDDEN TESTS",
                                  metadata=meta("commented", grade=True)),
        nbformat.v4.new_code_cell("check_softmax(softmax)", metadata=meta("a", grade=True)),
        nbformat.v4.new_code_cell("check_softmax(softmax)", metadata=meta("b", grade=True)),
        nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nBecause.\n### END SOLUTION",
                                      metadata=meta("essay", grade=True, solution=True)),
    ])
    names = titles(parse_source(nb, tmp_path / "x.ipynb", "0"))
    assert names == {"early": "early", "commented": "Test: a stable softmax", "a": "Masks",
                     "b": "Masks (2)", "essay": "Written answer: Masks"}


# ---- Markdown and math, drawn safely and offline -------------------------------------------------
def test_math_is_drawn_as_self_contained_svg():
    svg = tex_svg(r"\mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right) \le 1")
    root = ET.fromstring(svg)  # well-formed, one element
    assert root.tag.endswith("svg") and root.get("aria-label").startswith(r"\mathrm{softmax}")
    assert "id=" not in svg and "<use" not in svg and "<style" not in svg and "href" not in svg
    assert tex_svg(r"\begin{pmatrix} a \end{pmatrix}") is None  # mathtext cannot: None
    assert tex_svg("x" * 5000) is None  # too long to draw quickly


def live(page: str) -> list[str]:
    """What a browser would act on in `page`: elements that run or fetch, event handlers,
    links that are not http(s), style that could fetch."""
    from html.parser import HTMLParser

    found = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag in ("script", "img", "iframe", "object", "embed", "link", "style", "base",
                       "form", "meta") and not (tag == "meta" and attrs == [("charset", "utf-8")]) \
                    and not (tag == "style" and not attrs):
                found.append(tag)
            for name, value in attrs:
                if name.startswith("on") or name in ("src", "srcdoc", "action"):
                    found.append(f"{tag} {name}")
                if name in ("href", "xlink:href") and not (value or "").startswith(
                        ("https://", "http://", "mailto:")):
                    found.append(f"{tag} {name}={value}")

        def handle_data(self, data):
            if self.lasttag == "style" and ("url(" in data or "@import" in data):
                found.append("style fetches")

    Parser().feed(page)
    return found


def test_markdown_is_rendered_and_untrusted_html_is_not_live():
    out = to_html(HOSTILE + "\n$$\\frac{a}{b}$$\n\n$\\begin{pmatrix}<b>$\n")
    assert live(out) == []
    assert "&lt;script&gt;" in out and "&lt;iframe" in out and "onerror" in out  # as text
    assert "javascript:alert(3)" in out  # shown as text
    assert out.count("<svg") == 2  # $e^{x_i - c}$ and the fraction
    assert "<code class='tex'>$\\begin{pmatrix}&lt;b&gt;$</code>" in out  # TeX, escaped
    assert inline_html("Exercise: `causal_mask(T)`") == "Exercise: <code>causal_mask(T)</code>"
    assert '<a href="https://example.org" rel="nofollow' in to_html("[x](https://example.org)")


def test_a_flood_of_math_is_drawn_up_to_a_budget():
    out = to_html("$x$ " * 1000)
    assert out.count("<svg") == 200 and out.count("<code class='tex'>") == 800


def test_the_written_answer_page_renders_question_model_answer_and_answers_safely(tmp_path):
    assignment = load_source(corpus.SOURCE)
    results = [result_for(assignment, "mallory", {"why-max": None}, {"why-max": HOSTILE})]
    manual.export(tmp_path, assignment, results)
    page = (tmp_path / "manual" / "why-max.html").read_text()
    assert "<h1>00_setup: Written answer: Warm-up exercise" in page
    assert "Model answer." in page and "Rubric" in page and "$" not in page.split("<h2>Answers")[0]
    assert live(page) == []
    assert "&lt;script&gt;alert(&#x27;answer&#x27;)&lt;/script&gt;" in page  # escaped, twice
    assert "<details>" in page  # the answer as written, under a fold


def test_the_pages_run_nothing_and_fetch_nothing_in_a_browser(tmp_path):
    """The feedback and written-answer pages in Chromium: no dialog, no script, no request
    beyond the page itself, and the formulas drawn."""
    pytest.importorskip("playwright.sync_api")
    from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS, missing_browser

    if missing_browser():
        pytest.skip(missing_browser())
    from playwright.sync_api import sync_playwright

    assignment = load_source(corpus.SOURCE)
    store = Store(tmp_path)
    store.prepare()
    store.save(result_for(assignment, "mallory", {"why-max": None}, {"why-max": HOSTILE}))
    write_reports(store, assignment)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            dialogs, requests = [], []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("request", lambda r: requests.append(r.url))
            for name in ("manual/why-max.html", "feedback/mallory.html"):
                url = (tmp_path / name).as_uri()
                page.goto(url)
                page.wait_for_load_state("load")
                assert page.eval_on_selector_all("script, img, iframe", "els => els.length") == 0
                if name.startswith("manual"):
                    assert page.eval_on_selector_all("svg.math", "els => els.length") >= 5
                    page.click("summary")  # the answer as written: still text
                page.wait_for_timeout(300)
            assert dialogs == []
            assert [u for u in requests if not u.startswith("file://")] == []
        finally:
            browser.close()
