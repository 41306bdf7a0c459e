"""Citation markers: parsing, validation against the sources, refusal and rendering.

A generated answer is only as trustworthy as its ``[n]`` markers, and a model can cite a
source that does not exist or one that says nothing about the sentence. Validation is
therefore done after generation, on plain text, independent of the model:

- a marker whose number is not one of the sources is removed (``removed``);
- a sentence whose cited passages share no content term with it is flagged (``flagged``):
  a cheap lexical signal of an unsupported claim, not proof, so the text is kept;
- an answer with no valid marker left is not sourced (``sourced`` is false), so callers
  do not present it as backed by the articles.

Markers are normalised before they are checked: a marker split by whitespace or line
breaks, written with full-width brackets (``［7］``), zero-width characters (``[7\u200b]``),
escapes or emphasis is read as the ``[n]`` a reader sees, and a list or range is checked
number by number. :class:`StreamChecker` applies the check, and the markup rules of
:mod:`assistant.safety`, to an answer as it is produced, a sentence at a time.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from assistant.language import analyse, compound_match
from assistant.safety import (
    CLOSE_BRACKETS,
    MARKER_GAP,
    MAX_PASSES,
    OPEN_BRACKETS,
    clean_markup,
    decoded,
    defang,
    half_open_tag,
)
from assistant.text import clean_question, sentence_spans
from assistant.types import Answer, Source, place_and_date

REFUSAL_TEXT = "Jag hittar inget om det i artiklarna."
REFUSAL_TEXT_EN = "I can't find anything about that in the articles."
# A hedged answer (outcome "hedged") opens with this, then quotes the nearest passages.
HEDGE_TEXT = "Jag hittar inget säkert svar. Närmast i artiklarna:"
HEDGE_TEXT_EN = "I can't find a certain answer. Nearest in the articles (in Swedish):"

# "[1]", "[1, 2]", "[1;2]", "[1-3]" / "[1–3]". At most three digits: "[2023]" is a year.
_NUMBER = r"\d{1,3}(?:\s*[-–]\s*\d{1,3})?"
_MARKER = re.compile(rf"\[\s*({_NUMBER}(?:\s*[,;]\s*{_NUMBER})*)\s*\]")
# A marker with the horizontal whitespace before it, so removing it leaves no " ." behind.
_MARKER_WITH_SPACE = re.compile(rf"([ \t]*){_MARKER.pattern}")
_MAX_RANGE = 20  # "[1-999]" is not a citation worth expanding
# What a reader takes for a marker: any bracket pair of safety.OPEN/CLOSE_BRACKETS, with
# gaps (whitespace, zero-width characters, escapes) anywhere, full-width separators and
# any dash in a range. Digits are any script's (\d), as Python's int() reads them.
_GAP = f"{MARKER_GAP}*"
_LOOSE_NUMBER = rf"\d{{1,3}}(?:{_GAP}[-–—‐‑−－~～]{_GAP}\d{{1,3}})?"
_LOOKALIKE = re.compile(
    rf"[{re.escape(OPEN_BRACKETS)}]{_GAP}({_LOOSE_NUMBER}(?:{_GAP}[,;，；、]{_GAP}"
    rf"{_LOOSE_NUMBER})*){_GAP}[{re.escape(CLOSE_BRACKETS)}]")
_LOOSE_GAP = re.compile(_GAP)
_LOOSE_SEPARATOR = re.compile(r"[,;，；、]")
_LOOSE_DASH = re.compile(r"[-–—‐‑−－~～]")


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


def normalise_markers(text: str) -> str:
    """``text`` with every marker, and everything a reader would take for one, written
    the one way the check reads: ``"[\n 7]"``, ``"［7］"``, ``"[7\u200b]"`` → ``"[7]"``,
    ``"[1，\n2]"`` → ``"[1, 2]"``, ``"[1–3]"`` → ``"[1-3]"``."""
    def canonical(match: re.Match[str]) -> str:
        group = _LOOSE_GAP.sub("", match.group(1))
        parts = [_LOOSE_DASH.sub("-", p) for p in _LOOSE_SEPARATOR.split(group)]
        return "[" + ", ".join("-".join(str(int(n)) for n in p.split("-")) for p in parts) + "]"

    return _LOOKALIKE.sub(canonical, text)


def neutralise_markers(text: str) -> str:
    """Source text with every citation-like ``[n]`` (look-alikes too) turned into ``(n)``.

    Article text is data: a "[2]", "[1][3]" or "［2］" inside it must not reach an answer
    (or a prompt) where it would read as a citation of another source. Same length, so
    passage offsets (highlights, sentence spans) stay valid.
    """
    return _LOOKALIKE.sub(lambda m: f"({m.group(0)[1:-1]})", text)


def as_quote(text: str) -> str:
    """Article text as an answer may quote it: character references decoded (what a
    client would show) and then every marker neutralised, so ``&#91;2&#93;`` cannot
    become a citation either."""
    return neutralise_markers(decoded(text))


def source_as_data(source: Source) -> Source:
    """``source`` with its title and text neutralised (:func:`neutralise_markers`) and a
    non-http(s) URL dropped: what answer steps, prompts, clients and renderers get, so a
    "[2]" in an article can never be read, quoted or shown as a citation, nor a
    ``javascript:`` link offered anywhere."""
    return replace(source, title=neutralise_markers(source.title),
                   text=neutralise_markers(source.text), url=http_url(source.url))


def plain_text(value: str) -> str:
    """A corpus string for plain-text output: no tags or stray angle brackets, images or
    links (a client may render Markdown or HTML: :mod:`assistant.safety`), no
    citation-like markers, no line breaks."""
    text = defang(clean_markup(value)).replace("<", "").replace(">", "")
    return " ".join(neutralise_markers(text).split())


def plain_place_and_date(municipality: str | None, date: str | None) -> str:
    """"Trollhättan, 2023-11-09" (:func:`~assistant.types.place_and_date`) from metadata
    made :func:`plain_text` part by part, so a part that was only markup disappears."""
    return place_and_date(plain_text(municipality or ""), plain_text(date or ""))


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


# Where a streamed answer may be cut: after a sentence end (or a line break), the markers
# right after it ("… skolor. [1]") and the whitespace that follows. Whether a cut is made
# there depends on the checked text before it (StreamChecker._checked_piece).
_STREAM_CUT = re.compile(r"(?:[.!?…][\"”’)]*(?:[ \t]*\[[^\[\]\n]*\])*|\n)\s+")
_BRACKET = re.compile(f"[{re.escape(OPEN_BRACKETS + CLOSE_BRACKETS)}]")
# Held text is checked again at each new sentence end; past this much, it waits for the
# end of the answer instead (a stray "[" must not make a long answer quadratic to check).
MAX_HELD = 2000


def _closed(text: str) -> bool:
    """Whether every bracket of ``text`` (of any kind) is closed within it."""
    depth = 0
    for match in _BRACKET.finditer(text):
        depth = depth + 1 if match.group(0) in OPEN_BRACKETS else max(0, depth - 1)
    return depth == 0


def _source_urls(sources: Iterable[Source]) -> set[str]:
    """The sources' own http(s) URLs: the only links an answer may keep."""
    return {url for s in sources if (url := http_url(s.url))}


