"""Swedish BM25 with compound matching.

Swedish writes compounds as one word ("skolsegregationen", "kunskapslyftet"), and the
Snowball stemmer leaves them whole, so plain BM25 misses "segregation" in
"skolsegregationen". Query terms are therefore expanded to the index vocabulary
terms that extend them (:func:`assistant.language.extends`: compound heads/tails
and inflections), at a lower weight than exact matches. Expansion on the query side
keeps the index small and needs no external lexicon.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from assistant.language import MIN_PREFIX, analyse, compound_match, extends
from assistant.types import Chunk

# BM25 of the expanded (compound/inflection) terms is added at this weight. 0.3, not
# 0.6: at 0.6 "Landskrona" → "Landskronamodellen" pulled the wrong Landskrona article
# to the top (q39); hit@1 over eval/questions.jsonl is 0.925 at 0.3 and 0.900 at 0.6
# (README, "Retrieval and refusal calibration").
EXPANSION_WEIGHT = 0.3
_CACHE_SIZE = 100_000  # query terms whose expansions are remembered (bounded memory)


@dataclass(frozen=True)
class QueryTerms:
    exact: tuple[str, ...]
    expanded: tuple[str, ...]


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
        found = [v for v in self._vocab if extends(term, v)]
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
