"""Every page we serve passes axe-core's WCAG 2.0/2.1 A and AA rules, is usable by
keyboard alone, and reflows at 320 CSS px (WCAG 1.4.10).

The states checked with axe (``tests/support/axe.py``): the chat UI before and after an
answer, the widget closed, open and answered on the host page the widget tests use and
on ``/widget-demo``, a source page and ``/docs``. The keyboard tests press Tab and
Enter/Space only (no clicks) and check the order in which the main controls get focus.
At 320×640 no page lays out wider than the screen and the full-screen widget's send
button is on it; axe runs there too, since the small layout is a different page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.support.axe import assert_accessible
from tests.support.browser import NewPage
from tests.web.conftest import QUESTION, TROLLHATTAN_DOC, HostSite, LiveServer
from tests.web.test_browser import WIDGET, host_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NARROW: ViewportSize = {"width": 320, "height": 640}

# What has focus, through open shadow roots: tag, class, name, text and the ids of the
# element and its ancestors (across the shadow boundary), for the order assertions.
_FOCUSED = """() => {
  let e = document.activeElement;
  while (e && e.shadowRoot && e.shadowRoot.activeElement) e = e.shadowRoot.activeElement;
  if (!e || e === document.body) return {tag: 'body', cls: '', name: '', text: '', ids: []};
  const ids = [];
  for (let n = e; n; n = n.parentElement || (n.getRootNode().host || null)) {
    if (n.id) ids.push(n.id);
  }
  return {tag: e.tagName.toLowerCase(), cls: typeof e.className === 'string' ? e.className : '',
          name: e.getAttribute('aria-label') || '', text: (e.textContent || '').trim(), ids};
}"""


def focused(page: Page) -> dict[str, Any]:
    return dict(page.evaluate(_FOCUSED))


def tab(page: Page, key: str = "Tab") -> dict[str, Any]:
    page.keyboard.press(key)
    return focused(page)


def tab_until(page: Page, wanted: Callable[[dict[str, Any]], bool], limit: int = 40,
              key: str = "Tab") -> list[dict[str, Any]]:
    """Press ``key`` until ``wanted`` holds for the focused element; every stop on the way."""
    seen = []
    for _ in range(limit):
        now = tab(page, key)
        seen.append(now)
        if wanted(now):
            return seen
    raise AssertionError(f"not reached by {key} in {limit} presses: "
                         f"{[(s['tag'], s['name'] or s['text'][:30]) for s in seen]}")


def no_spell_check(page: Page) -> None:
    """Turn off spell checking in every text field, the widget's Shadow DOM included.

    A text field that gets focus from the keyboard makes Chromium fetch a spell-check
    dictionary from Google (``redirector.gvt1.com``), which the browser fixture's network
    check rightly fails. Nothing else about the fields changes."""
    page.evaluate("""() => {
      const walk = (root) => root.querySelectorAll('*').forEach((e) => {
        if (e.matches('textarea, input')) e.spellcheck = false;
        if (e.shadowRoot) walk(e.shadowRoot);
      });
      walk(document);
    }""")


def write(page: Page, text: str) -> None:
    """Text into the focused field, as the keyboard's input."""
    page.keyboard.insert_text(text)


def within(element_id: str, tag: str | None = None) -> Callable[[dict[str, Any]], bool]:
    return lambda f: element_id in f["ids"] and (tag is None or f["tag"] == tag)


