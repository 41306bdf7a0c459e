"""The offline answerer: the best supporting sentences, quoted verbatim, each cited.

Quoting keeps names, numbers and dates exactly as the article has them, and every
sentence carries the number of the passage it was taken from, so a citation can
never point at a passage that does not contain the claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from assistant.retrieval.lexical import QueryTerms, analyse
from assistant.text import words
from assistant.types import ScoredChunk

LEXICAL_WEIGHT = 0.25  # added to the cosine similarity for full term coverage
EXPANDED_WEIGHT = 0.5  # a compound/inflection match counts half an exact one
RANK_PRIOR = 0.02  # prefers the better-ranked passage when sentences tie
MAX_SENTENCES = 3
MARGIN = 0.05  # further sentences must score within this of the best one
REDUNDANT_JACCARD = 0.5
CANDIDATE_CHUNKS = 4
MIN_WORDS = 5  # shorter lines are headings, captions or contact details


@dataclass
class Candidate:
    n: int  # source number of the best-ranked passage containing the sentence
    start: int  # offsets within that passage's text
    end: int
    text: str
    dense: float
    lexical: float
    score: float


@dataclass
class Extract:
    sentences: list[Candidate] = field(default_factory=list)
    best_score: float = 0.0
    best_lexical: float = 0.0
    best_dense: float = 0.0


def lexical_coverage(terms: QueryTerms, sentence: str) -> float:
    """Share of the question's content terms the sentence contains (expanded: half)."""
    if not terms.exact:
        return 0.0
    stems = analyse(sentence)
    bag = set(stems)
    hits = 0.0
    for term in terms.exact:
        if term in bag:
            hits += 1.0
        elif any(s.startswith(term) or term.startswith(s) and len(s) >= 4 for s in bag):
            hits += EXPANDED_WEIGHT
    hits = max(hits, EXPANDED_WEIGHT * sum(t in bag for t in terms.expanded))
    return min(1.0, hits / len(terms.exact))


def candidates(
    chunks: Sequence[ScoredChunk],
    sentence_vectors: Sequence[tuple[str, int, int, list[float]]],
    query_vector: Sequence[float],
    terms: QueryTerms,
) -> list[Candidate]:
    q = np.asarray(query_vector, dtype=np.float32)
    out: dict[tuple[str, int, int], Candidate] = {}
    for doc_id, start, end, vector in sentence_vectors:
        holder = next(
            (n for n, sc in enumerate(chunks, start=1)
             if sc.chunk.doc_id == doc_id and sc.chunk.start <= start and end <= sc.chunk.end),
            None,
        )
        if holder is None:
            continue
        chunk = chunks[holder - 1].chunk
        text = chunk.text[start - chunk.start : end - chunk.start]
        if len(words(text)) < MIN_WORDS or text.strip() == chunk.title.strip():
            continue
        dense = float(np.dot(q, np.asarray(vector, dtype=np.float32)))
        lexical = lexical_coverage(terms, text)
        score = dense + LEXICAL_WEIGHT * lexical + RANK_PRIOR / holder
        key = (doc_id, start, end)
        if key not in out or out[key].score < score:
            out[key] = Candidate(holder, start - chunk.start, end - chunk.start, text, dense,
                                 lexical, score)
    return sorted(out.values(), key=lambda c: -c.score)


def select(ranked: Sequence[Candidate], max_sentences: int = MAX_SENTENCES) -> Extract:
    """Best sentence plus close runners-up that add something new."""
    if not ranked:
        return Extract()
    best = ranked[0]
    chosen: list[Candidate] = []
    bags: list[set[str]] = []
    for cand in ranked:
        if len(chosen) >= max_sentences or cand.score < best.score - MARGIN:
            break
        bag = set(words(cand.text))
        if any(len(bag & b) / len(bag | b) > REDUNDANT_JACCARD for b in bags):
            continue
        chosen.append(cand)
        bags.append(bag)
    return Extract(chosen, best.score, max(c.lexical for c in ranked[:5]),
                   max(c.dense for c in ranked[:5]))


def compose(extract: Extract, chunks: Sequence[ScoredChunk], language: str) -> str:
    """A short lead naming the source, then the quotes in reading order, each cited."""
    by_source: dict[int, list[Candidate]] = {}
    for cand in extract.sentences:
        by_source.setdefault(cand.n, []).append(cand)
    docs = {chunks[n - 1].chunk.doc_id for n in by_source}
    if len(docs) == 1:
        c = chunks[next(iter(by_source)) - 1].chunk
        where = ", ".join(x for x in (c.municipality, c.date) if x)
        where = f" ({where})" if where else ""
        lead = (f"According to the article “{c.title}”{where}, in Swedish:" if language == "en"
                else f"Enligt artikeln ”{c.title}”{where}:")
    else:
        lead = ("According to the articles, in Swedish:" if language == "en"
                else "Enligt artiklarna:")
    parts: list[str] = []
    # Sources in order of their best sentence; sentences within a source in text order.
    for n, cands in by_source.items():
        for cand in sorted(cands, key=lambda c: c.start):
            parts.append(f"{cand.text} [{n}]")
    return lead + "\n" + " ".join(parts)
