"""Issue 21's acceptance in a real browser (embedded index, one app): an editor signs in on
``/admin`` by keyboard, uploads an article, and within 5 s the chat UI answers a question
about it citing it; the editor deletes it (with confirmation), and within 5 s the chat
no longer cites it. The admin page passes axe-core (WCAG 2.0/2.1 A and AA) signed out
and signed in, loads nothing from any other host, and its screenshot is the README's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.axe import assert_accessible
from tests.web.conftest import TROLLHATTAN_DOC, LiveServer
from tests.web.test_accessibility import NARROW, assert_reflows
from tests.web.test_admin import ADMIN_KEY, ASK_KIRUNA, KIRUNA, editable  # noqa: F401
from tests.web.test_browser import Recorder, ask_ui, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The chat has answered (with sources, or with the refusal): the answer is complete.
_ANSWERED = """() => {
  const chat = document.querySelector('#chat');
  return (chat && chat.textContent.includes('Jag hittar inget')) ||
    document.querySelectorAll('#sources .sa-card').length > 0;
}"""


@pytest.fixture
def pages(browser: Browser) -> Iterator[Callable[[], tuple[Page, Recorder]]]:
    contexts = []

    def make() -> tuple[Page, Recorder]:
        context = browser.new_context(viewport={"width": 1280, "height": 900},
                                      locale="sv-SE")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        recorder = Recorder()
        recorder.attach(page)
        return page, recorder

    yield make
    for context in contexts:
        context.close()


def chat_page(pages: Callable[[], tuple[Page, Recorder]], server: LiveServer) -> Page:
    """The chat UI, loaded and ready for a question (loaded before the clock starts)."""
    assert server.app.state.ui.wait(90)
    page, _ = pages()
    page.goto(server.url + "/")
    expect(page.locator("#question textarea")).to_be_visible()
    return page


def sign_in_by_keyboard(page: Page) -> None:
    """Tab to the key field (nothing but the keyboard), type the key, press Enter."""
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == "key":
            break
    else:
        pytest.fail("the admin key field cannot be reached with Tab")
    page.keyboard.type(ADMIN_KEY)
    page.keyboard.press("Enter")
    expect(page.locator("#editor")).to_be_visible()
    expect(page.locator("#files")).to_be_focused()


def test_editor_uploads_and_deletes_and_the_chat_follows(
        editable: LiveServer,  # noqa: F811
        pages: Callable[[], tuple[Page, Recorder]]) -> None:
    before_upload = chat_page(pages, editable)
    before_delete = chat_page(pages, editable)
    admin, recorder = pages()
    admin.goto(editable.url + "/admin")
    expect(admin.locator("h1")).to_have_text("Kunskapsbanken")
    assert_accessible(admin, "/admin, signed out")
    sign_in_by_keyboard(admin)
    expect(admin.locator('button[aria-label^="Ta bort: "]')).not_to_have_count(0)
    expect(admin.locator("#docs tbody")).to_contain_text("SKR-nätverk mot segregation")
    assert_accessible(admin, "/admin, signed in with the document table")

    admin.locator("#files").set_input_files(
        {"name": "kiruna.txt", "mimeType": "text/plain", "buffer": KIRUNA.encode()})
    # The title the ingest reads from the file is filled in before the editor types.
    expect(admin.locator("#title")).to_have_value("Kiruna bygger en ny skola")
    admin.locator("#municipality").fill("Kiruna")
    admin.locator("#upload-form button[type=submit]").press("Enter")
    expect(admin.locator("#messages")).to_contain_text("Klart", timeout=60_000)
    uploaded = time.monotonic()
    row = admin.locator("#docs tbody tr", has_text="Kiruna bygger en ny skola")
    expect(row).to_contain_text("Indexerad")
    expect(row.get_by_role("link", name="Fråga om artikeln: Kiruna bygger en ny skola")
           ).to_have_attribute("href", "./?fraga=" + "Vad%20st%C3%A5r%20det%20i%20artikeln%20"
                               "%22Kiruna%20bygger%20en%20ny%20skola%22%3F")
    shot(admin, "admin", "admin.png")

    ask_ui(before_upload, ASK_KIRUNA)
    card = before_upload.locator('#sources .sa-card[data-source-id="kiruna.txt"]').first
    expect(card).to_be_visible(timeout=5_000)
    cited_after = time.monotonic() - uploaded
    assert cited_after < 5

    # Search and the municipality filter narrow the table.
    admin.locator("#search").fill("kiruna")
    expect(admin.locator("#docs tbody tr")).to_have_count(1)
    admin.locator("#search").fill("")
    admin.locator("#filter-municipality").select_option("Trollhättan")
    expect(admin.locator("#docs tbody tr")).to_have_count(1)
    expect(admin.locator("#docs tbody")).to_contain_text("Trollhättan")
    admin.locator("#filter-municipality").select_option("")

    remove = admin.get_by_role("button", name="Ta bort: Kiruna bygger en ny skola")
    remove.focus()
    admin.keyboard.press("Enter")
    dialog = admin.locator("#confirm")
    expect(dialog).to_be_visible()
    expect(admin.locator("#confirm-no")).to_be_focused()  # the safe choice first
    assert_accessible(admin, "/admin, the delete confirmation")
    admin.keyboard.press("Shift+Tab")
    expect(admin.locator("#confirm-yes")).to_be_focused()
    admin.keyboard.press("Enter")
    expect(admin.locator("#messages")).to_contain_text("Klart", timeout=60_000)
    deleted = time.monotonic()
    expect(admin.locator("#docs tbody")).not_to_contain_text("Kiruna bygger en ny skola")

    ask_ui(before_delete, ASK_KIRUNA)
    before_delete.wait_for_function(_ANSWERED, timeout=5_000)
    uncited_after = time.monotonic() - deleted
    assert uncited_after < 5
    expect(before_delete.locator('#sources .sa-card[data-source-id="kiruna.txt"]')
           ).to_have_count(0)
    recorder.assert_only(editable.url)
    assert TROLLHATTAN_DOC in editable.app.state.assistant.retriever.manifest
    print(f"the chat UI cited the upload {cited_after:.1f} s after its job, and answered "
          f"without it {uncited_after:.1f} s after the delete's job")


def test_a_wrong_key_is_told_in_swedish(editable: LiveServer,  # noqa: F811
                                        pages: Callable[[], tuple[Page, Recorder]]) -> None:
    page, recorder = pages()
    page.goto(editable.url + "/admin")
    page.locator("#key").fill("fel-nyckel-0123456789abcdef")
    page.locator("#key").press("Enter")
    expect(page.locator("#signin-error")).to_have_text("Fel administratörsnyckel.")
    expect(page.locator("#editor")).to_be_hidden()
    assert_accessible(page, "/admin, a wrong key")
    recorder.assert_only(editable.url)


def test_the_admin_page_reflows_at_320_px(editable: LiveServer,  # noqa: F811
                                          browser: Browser) -> None:
    """WCAG 1.4.10 on a phone: signed in, with the table, nothing wider than the screen
    (the table scrolls inside its own focusable region), and axe passes there too."""
    context = browser.new_context(viewport=NARROW, locale="sv-SE")
    try:
        page = context.new_page()
        page.goto(editable.url + "/admin")
        assert_reflows(page, "/admin signed out")
        page.locator("#key").fill(ADMIN_KEY)
        page.locator("#key").press("Enter")
        expect(page.locator("#docs tbody tr")).not_to_have_count(0)
        assert_reflows(page, "/admin signed in")
        assert_accessible(page, "/admin at 320 px")
    finally:
        context.close()
