"""axe-core in the browser tests: WCAG 2.0/2.1 A and AA rules, run on a page as it is.

axe-core comes from npm, pinned in ``package.json``/``package-lock.json`` and installed
by ``make`` (``npm ci``, the ``node_modules/.stamp`` target that ``make unit`` needs);
a test never downloads it, and without it the test fails naming the fix (never a skip).

The script is evaluated through the DevTools protocol (``page.evaluate``), not added as
a ``<script>`` tag: our own pages send ``Content-Security-Policy: default-src 'none'``,
which blocks an inline script, and turning the policy off for the test
(``bypass_csp``) would check a page that users never get. It reaches into open shadow
roots, so the widget is checked inside its Shadow DOM.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_VERSION = "4.14.1"  # as pinned in package.json
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")

# axe.run resolves to its results; only what a failure message needs is sent back.
_RUN = """async (tags) => {
  const results = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                           resultTypes: ['violations']});
  return results.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target.map(t => Array.isArray(t) ? t.join(' >>> ') : t),
                              summary: n.failureSummary || ''}))
  }));
}"""


@cache
def axe_source() -> str:
    """axe.min.js, read once per session; a missing install fails the test."""
    if not AXE_JS.is_file():
        pytest.fail(f"axe-core saknas ({AXE_JS}): kör `npm ci --no-audit --no-fund` i "
                    "projektets rot (make test gör det); testerna laddar aldrig ned något")
    return AXE_JS.read_text(encoding="utf-8")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """The WCAG 2.0/2.1 A and AA violations on ``page`` now."""
    if not page.evaluate("typeof window.axe === 'object' && !!window.axe.run"):
        page.evaluate(axe_source())
    version = page.evaluate("window.axe.version")
    assert version == AXE_VERSION, f"axe-core {version}, package.json pins {AXE_VERSION}"
    return list(page.evaluate(_RUN, list(WCAG_TAGS)))


def describe(violations: list[dict[str, Any]]) -> str:
    """One block per violation: its id, impact and rule, then each node and why."""
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"]:
            summary = " ".join(str(node["summary"]).split())
            lines.append(f"    {', '.join(node['target'])}: {summary}")
    return "\n".join(lines)


def assert_accessible(page: Page, what: str) -> None:
    """No axe violation of the WCAG 2.0/2.1 A and AA rules on ``page`` (``what`` names
    the page and state in the failure)."""
    violations = axe_violations(page)
    assert not violations, (f"axe-core: {len(violations)} WCAG violation(s) on {what}:\n"
                            + describe(violations))
