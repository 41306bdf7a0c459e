"""Screenshots of the HTML eval report for the README (docs/screenshots/eval-report*.png).

Usage: .venv/bin/python scripts/eval-report-screenshots.py REPORT.html [COMPARE.html]
(REPORT from ``assistant eval … --html``, COMPARE from ``assistant eval compare … --html``).
Drives Debian's chromium headless, with the browser tests' switches (tests/support/browser.py);
the page is opened from a file URL and loads nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the repository's own modules come first

from tests.support.browser import launch_chromium  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def main(report: str, compare: str | None = None) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(Path(report).resolve().as_uri())
        page.wait_for_selector("body[data-ready=true]")
        page.screenshot(path=str(OUT / "eval-report.png"))
        first_failing = page.locator("tr.q-row.fail").first
        first_failing.click()
        page.locator("#questions").scroll_into_view_if_needed()
        page.evaluate("document.querySelector('#questions').scrollIntoView()")
        page.screenshot(path=str(OUT / "eval-report-question.png"))
        if compare:
            page.goto(Path(compare).resolve().as_uri())
            page.wait_for_selector("body[data-ready=true]")
            page.screenshot(path=str(OUT / "eval-compare.png"))
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
