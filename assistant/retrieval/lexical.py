"""Swedish BM25 with compound matching.

Swedish writes compounds as one word ("skolsegregationen", "kunskapslyftet"), and the
Snowball stemmer leaves them whole, so plain BM25 misses "segregation" in
"skolsegregationen". Query terms are therefore expanded to the index vocabulary
terms that begin or end with them (compound heads/tails and inflections), at a
lower weight than exact matches. Expansion on the query side keeps the index small
and needs no external lexicon.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from assistant.text import words
from assistant.types import Chunk

MIN_PREFIX = 4  # "lund" → "lundalärare"; shorter stems match too much
MIN_SUFFIX = 6  # "segregation" → "skolsegregation"; short tails are often accidental
EXPANDED_MATCH = 0.5  # a compound/inflection match counts half an exact one
# BM25 of the expanded (compound/inflection) terms is added at this weight. 0.3, not
# 0.6: at 0.6 "Landskrona" → "Landskronamodellen" pulled the wrong Landskrona article
# to the top (q39); hit@1 over eval/questions.jsonl is 0.925 at 0.3 and 0.900 at 0.6
# (README, "Retrieval and refusal calibration").
EXPANSION_WEIGHT = 0.3
_CACHE_SIZE = 100_000  # query terms whose expansions are remembered (bounded memory)


@lru_cache(maxsize=1)
def _stemmer() -> object:
    import Stemmer

    return Stemmer.Stemmer("swedish")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_SWEDISH

    # Question words are noise for matching but the list keeps "mot", "inom" etc.
    return frozenset(STOPWORDS_SWEDISH) | {"vilket", "vilka", "hur", "vad", "vem", "när",
                                           "the", "a", "an", "of", "in", "what", "who", "how",
                                           "did", "does", "is", "are", "was", "to", "and"}


def analyse(text: str) -> list[str]:
    """Lower-case, drop stopwords, Snowball-stem. Short content words ("SKR", "Lund") stay."""
    kept = [w for w in words(text) if w not in stopwords()]
    return list(_stemmer().stemWords(kept))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class QueryTerms:
    exact: tuple[str, ...]
    expanded: tuple[str, ...]


@lru_cache(maxsize=65536)  # pure, and called for every (question term, sentence word) pair
def compound_match(term: str, token: str) -> bool:
    """``token`` is a compound or inflection of ``term`` (or the other way round).

    "kunskapslyft" ~ "kunskapslyftet", "segregation" ~ "skolsegregationen",
    "fokuser" ~ "fokus"; hyphenated terms match on any long part
    ("skr-nätverket" ~ "nätverket").
    """
    if term == token:
        return True
    if len(term) >= MIN_PREFIX and token.startswith(term):
        return True
    if len(token) >= MIN_PREFIX and term.startswith(token):
        return True
    if len(term) >= MIN_SUFFIX and token.endswith(term):
        return True
    if "-" in term:
        return any(len(p) >= MIN_PREFIX and compound_match(p, token)
                   for p in term.split("-"))
    return False


def term_match(term: str, bag: set[str]) -> float:
    """1 for the exact stem, EXPANDED_MATCH for a compound/inflection, else 0."""
    if term in bag:
        return 1.0
    if any(compound_match(term, token) for token in bag):
        return EXPANDED_MATCH
    return 0.0


class LexicalIndex:
    def __init__(self, chunks: Sequence[Chunk], expansion_weight: float = EXPANSION_WEIGHT) -> None:
        import logging

        import bm25s

        # bm25s sets its own logger to DEBUG at import; keep our CLI output clean.
        logging.getLogger("bm25s").setLevel(logging.WARNING)

        self.chunks = list(chunks)
        self.expansion_weight = expansion_weight
        self._bm25 = bm25s.BM25()
        corpus = [analyse(f"{c.title}\n{c.text}") or [""] for c in self.chunks]
        if self.chunks:
            self._bm25.index(corpus, show_progress=False)
        self._vocab = sorted(t for t in self._bm25.vocab_dict if t) if self.chunks else []
        self._vocab_set = frozenset(self._vocab)
        # Per-term caches; the index is immutable, so they never go stale.
        self._expansion_cache: dict[str, tuple[str, ...]] = {}
        self._known_cache: dict[str, bool] = {}

    def terms(self, query: str) -> QueryTerms:
        exact = tuple(dict.fromkeys(analyse(query)))
        expanded: list[str] = []
        for term in exact:
            expanded.extend(v for v in self._expansions(term) if v not in exact)
        return QueryTerms(exact, tuple(dict.fromkeys(expanded)))

    def _expansions(self, term: str) -> tuple[str, ...]:
        """Vocabulary terms a query term expands to, cached: the scan over the whole
        vocabulary would otherwise run for every term of every question."""
        cached = self._expansion_cache.get(term)
        if cached is not None:
            return cached
        found = [v for v in self._vocab if v != term and (
            (len(term) >= MIN_PREFIX and v.startswith(term))
            or (len(term) >= MIN_SUFFIX and v.endswith(term)))]
        if "-" in term:  # "skr-nätverket": its parts are searchable words
            found.extend(st for p in term.split("-") for st in analyse(p)
                         if len(st) >= MIN_PREFIX and st in self._vocab_set)
        result = tuple(dict.fromkeys(found))
        if len(self._expansion_cache) < _CACHE_SIZE:
            self._expansion_cache[term] = result
        return result

    def knows(self, term: str) -> bool:
        """Whether the corpus has the term, or a compound/inflection of it."""
        if term in self._vocab_set:
            return True
        known = self._known_cache.get(term)
        if known is None:
            known = any(compound_match(term, v) for v in self._vocab)
            if len(self._known_cache) < _CACHE_SIZE:
                self._known_cache[term] = known
        return known

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk, in index order."""
        if not self.chunks:
            return np.zeros(0)
        terms = self.terms(query)
        known = [t for t in terms.exact if t in self._bm25.vocab_dict]
        total = np.zeros(len(self.chunks))
        if known:
            total += self._bm25.get_scores(known)
        if terms.expanded:
            total += self.expansion_weight * self._bm25.get_scores(list(terms.expanded))
        return total
