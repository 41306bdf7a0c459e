"""Answer text as untrusted output (issue 16, points 2 and 3), checked where it is made.

Two properties, for every chunking of a hostile answer: no piece and no join of pieces
(what a client assembles) holds a marker naming no source, look-alikes included; and
none holds markup a Markdown client would act on (tags, images, links other than to a
source's own URL, script or data schemes). The readers below are the test's own,
deliberately looser than the code's: they see what a person or a renderer would.
"""

from __future__ import annotations

import html
import re

import pytest

from assistant.citations import (
    StreamChecker,
    check_citations,
    markers,
    neutralise_markers,
    plain_text,
)
from assistant.safety import clean_markup, defang
from assistant.types import Source

VALID = (1, 2)
SOURCE_URL = "https://kommun.se/artikel"

# The issue's split-marker replies, each sent as the model sent it.
SPLIT_REPLIES = [
    ("Radbruten [\n ", "7] markör. "),
    ("Lista [1,\n ", "9] här. "),
    ("Hake [8\n ", "] där. "),
    ("Tom [\n\n", "6] rad. "),
]
SPLIT_ANSWER = ("Trollhättan arbetar mot segregation [1]. "
                + "".join(a + b for a, b in SPLIT_REPLIES) + "Slut [2].")
LOOKALIKES = ("Full bredd ［7］. Noll bredd [7\u200b]. Linsform 【8】. Entitet &#91;9&#93;. "
              "Dubbel &amp;#91;6&amp;#93;. Escape \\[7\\]. Kursiv [*8*]. Full siffra [７]. "
              "Äkta ［1］ och [2\u200b].")
PAYLOADS = ("Se [klicka här](javascript:alert(1)) [1]. <script>alert(1)</script> Bild "
            "![bild](https://evil.example/leak.png?q=x) [1]. Länk [källan](" + SOURCE_URL + ") "
            "och [annan](https://evil.example/stjal). Data [x](data:text/html,<b>hej</b>) och "
            "<img src=x onerror=alert(1)>. [1]: https://evil.example/ref\n"
            "Autolänk <https://evil.example/a> och <a href=\"https://evil.example\">här</a>.")
