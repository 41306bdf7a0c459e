"""assistant.safety: markup cleaning for answer text (the stream's use of it is in
tests/test_citations.py, the interfaces' in tests/web/test_untrusted_output.py)."""

from __future__ import annotations

from assistant.safety import clean_markup, decoded, defang, half_open_tag
from tests.support.untrusted import PAYLOADS, SOURCE_URL, markup


def test_defang_only_replaces() -> None:
    """The last step may not remove a bracket or a digit (that could make a marker)."""
    for text in ("[a](b)", "[x]: y", "<b>", "javascript:x", "Data: 2023", "data:text/html,x"):
        out = defang(text)
        assert [c for c in out if c in "[]0123456789"] == [c for c in text if c in "[]0123456789"]
    assert defang("Data: 2023") == "Data: 2023"
    assert clean_markup("A < B och 3 > 2") == "A < B och 3 > 2"  # comparisons are text


def test_clean_markup_keeps_text_and_the_sources_links() -> None:
    text = defang(clean_markup(PAYLOADS, {SOURCE_URL}), {SOURCE_URL})
    assert "Se klicka här [1]." in text and f"[källan]({SOURCE_URL})" in text
    assert "och annan." in text and "alert" not in text
    assert not markup(text), markup(text)
    assert defang(clean_markup(text, {SOURCE_URL}), {SOURCE_URL}) == text  # a fixed point


def test_half_open_tags_and_entities() -> None:
    assert half_open_tag('a <img alt="b. ') and half_open_tag("a <script>x. ")
    assert not half_open_tag("a <b> c. ") and not half_open_tag("a < b. ")
    assert decoded("&amp;#91;7&amp;#93; &lt;b&gt;") == "[7] <b>"
