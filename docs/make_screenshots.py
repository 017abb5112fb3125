"""Make docs/report-student.png and docs/report-summary.png: the reports of the made-up
class in tests/report_fixtures.py, as Debian's chromium shows them.

    python docs/make_screenshots.py

Needs playwright (pip) and /usr/bin/chromium (apt); no network. Rerun it after changing
the templates so the README's pictures stay true.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "tests"))

import report_fixtures as fx  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from grader.report import write_class_reports  # noqa: E402

SHOTS = {"report-student.png": "students/Grace/index.html", "report-summary.png": "index.html"}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        reports = fx.write_class(Path(tmp))
        write_class_reports(reports)
        browser = fx.launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1200, "height": 900}, device_scale_factor=1)
        for name, relative in SHOTS.items():
            page.goto((reports / relative).as_uri())
            page.screenshot(path=DOCS / name, full_page=True)
            print(f"wrote {DOCS / name}")
        browser.close()


if __name__ == "__main__":
    main()