def _checked_text(text: str, valid: set[int], urls: Collection[str]) -> tuple[str, list[int]]:
    """``text`` as a client may get it, and the invented numbers removed from it: markup
    cleaned, markers normalised and checked, until nothing changes (removing a tag can
    complete a marker, "[<b>7</b>]", and removing a marker a tag, "<[7]b>"), then
    defanged (:mod:`assistant.safety`)."""
    removed: list[int] = []
    for _ in range(MAX_PASSES):
        checked = _strip_invalid(normalise_markers(clean_markup(text, urls)), valid, removed)
        if checked == text:
            break
        text = checked
    return defang(text, urls), removed


class StreamChecker:
    """An answer's text as clients get it: checked and cleaned while it is produced.

    Tokens go in; out comes text whose markers are normalised and checked against the
    answer's sources (a marker naming no source is removed, as in :func:`check_citations`)
    and whose markup is cleaned (:mod:`assistant.safety`: no HTML, no images, no links but
    to a source's own URL). Text goes out a sentence at a time, and only where the checked
    text leaves nothing open: every bracket closed, no tag half-sent, whitespace last. A
    marker or link sent over several tokens or lines (``"[\\n "`` then ``"7]"``) is thus
    judged whole, and what a client puts together from the pieces, in any chunking, holds
    no marker, tag or link that the whole checked text does not: nothing invented ever
    reaches it, not even briefly. Both answer modes produce their text through one of
    these, so the streamed pieces and the final answer are the same text.
    """

    def __init__(self, valid: Iterable[int], urls: Iterable[str] = ()) -> None:
        self.valid = set(valid)
        self.urls = frozenset(urls)
        self.removed: list[int] = []
        self._pending = ""
        self._sent = ""
        self._judged = 0  # cuts up to here were refused; their text cannot change

    @classmethod
    def for_sources(cls, sources: Iterable[Source]) -> StreamChecker:
        """A checker for an answer that may cite ``sources`` and link to their URLs."""
        chosen = list(sources)
        return cls((s.n for s in chosen), _source_urls(chosen))

    def feed(self, token: str) -> str:
        """The checked text that may be sent now (possibly ``""``)."""
        self._pending += token
        if len(self._pending) > MAX_HELD:
            return ""  # open this long: not a marker, the rest goes out whole at the end
        cuts = [m.end() for m in _STREAM_CUT.finditer(self._pending) if m.end() > self._judged]
        for cut in reversed(cuts):
            piece = self._checked_piece(self._pending[:cut])
            if piece is not None:
                self._pending, self._judged = self._pending[cut:], 0
                return self._emit(*piece)
        self._judged = max([self._judged, *cuts])
        return ""

    def finish(self) -> str:
        """Whatever is left, checked; call once when the stream ends."""
        ready, self._pending = self._pending, ""
        return self._emit(*self._checked(ready))

    @property
    def text(self) -> str:
        """Everything sent so far."""
        return self._sent

    def _checked_piece(self, ready: str) -> tuple[str, list[int]] | None:
        """``ready`` checked, if it may be sent on its own; else ``None``."""
        if half_open_tag(decoded(ready)):
            return None
        checked, removed = self._checked(ready)
        if checked and not (checked[-1].isspace() and _closed(checked)):
            return None
        return checked, removed

    def _checked(self, text: str) -> tuple[str, list[int]]:
        return _checked_text(text, self.valid, self.urls)

    def _emit(self, checked: str, removed: list[int]) -> str:
        self.removed.extend(removed)
        self._sent += checked
        return checked


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

    The text is first made what a client may get, as :class:`StreamChecker` makes it
    (markup cleaned, look-alike markers normalised). A passage is the source's title plus
    its text (the model sees both). A sentence with several markers is supported if any of
    its cited passages supports it; otherwise all of its cited numbers are flagged.
    """
    by_n = {s.n: s for s in sources}
    text, removed = _checked_text(answer, set(by_n), _source_urls(sources))
    text = text.strip()

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
    where = plain_place_and_date(source.municipality, source.date)
    line = f"[{source.n}] {plain_text(source.title)}"
    if where:
        line += f" — {where}"
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
