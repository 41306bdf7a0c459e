"""Value types shared by ingestion, retrieval, answering and evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


def place_and_date(municipality: str | None, date: str | None) -> str:
    """"Trollhättan, 2023-11-09" with missing parts left out, as every citation shows it."""
    return ", ".join(part for part in (municipality, date) if part)


def title_in_text(title: str, text: str) -> bool:
    """Whether ``text`` already contains ``title`` (case and spacing aside; a derived
    title's trailing ellipsis is not part of it)."""
    wanted = " ".join(title.rstrip("…. ").split()).casefold()
    return bool(wanted) and wanted in " ".join(text.split()).casefold()


@dataclass(frozen=True)
class DocumentMeta:
    """What a citation shows about an article. Unknown fields stay ``None``."""

    doc_id: str
    title: str
    municipality: str | None = None
    date: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Chunk:
    """One retrievable passage with everything needed to cite it.

    ``start``/``end`` are character offsets into the cleaned document text, so a
    citation can always be traced back to the exact passage.
    """

    chunk_id: str
    doc_id: str
    doc_hash: str
    ordinal: int
    text: str
    start: int
    end: int
    content_hash: str
    title: str
    municipality: str | None = None
    date: str | None = None
    url: str | None = None

    @property
    def embed_text(self) -> str:
        """The title is a contextual header: it disambiguates passages like "Hon sa…".

        Only where it carries information: a title the passage already contains (an
        article's first chunk, or a title derived from the text's first line, as for
        FAQ answers) would only weigh that line twice. On the FAQ dev suite that
        duplication cost dense search hit@1 0.65 → 0.60 (docs/evaluation.md, "Calibration").
        """
        if title_in_text(self.title, self.text):
            return self.text
        return f"{self.title}\n\n{self.text}"

    def to_metadata(self) -> dict[str, Any]:
        """Chroma metadata values must be scalars; ``None`` becomes an absent key."""
        meta: dict[str, Any] = {
            "doc_id": self.doc_id,
            "doc_hash": self.doc_hash,
            "ordinal": self.ordinal,
            "start": self.start,
            "end": self.end,
            "content_hash": self.content_hash,
            "title": self.title,
        }
        for key in ("municipality", "date", "url"):
            value = getattr(self, key)
            if value is not None:
                meta[key] = value
        return meta

    @classmethod
    def from_record(cls, chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
        return cls(
            chunk_id=chunk_id,
            doc_id=str(meta["doc_id"]),
            doc_hash=str(meta["doc_hash"]),
            ordinal=int(meta["ordinal"]),
            text=text,
            start=int(meta["start"]),
            end=int(meta["end"]),
            content_hash=str(meta["content_hash"]),
            title=str(meta["title"]),
            municipality=meta.get("municipality"),
            date=meta.get("date"),
            url=meta.get("url"),
        )


def join_chunks(chunks: Sequence[Chunk]) -> str:
    """A document's text reassembled from its overlapping chunks (in order) via their
    offsets; chunks whose offsets do not fit their text are joined as paragraphs."""
    out = ""
    covered = 0
    for c in chunks:
        if c.end - c.start != len(c.text):  # offsets unusable: fall back to plain joining
            return "\n\n".join(ch.text for ch in chunks)
        if c.start > covered:
            out += "\n\n" if out else ""
            out += c.text
        else:
            out += c.text[covered - c.start:]
        covered = max(covered, c.end)
    return out


@dataclass
class ScoredChunk:
    """A chunk as retrieval returns it; ``score`` is the fused score used for ranking."""

    chunk: Chunk
    score: float
    dense: float | None = None
    lexical: float | None = None


@dataclass
class Source:
    """A numbered source as shown under an answer; ``n`` is what ``[n]`` refers to."""

    n: int
    id: str
    title: str
    municipality: str | None
    date: str | None
    url: str | None
    chunk_id: str
    score: float
    text: str
    highlight: list[int] | None = None  # [start, end) of the supporting sentence in text

    @classmethod
    def from_scored(cls, n: int, scored: ScoredChunk) -> Source:
        c = scored.chunk
        return cls(n=n, id=c.doc_id, title=c.title, municipality=c.municipality, date=c.date,
                   url=c.url, chunk_id=c.chunk_id, score=round(scored.score, 4), text=c.text)


@dataclass(frozen=True)
class AnswerDiagnostics:
    """What happened on the way to an answer, for the operator's metrics
    (:mod:`assistant.web.metrics`); not part of the answer object clients get."""

    # Citation markers naming no source, removed by the citation check.
    dropped_citations: int = 0
    # The steps (``condense``, ``answer``) whose model call failed, with the error's kind
    # (:class:`assistant.errors.LLMError`); each fell back (offline condense, extractive answer).
    llm_errors: tuple[tuple[str, str], ...] = ()


@dataclass
class Answer:
    """The answer object (docs/architecture.md), shared by the CLI, the HTTP API and the harness.

    ``sources`` lists every passage the answer was built from, in retrieval rank
    order; ``citations`` are the ``n`` values the answer text actually cites.
    """

    question: str
    answer: str
    refused: bool
    mode: str
    citations: list[int]
    sources: list[Source]
    timings_ms: dict[str, float]
    model: str | None = None
    notice: str | None = None  # e.g. why LLM mode fell back to extractive
    flagged: list[int] = field(default_factory=list)  # citations without lexical support
    # Why it was refused or accepted: {refused, rule, value, threshold, checks}
    # (assistant.answer.policy.Decision.to_dict); None where no policy ran.
    refusal: dict[str, Any] | None = None
    # How likely the articles support the answer (0–1; assistant/answer/confidence.py),
    # None without a calibrated model or where no evidence was measured.
    confidence: float | None = None
    # "answer", "hedged" (the nearest quotes, marked uncertain) or "refused"; the chain
    # always sets it (None: an answer object from elsewhere that does not say).
    outcome: str | None = None
    # For metrics only: left out of to_dict (the answer object's fields are a contract).
    diagnostics: AnswerDiagnostics = field(default_factory=AnswerDiagnostics, repr=False,
                                           compare=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["diagnostics"]
        return data

    @property
    def retrieved_ids(self) -> list[str]:
        """Distinct source documents in rank order (what retrieval metrics look at)."""
        return list(dict.fromkeys(s.id for s in sorted(self.sources, key=lambda s: s.n)))
