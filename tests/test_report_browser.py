"""The reports in a real browser (Debian's chromium driven by playwright, over file:// URLs,
offline): content is there, no console or page errors, the summary's table sorts, and a
<script> printed by a submission is shown as text and never runs."""

from __future__ import annotations

from pathlib import Path

import pytest

import report_fixtures as fx
from grader import spec
from grader.report import write_class_reports, write_reports

pytestmark = pytest.mark.slow  # the reports opened in a real browser

if not Path(fx.CHROMIUM).exists():
    pytest.skip(f"browser tests need Debian's chromium at {fx.CHROMIUM} (apt-get install -y chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright (pip install playwright)")


class Opened:
    """A page with every console error, page error and dialog it produced."""

    def __init__(self, browser, path: Path):
        self.page = browser.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("dialog", self._dialog)
        self.page.goto(path.as_uri())

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def column(self, index: int) -> list[str]:
        return self.page.locator(f"#students tbody tr td:nth-child({index})").all_inner_texts()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = fx.launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    reports_dir = fx.write_class(tmp_path_factory.mktemp("reports"))
    write_class_reports(reports_dir)
    return reports_dir


@pytest.fixture
def opened(browser):
    pages: list[Opened] = []

    def open_page(path: Path) -> Opened:
        pages.append(Opened(browser, path))
        return pages[-1]

    yield open_page
    for p in pages:
        p.page.close()


def test_every_page_loads_without_errors(reports, opened):
    for path in [reports / "index.html", *sorted(reports.glob("students/*/index.html"))]:
        page = opened(path)
        assert page.page.locator("h1").count() == 1, path
        assert (page.errors, page.dialogs) == ([], []), path


def test_printed_script_is_shown_as_text_and_never_runs(reports, opened):
    page = opened(reports / "students" / "mallory" / "index.html")
    page.page.wait_for_load_state("load")
    assert page.page.locator("pre.output").inner_text() == fx.SCRIPT
    assert fx.HTML_MESSAGE in page.page.locator("body").inner_text()
    # none of the submission's tags became elements (the page itself uses <b> only for labels)
    assert page.page.locator("script, img, i").count() == 0
    assert page.page.locator("b", has_text="bold").count() == 0
    assert (page.dialogs, page.errors) == ([], [])


def test_student_page_content(reports, opened):
    page = opened(reports / "students" / "Grace" / "index.html")
    assert page.page.title() == "Grace: 72 / 88"  # checkpoint.test_mse (12) is checked at grading time
    assert page.page.locator("#total").inner_text() == "72 / 88 points"
    assert page.page.locator("#training-curve + .card svg polyline").count() == 2
    failing = page.page.locator('[id="check-backward.matches_reference"]')
    assert failing.get_attribute("open") == ""
    assert fx.GRADIENT_HINT in failing.inner_text()
    passed = page.page.locator('[id="check-structure.imports"]')
    assert passed.get_attribute("open") is None
    passed.locator("summary").click()
    assert passed.get_attribute("open") == ""


def test_summary_table_sorts_by_clicked_header(reports, opened):
    page = opened(reports / "index.html")
    assert page.column(1) == ["ada", "Grace", "mallory", "zed-crashed"]
    header = page.page.locator("#students th", has_text="total")
    header.click()
    assert page.column(1) == ["zed-crashed", "Grace", "mallory", "ada"]
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert page.column(1) == ["ada", "mallory", "Grace", "zed-crashed"]
    assert header.get_attribute("aria-sort") == "descending"
    page.page.locator("#students th", has_text="forward").click()
    assert page.column(1) == ["zed-crashed", "mallory", "ada", "Grace"]  # ties keep the previous order
    page.page.locator("#students th", has_text="student").click()
    assert page.column(1) == ["ada", "Grace", "mallory", "zed-crashed"]
    assert page.errors == []


def test_summary_links_open_student_pages(reports, opened):
    page = opened(reports / "index.html")
    assert page.page.locator("#histogram svg rect").count() == 10
    page.page.locator("#students a", has_text="Grace").click()
    page.page.wait_for_url("**/students/Grace/index.html")
    assert page.page.title() == "Grace: 72 / 88"
    assert page.errors == []


@pytest.fixture(scope="module")
def mixed_class(tmp_path_factory) -> Path:
    """The four students of mlp-regression and one of mlp-classification, with a long name."""
    reports_dir = fx.write_class(tmp_path_factory.mktemp("mixed"))
    digits = fx.build("dora-with-a-rather-long-student-folder-name", {
        "forward.rowwise": fx.Outcome(fx.check("forward.rowwise", "mlp-classification"), 0.0, "failed", "rows mix")},
        assignment="mlp-classification")
    digits.assignment = "mlp-classification"
    write_reports(digits, reports_dir)
    write_class_reports(reports_dir)
    return reports_dir


def test_the_class_page_fits_1280_pixels_and_keeps_each_assignments_checks_apart(mixed_class, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto((mixed_class / "index.html").as_uri())
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        overflowing = page.evaluate("""Array.from(document.querySelectorAll('.card, table'))
            .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.id || e.className)""")
        assert overflowing == []
        tables = {t.get_attribute("id"): t.locator("tbody tr").count() for t in page.locator("table.pass-rates").all()}
        assert tables == {"pass-rates-mlp-classification": 24, "pass-rates-mlp-regression": 24}
        assert page.locator("table.pass-rates tr[data-assignment='mlp-regression']").count() == 24
    finally:
        page.close()


def test_the_student_page_shows_no_internal_diagnosis(tmp_path, browser):
    result = fx.with_failures()
    gradient = next(o for o in result.outcomes if o.check.id == "backward.matches_reference")
    gradient.details["diagnosis"] = {"ids": ["forgot_factor_2"], "evidence": {"probe_rows": [1, 2]}}
    write_reports(result, tmp_path)
    page = browser.new_page()
    try:
        page.goto((tmp_path / "students" / "Grace" / "index.html").as_uri())
        text = page.locator("body").inner_text()
        assert fx.GRADIENT_HINT in text  # what the diagnosis says, in words
        assert not any(word in text for word in ("probe_rows", "evidence", "forgot_factor_2", "diagnosis"))
    finally:
        page.close()
