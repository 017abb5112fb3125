"""The reports in a real browser (Debian's chromium driven by playwright, over file:// URLs,
offline): content is there, no console or page errors, the summary's table sorts, and a
<script> printed by a submission is shown as text and never runs."""

from __future__ import annotations

from pathlib import Path

import pytest

import report_fixtures as fx
from grader.report import write_class_reports

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
    assert page.page.title() == "Grace: 72 / 100"
    assert page.page.locator("#total").inner_text() == "72 / 100 points"
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
    page.page.wait_for_url("**/Grace/index.html")
    assert page.page.title() == "Grace: 72 / 100"
    assert page.errors == []