_LOOK_BRACKETS = str.maketrans("［【〔〖⟦］】〕〗⟧", "[[[[[]]]]]")
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u2060-\u2064\ufeff*_`\\]")


def seen_markers(text: str) -> set[int]:
    """The numbers a reader takes for citations: entities decoded, brackets of any width,
    invisible characters, escapes and emphasis ignored."""
    text = html.unescape(html.unescape(text)).translate(_LOOK_BRACKETS)
    return set(markers(_INVISIBLE.sub("", text)))


def markup(text: str, source_url: str = SOURCE_URL) -> list[str]:
    """What a Markdown client with HTML would act on: tags, images, links other than to
    the source, reference definitions, script and data schemes. (A bare address is
    text that shows where it goes, and may stay.)"""
    found = re.findall(r"<[A-Za-z/!?][^<>]*>|!\[[^\]]*\]\(|javascript:|data:text", text)
    found += [m for m in re.findall(r"\]\(([^)\s]*)", text) if m != source_url]
    found += re.findall(r"^\s*\[[^\]]+\]:", text, re.M)
    return found


def chunkings(text: str) -> list[list[str]]:
    """``text`` cut every 1, 2, 3, 5, 8 and 13 characters, and at every single place."""
    out = [[text[i:i + size] for i in range(0, len(text), size)] for size in (1, 2, 3, 5, 8, 13)]
    out += [[text[:cut], text[cut:]] for cut in range(1, len(text))]
    return out


def run(checker: StreamChecker, tokens: list[str]) -> list[str]:
    pieces = [checker.feed(t) for t in tokens]
    pieces.append(checker.finish())
    return [p for p in pieces if p]


def _assert_clean(pieces: list[str]) -> None:
    """Every piece, and every join a client can have made so far, is checked text."""
    assembled = ""
    for piece in pieces:
        assembled += piece
        assert seen_markers(piece) <= set(VALID), piece
        assert seen_markers(assembled) <= set(VALID), assembled
        assert not markup(piece), piece
    assert not markup(assembled), assembled


def test_the_split_replies_of_the_issue_lose_their_invented_markers() -> None:
    for first, second in SPLIT_REPLIES:
        checker = StreamChecker(VALID)
        pieces = run(checker, ["Trollhättan arbetar [1]. ", first, second])
        _assert_clean(pieces)
        assert "".join(pieces) == checker.text and "[1]" in checker.text


@pytest.mark.parametrize("answer", [SPLIT_ANSWER, LOOKALIKES, PAYLOADS],
                         ids=["split", "look-alikes", "markup"])
def test_no_chunking_gets_anything_through(answer: str) -> None:
    whole = run(StreamChecker(VALID, [SOURCE_URL]), [answer])
    for tokens in chunkings(answer):
        checker = StreamChecker(VALID, [SOURCE_URL])
        pieces = run(checker, tokens)
        _assert_clean(pieces)
        assert "".join(pieces) == checker.text
    _assert_clean(whole)


def test_the_stream_goes_a_sentence_at_a_time() -> None:
    checker = StreamChecker(VALID)
    assert checker.feed("Första meningen [1]. Andra") == "Första meningen [1]. "
    assert checker.feed(" meningen [") == ""  # a marker may be open: wait
    assert checker.feed("\n 2]. Tredje") == "Andra meningen [2]. "
    assert checker.finish() == "Tredje"


def test_look_alikes_are_read_as_the_markers_they_show() -> None:
    check = check_citations(LOOKALIKES, [_source(1), _source(2)])
    assert seen_markers(check.text) == {1, 2}
    assert set(check.removed) == {6, 7, 8, 9}
    assert "Äkta [1] och [2]." in check.text
    assert "［" not in check.text and "\u200b" not in check.text


def test_markup_is_removed_and_only_the_sources_links_stay() -> None:
    text = StreamChecker(VALID, [SOURCE_URL]).feed(PAYLOADS + " ") or ""
    assert "Se klicka här [1]." in text
    assert f"[källan]({SOURCE_URL})" in text and "och annan." in text
    assert not markup(text), markup(text)
    assert "<" not in text.replace("‹", "")


@pytest.mark.parametrize("tricky", ["<<b>script>alert(1)</script>", "[[a](x)](javascript:y)",
                                    "&lt;script&gt;x", "[<b>7</b>]", "<[7]b>x", "&#91;7&#93;",
                                    "java[7]script:alert(1)", "[a[7]]: https://evil.example"])
def test_nested_tricks_are_peeled(tricky: str) -> None:
    checker = StreamChecker(VALID)
    text = run(checker, [tricky])
    assert not markup("".join(text)) and seen_markers("".join(text)) <= set(VALID), text


def test_defang_only_replaces() -> None:
    """The last step may not remove a bracket or a digit (that could make a marker)."""
    for text in ("[a](b)", "[x]: y", "<b>", "javascript:x", "Data: 2023", "data:text/html,x"):
        out = defang(text)
        assert [c for c in out if c in "[]0123456789"] == [c for c in text if c in "[]0123456789"]
    assert defang("Data: 2023") == "Data: 2023"
    assert clean_markup("A < B och 3 > 2") == "A < B och 3 > 2"  # comparisons are text


def test_article_look_alikes_are_neutralised_in_place() -> None:
    text = "Se ［2］ och [3\u200b] och [1]."
    neutral = neutralise_markers(text)
    assert len(neutral) == len(text) and seen_markers(neutral) == set()


def test_metadata_for_the_heading_is_plain() -> None:
    title = "Läsombud <img src=x onerror=alert(1)> [klicka](javascript:x) ![t](https://evil.example/t.png)"
    assert plain_text(title) == "Läsombud klicka"


def _source(n: int) -> Source:
    return Source(n=n, id=f"00{n}.txt", title="Titel", municipality=None, date=None, url=None,
                  chunk_id=f"c{n}", score=0.9, text="Full bredd noll linsform äkta")
