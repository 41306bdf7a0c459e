"""Token-counted chunking at paragraph, then sentence, then word boundaries.

Chunks are contiguous slices of the cleaned text, so ``start``/``end`` always point at
exactly the passage that was embedded and cited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from assistant.retrieval.store import chunk_id
from assistant.text import count_tokens, paragraph_spans, sentence_spans, sha256
from assistant.types import Chunk, DocumentMeta


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int
    opens_paragraph: bool


def _units(text: str, max_tokens: int) -> list[_Unit]:
    """Sentences tagged with whether they open a paragraph; over-long ones split by words."""
    units: list[_Unit] = []
    for p_start, p_end in paragraph_spans(text):
        for i, (s, e) in enumerate(sentence_spans(text, p_start, p_end)):
            tokens = count_tokens(text[s:e])
            if tokens <= max_tokens:
                units.append(_Unit(s, e, tokens, i == 0))
            else:
                units.extend(_word_windows(text, s, e, max_tokens, i == 0))
    return units


def _word_windows(text: str, start: int, end: int, max_tokens: int, opens: bool) -> list[_Unit]:
    """Last resort for a run-on "sentence": cut between words, never inside one."""
    out: list[_Unit] = []
    pos = start
    while pos < end:
        stop = pos
        cursor = pos
        while cursor < end:
            nxt = text.find(" ", cursor + 1, end)
            nxt = end if nxt == -1 else nxt
            if stop > pos and count_tokens(text[pos:nxt]) > max_tokens:
                break
            stop = cursor = nxt
        out.append(_Unit(pos, stop, count_tokens(text[pos:stop]), opens and not out))
        pos = stop
        while pos < end and text[pos].isspace():
            pos += 1
    return out


def _extent(
    text: str,
    units: list[_Unit],
    i: int,
    chunk_tokens: int,
    fits: Callable[[str], bool] | None,
) -> int:
    """Index one past the last unit of the chunk that starts at unit ``i``."""
    j, total = i, 0
    while j < len(units):
        u = units[j]
        if j > i and total + u.tokens > chunk_tokens:
            break
        if j > i and u.opens_paragraph and total >= 0.7 * chunk_tokens:
            break
        total += u.tokens
        j += 1
    while fits is not None and j - i > 1 and not fits(text[units[i].start : units[j - 1].end]):
        j -= 1
    return j


def chunk_text(
    text: str,
    chunk_tokens: int = 300,
    overlap: float = 0.15,
    fits: Callable[[str], bool] | None = None,
) -> list[tuple[int, int]]:
    """Spans of chunks of about ``chunk_tokens`` tokens with ~``overlap`` sentence overlap.

    A chunk closes early at a paragraph boundary once it is 70 % full, because a
    paragraph is the most coherent unit to cite. ``fits`` lets the caller enforce the
    embedding model's own input limit, which counts tokens differently from tiktoken.
    """
    units = _units(text, chunk_tokens)
    overlap_tokens = int(chunk_tokens * overlap)
    extents: dict[int, int] = {}

    def extent(start: int) -> int:
        # The overlap search below probes the extent the next chunk will have; memoised
        # because ``fits`` runs the embedding model's tokenizer.
        if start not in extents:
            extents[start] = _extent(text, units, start, chunk_tokens, fits)
        return extents[start]

    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j = extent(i)
        spans.append((units[i].start, units[j - 1].end))
        if j >= len(units):
            break
        # Step back over whole sentences for the overlap, but always make progress.
        back, carried = j, 0
        while back - 1 > i and carried + units[back - 1].tokens <= overlap_tokens:
            back -= 1
            carried += units[back].tokens
        if back == j and overlap_tokens > 0 and j - 1 > i:
            # The last sentence alone exceeds the overlap budget: carry it anyway, or
            # neighbouring chunks would share no context at all.
            back = j - 1
        # Never carry so much that the next chunk ends where this one does: it would
        # be a mere copy of this chunk's tail.
        while back < j and extent(back) <= j:
            back += 1
        i = back
    return spans


def chunk_document(
    meta: DocumentMeta,
    text: str,
    doc_hash: str,
    chunk_tokens: int = 300,
    overlap: float = 0.15,
    fits: Callable[[str], bool] | None = None,
) -> list[Chunk]:
    chunks: list[Chunk] = []
    for ordinal, (start, end) in enumerate(chunk_text(text, chunk_tokens, overlap, fits)):
        passage = text[start:end]
        chunks.append(
            Chunk(
                chunk_id=chunk_id(meta.doc_id, doc_hash, ordinal),
                doc_id=meta.doc_id,
                doc_hash=doc_hash,
                ordinal=ordinal,
                text=passage,
                start=start,
                end=end,
                content_hash=sha256(passage),
                title=meta.title,
                municipality=meta.municipality,
                date=meta.date,
                url=meta.url,
            )
        )
    return chunks
