"""Hostile answer text for the tests of issue 16 (points 2 and 3), and the test's own
readers of it: deliberately looser than the code's, they see what a person or a
Markdown renderer would."""

from __future__ import annotations

import html
import re

from assistant.citations import markers

VALID = (1, 2)
SOURCE_URL = "https://kommun.se/artikel"

# The split-marker replies, each sent as the model sent it.
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


def assert_checked(pieces: list[str], valid: set[int] | tuple[int, ...] = VALID,
                   source_url: str = SOURCE_URL) -> None:
    """Each piece of a stream, and the text a client has assembled after each piece,
    cites only ``valid`` numbers and holds no markup."""
    assembled = ""
    for piece in pieces:
        assembled += piece
        assert seen_markers(piece) <= set(valid), piece
        assert seen_markers(assembled) <= set(valid), assembled
        assert not markup(piece, source_url), piece
    assert not markup(assembled, source_url), assembled
