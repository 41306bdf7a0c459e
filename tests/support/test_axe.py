"""The axe helper finds what it should: a check that passes everything would prove nothing."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from tests.support.axe import AXE_VERSION, assert_accessible, axe_violations, describe

pytestmark = [pytest.mark.browser]

BAD_PAGE = """<!doctype html><html lang="sv"><head><title>Dålig sida</title></head><body><main>
<h1>Dålig sida</h1>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<div id="scroller" style="height: 40px; overflow: auto"><p>rad</p><p>rad</p><p>rad</p>
<p>rad</p><p>rad</p></div>
<div role="list"><button>Inte ett listelement</button></div>
</main></body></html>"""

GOOD_PAGE = """<!doctype html><html lang="sv"><head><title>Bra sida</title></head><body><main>
<h1>Bra sida</h1><p>Text.</p>
<div id="scroller" tabindex="0" role="region" aria-label="Utdrag"
     style="height: 40px; overflow: auto"><p>rad</p><p>rad</p><p>rad</p><p>rad</p></div>
</main></body></html>"""


def test_axe_reports_each_violation_with_its_nodes(browser: Browser) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(BAD_PAGE)
        violations = axe_violations(page)
        found = {v["id"]: v for v in violations}
        assert {"image-alt", "scrollable-region-focusable",
                "aria-required-children"} <= set(found)
        assert found["image-alt"]["impact"] == "critical"
        text = describe(violations)
        assert "scrollable-region-focusable (serious)" in text and "#scroller" in text
        with pytest.raises(AssertionError, match="WCAG violation"):
            assert_accessible(page, "the bad page")

        page.set_content(GOOD_PAGE)
        assert_accessible(page, "the good page")
        assert page.evaluate("axe.version") == AXE_VERSION
    finally:
        context.close()