def widget_control(cls: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: "skolassistent-widget" in f["ids"] and cls in f["cls"].split()


def wait_for_examples(page: Page) -> None:
    """The example questions, once ui.js has named them in Swedish."""
    first = page.locator("#chat .examples button.example").first
    expect(first).to_have_attribute("aria-label", re.compile(r"^Exempelfråga 1: "))


def answered_ui(page: Page) -> None:
    expect(page.locator('#chat a[href^="#kalla-"]').first).to_be_visible()
    expect(page.locator("#sources .sa-card").first).to_be_visible()
    expect(page.locator("#send")).to_be_enabled()


def answered_widget(page: Page) -> None:
    expect(page.locator(f"{WIDGET} .source-card").first).to_be_visible()
    expect(page.locator(f"{WIDGET} .log")).to_have_attribute("aria-busy", "false")


# --- axe: every page and state ----------------------------------------------------------------


def test_chat_ui_passes_axe_before_and_after_an_answer(
        live_server: LiveServer, new_page: NewPage) -> None:
    page, recorder = new_page()
    page.goto(f"{live_server.url}/")
    wait_for_examples(page)
    group = page.locator("#chat .examples")
    expect(group).to_have_attribute("role", "group")
    expect(group).to_have_attribute("aria-label", "Exempelfrågor")
    labels = page.locator("#chat .examples button.example").evaluate_all(
        "buttons => buttons.map(b => b.getAttribute('aria-label'))")
    assert labels and all(re.match(r"Exempelfråga \d: \S", label) for label in labels), labels
    assert not any("Select" in label for label in labels)
    assert_accessible(page, "the chat UI before a question")

    page.locator("#question textarea").fill(QUESTION)
    page.locator("#question textarea").press("Enter")
    answered_ui(page)
    passage = page.locator("#sources .sa-passage").first
    expect(passage).to_have_attribute("tabindex", "0")
    expect(passage).to_have_attribute("aria-label", re.compile(r"^Utdrag ur källa \d+$"))
    assert_accessible(page, "the chat UI after an answer")
    recorder.assert_only(live_server.url)
    assert recorder.errors == []


def test_widget_passes_axe_closed_open_and_answered(
        live_server: LiveServer, host_site: HostSite,
        new_page: NewPage) -> None:
    host_site.pages["/a11y.html"] = lambda: host_page(live_server.url)
    page, recorder = new_page()
    page.goto(f"{host_site.allowed_origin}/a11y.html")
    launcher = page.locator(f"{WIDGET} .launcher")
    expect(launcher).to_be_visible()
    assert_accessible(page, "the host page, widget closed")

    launcher.click()
    expect(page.locator(f"{WIDGET} textarea")).to_be_focused()
    assert_accessible(page, "the host page, widget open")

    page.locator(f"{WIDGET} textarea").fill(QUESTION)
    page.locator(f"{WIDGET} textarea").press("Enter")
    answered_widget(page)
    excerpt = page.locator(f"{WIDGET} .source-text").first
    expect(excerpt).to_have_attribute("tabindex", "0")
    expect(excerpt).to_have_attribute("aria-label", re.compile(r"^Utdrag ur källa \d+$"))
    assert_accessible(page, "the host page, widget answered")
    recorder.assert_only(live_server.url, host_site.allowed_origin)
    assert recorder.errors == []


def test_widget_demo_docs_and_source_pages_pass_axe(
        live_server: LiveServer, new_page: NewPage) -> None:
    page, recorder = new_page()
    page.goto(f"{live_server.url}/widget-demo")
    expect(page.locator(f"{WIDGET} .launcher")).to_be_visible()
    assert_accessible(page, "/widget-demo, widget closed")
    page.locator(f"{WIDGET} .launcher").click()
    page.locator(f"{WIDGET} textarea").fill(QUESTION)
    page.locator(f"{WIDGET} textarea").press("Enter")
    answered_widget(page)
    assert_accessible(page, "/widget-demo, widget answered")

    page.goto(f"{live_server.url}/docs")
    expect(page.locator("h1")).to_contain_text("Skolassistenten API")
    assert_accessible(page, "/docs")

    page.goto(f"{live_server.url}/api/sources/{TROLLHATTAN_DOC}")
    expect(page.locator("h1")).not_to_be_empty()
    assert_accessible(page, "a source page")
    recorder.assert_only(live_server.url)
    assert recorder.errors == []


# --- keyboard alone -------------------------------------------------------------------------


def test_chat_ui_by_keyboard_alone(
        live_server: LiveServer, new_page: NewPage) -> None:
    """From the question box (focused on load) Tab goes to "Skicka", the municipality and
    "Ny konversation", and on round the page to the example questions and back; an example
    asks with Enter, and a typed question is sent with Space on "Skicka"."""
    page, _ = new_page()
    page.goto(f"{live_server.url}/")
    wait_for_examples(page)
    no_spell_check(page)
    expect(page.locator("#question textarea")).to_be_focused()

    after = [tab(page) for _ in range(3)]
    assert [within("send")(after[0]), within("municipality")(after[1]),
            within("new-chat")(after[2])] == [True, True, True], after
    loop = tab_until(page, within("question", "textarea"))
    examples = [f["name"] for f in loop if "example" in f["cls"].split()]
    assert [name.split(":")[0] for name in examples] == [
        f"Exempelfråga {i}" for i in range(1, len(examples) + 1)], examples
    assert len(examples) >= 2

    # An example question, by Enter.
    tab_until(page, lambda f: f["name"].startswith("Exempelfråga 1:"), key="Shift+Tab")
    page.keyboard.press("Enter")
    answered_ui(page)
    first_answers = page.locator('#chat a[href^="#kalla-"]').count()

    # A typed question, sent with Space on "Skicka".
    tab_until(page, within("question", "textarea"))
    write(page, "Vad är 14-kommunersnätverket?")
    assert within("send")(tab(page))
    page.keyboard.press("Space")
    expect(page.locator("#chat")).to_contain_text("Vad är 14-kommunersnätverket?")
    expect(page.locator('#chat a[href^="#kalla-"]')).not_to_have_count(first_answers)


def _widget_by_keyboard(page: Page) -> None:
    """Tab to the launcher, open with Enter, ask with Enter, walk the panel, close with
    Space on "Stäng" (focus back on the launcher), open again with Space, Esc closes."""
    tab_until(page, widget_control("launcher"))
    page.keyboard.press("Enter")
    assert widget_control("input")(focused(page))  # focus moves into the panel
    write(page, QUESTION)
    page.keyboard.press("Enter")
    answered_widget(page)
    assert widget_control("input")(focused(page))
    assert widget_control("send")(tab(page))

    # Forward from the launcher: reset, close, the conversation, its sources, the input.
    tab_until(page, widget_control("launcher"))
    order = tab_until(page, widget_control("input"))
    kinds = [next((c for c in ("reset", "close", "log", "citation", "source-text",
                               "source-link") if c in f["cls"].split()), f["tag"])
             for f in order[:-1]]
    assert kinds[:3] == ["reset", "close", "log"], kinds
    assert {"citation", "source-text", "source-link"} <= set(kinds), kinds
    assert widget_control("send")(tab(page))

    tab_until(page, widget_control("close"), key="Shift+Tab")
    page.keyboard.press("Space")
    expect(page.locator(f"{WIDGET} .panel")).to_be_hidden()
    assert widget_control("launcher")(focused(page))
    page.keyboard.press("Space")
    expect(page.locator(f"{WIDGET} .panel")).to_be_visible()
    assert widget_control("input")(focused(page))
    page.keyboard.press("Escape")
    expect(page.locator(f"{WIDGET} .panel")).to_be_hidden()
    assert widget_control("launcher")(focused(page))


def test_widget_by_keyboard_alone_on_the_host_page(
        live_server: LiveServer, host_site: HostSite,
        new_page: NewPage) -> None:
    host_site.pages["/a11y-keys.html"] = lambda: host_page(live_server.url)
    page, _ = new_page()
    page.goto(f"{host_site.allowed_origin}/a11y-keys.html")
    expect(page.locator(f"{WIDGET} .launcher")).to_be_visible()
    no_spell_check(page)
    _widget_by_keyboard(page)


def test_widget_demo_and_docs_by_keyboard_alone(
        live_server: LiveServer, new_page: NewPage) -> None:
    page, _ = new_page()
    page.goto(f"{live_server.url}/widget-demo")
    expect(page.locator(f"{WIDGET} .launcher")).to_be_visible()
    no_spell_check(page)
    # The demo page's own links come first, in reading order, then the widget.
    stops = tab_until(page, widget_control("launcher"))
    texts = [f["text"] for f in stops if f["tag"] == "a"]
    assert texts[:5] == ["Start", "Nyheter", "Skolutveckling", "Personal", "Kontakt"], texts
    page.keyboard.press("Shift+Tab")
    _widget_by_keyboard(page)

    page.goto(f"{live_server.url}/docs")
    stops = tab_until(page, lambda f: f["text"] == "Widget-demo")
    assert [f["text"] for f in stops] == ["openapi.json", "Chatten", "Widget-demo"], stops
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/widget-demo")


# --- reflow at 320 CSS px -------------------------------------------------------------------


def page_width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def assert_reflows(page: Page, what: str) -> None:
    width = page_width(page)
    assert width <= NARROW["width"], f"{what} lays out {width} px wide on a 320 px screen"


def assert_widget_fits(page: Page, what: str) -> None:
    """The open widget fills the screen and its send button is on it."""
    for part in (".panel", ".send", "textarea", ".close"):
        box = page.locator(f"{WIDGET} {part}").bounding_box()
        assert box is not None, f"{part} not shown ({what})"
        assert box["x"] >= 0 and box["x"] + box["width"] <= NARROW["width"], (part, box, what)
        assert box["y"] >= 0 and box["y"] + box["height"] <= NARROW["height"], (part, box, what)


def test_chat_ui_reflows_at_320_px(
        live_server: LiveServer, new_page: NewPage) -> None:
    page, _ = new_page(NARROW)
    page.goto(f"{live_server.url}/")
    wait_for_examples(page)
    assert_reflows(page, "the chat UI")
    assert_accessible(page, "the chat UI at 320 px")
    page.locator("#question textarea").fill(QUESTION)
    page.locator("#question textarea").press("Enter")
    answered_ui(page)
    assert_reflows(page, "the chat UI with an answer")
    send = page.locator("#send").bounding_box()
    assert send is not None and send["x"] + send["width"] <= NARROW["width"], send
    assert_accessible(page, "the chat UI with an answer at 320 px")


def test_widget_demo_docs_and_source_pages_reflow_at_320_px(
        live_server: LiveServer, new_page: NewPage) -> None:
    page, _ = new_page(NARROW)
    page.goto(f"{live_server.url}/widget-demo")
    expect(page.locator(f"{WIDGET} .launcher")).to_be_visible()
    assert_reflows(page, "/widget-demo")
    page.locator(f"{WIDGET} .launcher").click()
    assert_reflows(page, "/widget-demo with the widget open")
    assert_widget_fits(page, "/widget-demo")
    page.locator(f"{WIDGET} textarea").fill(QUESTION)
    page.locator(f"{WIDGET} textarea").press("Enter")
    answered_widget(page)
    assert_reflows(page, "/widget-demo with an answer")
    assert_widget_fits(page, "/widget-demo with an answer")
    assert_accessible(page, "/widget-demo answered at 320 px")

    for path, what in ((f"/api/sources/{TROLLHATTAN_DOC}", "a source page"),
                       ("/docs", "/docs")):
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("h1")).not_to_be_empty()
        assert_reflows(page, what)
        assert_accessible(page, f"{what} at 320 px")


def test_widget_fills_a_320_px_screen_on_the_host_page(
        live_server: LiveServer, host_site: HostSite,
        new_page: NewPage) -> None:
    host_site.pages["/a11y-narrow.html"] = lambda: host_page(live_server.url)
    page, _ = new_page(NARROW)
    page.goto(f"{host_site.allowed_origin}/a11y-narrow.html")
    page.locator(f"{WIDGET} .launcher").click()
    assert_widget_fits(page, "the host page")
    page.locator(f"{WIDGET} textarea").fill(QUESTION)
    page.locator(f"{WIDGET} textarea").press("Enter")
    answered_widget(page)
    assert_widget_fits(page, "the host page with an answer")
    assert_accessible(page, "the host page, widget answered at 320 px")
