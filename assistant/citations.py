"""Citation markers: parsing, validation against the sources, refusal and rendering.

A generated answer is only as trustworthy as its ``[n]`` markers, and a model can cite a
source that does not exist or one that says nothing about the sentence. Validation is
therefore done after generation, on plain text, independent of the model:

- a marker whose number is not one of the sources is removed (``removed``);
- a sentence whose cited passages share no content term with it is flagged (``flagged``):
  a cheap lexical signal of an unsupported claim, not proof, so the text is kept;
- an answer with no valid marker left is not sourced (``sourced`` is false), so callers
  do not present it as backed by the articles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from assistant.language import analyse, compound_match
from assistant.text import clean_question, sentence_spans
from assistant.types import Answer, Source, place_and_date

REFUSAL_TEXT = "Jag hittar inget om det i artiklarna."
REFUSAL_TEXT_EN = "I can't find anything about that in the articles."

# "[1]", "[1, 2]", "[1;2]", "[1-3]" / "[1–3]". At most three digits: "[2023]" is a year.
_NUMBER = r"\d{1,3}(?:\s*[-–]\s*\d{1,3})?"
_MARKER = re.compile(rf"\[\s*({_NUMBER}(?:\s*[,;]\s*{_NUMBER})*)\s*\]")
# A marker with the horizontal whitespace before it, so removing it leaves no " ." behind.
_MARKER_WITH_SPACE = re.compile(rf"([ \t]*){_MARKER.pattern}")
_MAX_RANGE = 20  # "[1-999]" is not a citation worth expanding


def _numbers(group: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*[,;]\s*", group.strip()):
        bounds = re.split(r"\s*[-–]\s*", part)
        if len(bounds) == 2:
            low, high = int(bounds[0]), int(bounds[1])
            if low <= high and high - low < _MAX_RANGE:
                out.extend(range(low, high + 1))
            else:
                out.extend([low, high])
        else:
            out.append(int(bounds[0]))
    return out


def marker_spans(text: str) -> Iterator[tuple[int, int, list[int]]]:
    """(start, end, numbers) of each marker, so renderers link exactly what is checked."""
    for match in _MARKER.finditer(text):
        yield match.start(), match.end(), _numbers(match.group(1))


def markers(text: str) -> list[int]:
    """Every cited number in order of appearance, duplicates kept.

    ``"a [1][2] b [1, 3]"`` → ``[1, 2, 1, 3]``; ranges ``[1-3]`` expand to 1, 2, 3.
    """
    return [n for _, _, numbers in marker_spans(text) for n in numbers]


def strip_markers(text: str) -> str:
    """The text without its ``[n]`` markers (and the spaces just before them).

    For earlier turns of a conversation: their numbers referred to an earlier source list,
    so left in, they would read as citations of the current one.
    """
    return _MARKER_WITH_SPACE.sub("", text)


def neutralise_markers(text: str) -> str:
    """Source text with every citation-like ``[n]`` turned into ``(n)``.

    Article text is data: a "[2]" or "[1][3]" inside it must not reach an answer (or a
    prompt) where it would read as a citation of another source. Same length, so passage
    offsets (highlights, sentence spans) stay valid.
    """
    return _MARKER.sub(lambda m: f"({m.group(0)[1:-1]})", text)


def source_as_data(source: Source) -> Source:
    """``source`` with its title and text neutralised (:func:`neutralise_markers`) and a
    non-http(s) URL dropped: what answer steps, prompts, clients and renderers get, so a
    "[2]" in an article can never be read, quoted or shown as a citation, nor a
    ``javascript:`` link offered anywhere."""
    return replace(source, title=neutralise_markers(source.title),
                   text=neutralise_markers(source.text), url=http_url(source.url))


_TAG = re.compile(r"<[^>]*>")


def plain_text(value: str) -> str:
    """A corpus string for plain-text output: no tags or stray angle brackets (a client
    may render Markdown or HTML), no citation-like markers, no line breaks."""
    text = _TAG.sub("", value).replace("<", "").replace(">", "")
    return " ".join(neutralise_markers(text).split())


def http_url(value: object) -> str | None:
    """``value`` if it is an http(s) URL without spaces, else ``None``: a ``javascript:``
    or ``data:`` link from the corpus metadata must never become clickable anywhere."""
    if isinstance(value, str) and value.lower().startswith(("http://", "https://")) \
            and not any(ch.isspace() or ch in "<>\"" for ch in value):
        return value
    return None


def is_degenerate_question(text: str) -> bool:
    """Whether a question has nothing to ask: after removing invisible characters and
    citation markers, not one letter or digit is left ("???", "[1]", "\u200b"). Such a
    question gets the refusal, never quotes retrieved for noise."""
    return not any(ch.isalnum() for ch in strip_markers(clean_question(text)))


@dataclass
class CitationCheck:
    """The outcome of :func:`check_citations`; ``text`` is what should be shown."""

    text: str
    citations: list[int] = field(default_factory=list)
    flagged: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    sourced: bool = False


def _strip_invalid(answer: str, valid: set[int], removed: list[int]) -> str:
    def replace(match: re.Match[str]) -> str:
        space, group = match.group(1), match.group(2)
        numbers = _numbers(group)
        kept = list(dict.fromkeys(n for n in numbers if n in valid))
        removed.extend(n for n in numbers if n not in valid)
        if len(kept) == len(numbers):
            return match.group(0)
        if kept:
            joiner = ", " if ("," in group or ";" in group) else "]["
            return f"{space}[{joiner.join(str(n) for n in kept)}]"
        following = answer[match.end() : match.end() + 1]
        # "text [7]." → "text."; "a [7] b" → "a b" (the space after survives);
        # "a [7]b" → "a b" (keep the space before, words must not merge).
        if following == "" or following.isspace() or following in ".,;:!?)":
            return ""
        preceding = answer[match.start() - 1 : match.start()] if match.start() else ""
        return space or (" " if preceding.isalnum() and following.isalnum() else "")

    return _MARKER_WITH_SPACE.sub(replace, answer)


# Where a streamed answer may be cut: after a sentence end (or line break) and the
# whitespace that follows it. Text after the last cut waits: a marker may be half-sent.
_STREAM_CUT = re.compile(r"(?:[.!?…][\"”’)]*|\n)\s+")


class StreamChecker:
    """Citation checking for a streamed answer, one complete sentence at a time.

    Tokens go in; out comes only text whose markers have been checked against the
    answer's sources (a marker naming no source is removed, as in
    :func:`check_citations`). Text is held back to the end of its sentence, so a
    marker split over tokens ("[" then "7]") is judged whole and nothing invented
    ever reaches a client, not even briefly.
    """

    def __init__(self, valid: Iterable[int]) -> None:
        self.valid = set(valid)
        self.removed: list[int] = []
        self._pending = ""
        self._sent = ""

    def feed(self, token: str) -> str:
        """The checked text that may be sent now (possibly ``""``)."""
        self._pending += token
        cut = 0
        for match in _STREAM_CUT.finditer(self._pending):
            cut = match.end()
        if not cut:
            return ""
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return self._emit(ready)

    def finish(self) -> str:
        """Whatever is left, checked; call once when the stream ends."""
        ready, self._pending = self._pending, ""
        return self._emit(ready)

    @property
    def text(self) -> str:
        """Everything sent so far."""
        return self._sent

    def _emit(self, ready: str) -> str:
        checked = _strip_invalid(ready, self.valid, self.removed)
        self._sent += checked
        return checked


def checked_stream(events: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    """An answer's ``(kind, payload)`` events with every ``token`` citation-checked.

    The ``sources`` event says which numbers exist; tokens are held to sentence ends
    and cleaned by :class:`StreamChecker`; what is left goes out before ``done``. Every
    streaming front end (SSE, /v1, the UI, the widget) reads this, never raw tokens.
    """
    checker = StreamChecker(())
    for kind, payload in events:
        if kind == "sources":
            checker = StreamChecker(s.n for s in payload)
        elif kind == "token":
            payload = checker.feed(str(payload))
            if not payload:
                continue
        elif kind == "done" and (rest := checker.finish()):
            yield "token", rest
        yield kind, payload


def supports(sentence: str, passage_terms: set[str]) -> bool:
    """Whether a passage gives a sentence any lexical support.

    Rule: at least one content term of the sentence (``analyse``: lower-cased, Swedish
    stopwords dropped, Snowball-stemmed; names and numbers are content terms too) occurs in
    the passage, exactly or as a compound/inflection (:func:`compound_match`, the rule
    retrieval uses). A sentence with no content terms at all
    ("Det stämmer [1].") cannot be checked and counts as supported. The rule is lenient by
    design: it catches citations to an unrelated passage, not subtle misreadings.
    """
    terms = set(analyse(_MARKER.sub(" ", sentence)))
    if not terms:
        return True
    if terms & passage_terms:
        return True
    return any(compound_match(t, p) for t in terms for p in passage_terms)


def check_citations(answer: str, sources: Sequence[Source]) -> CitationCheck:
    """Validate the ``[n]`` markers of a generated answer against its numbered sources.

    A passage is the source's title plus its text (the model sees both). A sentence with
    several markers is supported if any of its cited passages supports it; otherwise all of
    its cited numbers are flagged.
    """
    by_n = {s.n: s for s in sources}
    removed: list[int] = []
    text = _strip_invalid(answer, set(by_n), removed).strip()

    passage_terms: dict[int, set[str]] = {}
    flagged: list[int] = []
    for start, end in sentence_spans(text):
        sentence = text[start:end]
        cited = list(dict.fromkeys(markers(sentence)))
        if not cited:
            continue
        for n in cited:
            if n not in passage_terms:
                source = by_n[n]
                passage_terms[n] = set(analyse(f"{source.title}\n{source.text}"))
        if not any(supports(sentence, passage_terms[n]) for n in cited):
            flagged.extend(n for n in cited if n not in flagged)

    citations = list(dict.fromkeys(markers(text)))
    return CitationCheck(
        text=text,
        citations=citations,
        flagged=flagged,
        removed=list(dict.fromkeys(removed)),
        sourced=bool(citations),
    )


_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def _normalise(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def is_refusal(text: str) -> bool:
    """Whether the text contains the fixed refusal phrase.

    Case, punctuation, quotes and whitespace are ignored, so "jag hittar inget om det i
    artiklarna" or the phrase followed by an English translation both count.
    """
    return _normalise(REFUSAL_TEXT) in _normalise(text)


def refusal_text(language: str = "sv") -> str:
    """The fixed refusal, with the English translation appended for English questions."""
    return REFUSAL_TEXT if language != "en" else f"{REFUSAL_TEXT} {REFUSAL_TEXT_EN}"


def format_source_line(source: Source) -> str:
    """``[1] Titel — Kommun, datum (id)`` plus `` <url>`` when known; missing parts omitted.

    Corpus values are untrusted: markup and fake markers are removed, and only an
    http(s) URL is printed.
    """
    where = place_and_date(source.municipality, source.date)
    line = f"[{source.n}] {plain_text(source.title)}"
    if where:
        line += f" — {plain_text(where)}"
    line += f" ({plain_text(source.id)})"
    url = http_url(source.url)
    if url:
        line += f" {url}"
    return line


def render_sources_text(answer: Answer, *, only_cited: bool = True) -> str:
    """Plain-text numbered source list for the CLI and the OpenAI-compatible endpoint.

    By default only the sources the answer cites are listed (an uncited passage is not a
    source of the answer); a refused or unsourced answer then gives ``""``. Lines are in
    ``n`` order; the caller adds any heading such as "Källor:".
    """
    cited = set(answer.citations)
    chosen = [s for s in answer.sources if not only_cited or s.n in cited]
    return "\n".join(format_source_line(s) for s in sorted(chosen, key=lambda s: s.n))
