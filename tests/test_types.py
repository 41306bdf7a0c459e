"""Value types: the embedding header is added only where it carries information."""

from __future__ import annotations

from assistant.types import Chunk, title_in_text


def _chunk(title: str, text: str) -> Chunk:
    return Chunk(chunk_id="c", doc_id="d.txt", doc_hash="h", ordinal=0, text=text, start=0,
                 end=len(text), content_hash="x", title=title)


def test_title_header_only_where_the_passage_lacks_it() -> None:
    assert _chunk("Kommunalt kunskapslyft", "Hon sa att lyftet går bra.").embed_text == \
        "Kommunalt kunskapslyft\n\nHon sa att lyftet går bra."
    first = _chunk("Kommunalt  kunskapslyft", "Kommunalt kunskapslyft\n\nSka man vara med …")
    assert first.embed_text == first.text
    # A title derived from the first line, cut with an ellipsis, repeats the text.
    faq = _chunk("RUT-avdrag är en skattereduktion på …",
                 "RUT-avdrag är en skattereduktion på 50 % av arbetskostnaden.")
    assert faq.embed_text == faq.text


def test_title_in_text_ignores_case_spacing_and_ellipsis() -> None:
    assert title_in_text("Ett Gott exempel…", "ett gott\nexempel när det gäller")
    assert not title_in_text("", "anything")
    assert not title_in_text("Annat", "ett gott exempel")
