"""Swedish BM25 with compound matching.

Swedish writes compounds as one word ("skolsegregationen", "kunskapslyftet"), and the
Snowball stemmer leaves them whole, so plain BM25 misses "segregation" in
"skolsegregationen". Query terms are therefore expanded to the index vocabulary
terms that extend them (:func:`assistant.language.extends`: compound heads/tails
and inflections), at a lower weight than exact matches. Expansion on the query side
keeps the index small and needs no external lexicon.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from assistant.language import analyse, hyphen_parts, limits
from assistant.params import tuning
from assistant.retrieval.bm25 import Bm25Builder, Bm25Index
from assistant.retrieval.store import ChromaStore, DocRecord
from assistant.types import Chunk

if TYPE_CHECKING:
    from assistant.config import Settings

_CACHE_SIZE = 100_000  # query terms whose expansions are remembered (bounded memory)


@dataclass(frozen=True)
class QueryTerms:
    exact: tuple[str, ...]
    expanded: tuple[str, ...]


def lexical_path(settings: Settings) -> Path:
    """Where the lexical index of a collection is kept beside the vectors: in the index
    directory, also with a Chroma server (each machine keeps its own copy, tagged with
    the index generation it was built for)."""
    return Path(settings.index_dir) / f"lexical-{settings.collection}"


def lexical_terms(chunk: Chunk) -> list[str]:
    """What the lexical index holds for a passage: its title and text, analysed."""
    return analyse(f"{chunk.title}\n{chunk.text}")


class LexicalIndex:
    """BM25 over the passages plus the vocabulary rules of compound matching.

    Holds no passage text: hits are passage ids (Chroma has the passages), so memory
    does not grow with what Chroma already keeps.
    """

    def __init__(self, chunks: Sequence[Chunk] = (), expansion_weight: float | None = None,
                 bm25: Bm25Index | None = None) -> None:
        """``expansion_weight``: BM25 weight of the expanded terms (None: the committed
        :class:`~assistant.params.LexicalParams`)."""
        import logging

        # bm25s (whose stopword list we use) sets its logger to DEBUG at import.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self.bm25 = bm25 if bm25 is not None else Bm25Index.build(
            (c.chunk_id, c.doc_id, lexical_terms(c)) for c in chunks)
        self.expansion_weight = (tuning().lexical.expansion_weight if expansion_weight is None
                                 else expansion_weight)
        # Per-term caches, bounded; the index is immutable, so they never go stale.
        self._expansion_cache: dict[str, tuple[str, ...]] = {}
        self._known_cache: dict[str, bool] = {}

    @classmethod
    def from_store(cls, store: ChromaStore, manifest: dict[str, DocRecord]) -> LexicalIndex:
        """Built from every committed passage, a page at a time (a new replica's first
        start; afterwards it loads its saved copy or updates it per ingest)."""
        builder = Bm25Builder(Bm25Index.empty())
        for page in store.live_chunk_pages(manifest):
            builder.add((c.chunk_id, c.doc_id, lexical_terms(c)) for c in page)
        return cls(bm25=builder.build())

    def updated(self, drop_docs: Collection[str], chunks: Iterable[Chunk]) -> LexicalIndex:
        """A new index without ``drop_docs``'s passages, plus ``chunks``."""
        bm25 = self.bm25.updated(drop_docs, ((c.chunk_id, c.doc_id, lexical_terms(c))
                                             for c in chunks))
        return LexicalIndex(expansion_weight=self.expansion_weight, bm25=bm25)

    @property
    def chunk_ids(self) -> list[str]:
        return self.bm25.chunk_ids

    def __len__(self) -> int:
        return len(self.bm25)

    def terms(self, query: str) -> QueryTerms:
        exact = tuple(dict.fromkeys(analyse(query)))
        expanded: list[str] = []
        for term in exact:
            expanded.extend(v for v in self._expansions(term) if v not in exact)
        return QueryTerms(exact, tuple(dict.fromkeys(expanded)))

    def _expansions(self, term: str) -> tuple[str, ...]:
        """Vocabulary terms that extend a query term (:func:`assistant.language.extends`:
        compound heads and inflections begin with it, compound tails end with it), found
        by binary search in sorted vocabularies instead of a scan."""
        cached = self._expansion_cache.get(term)
        if cached is not None:
            return cached
        found: set[str] = set()
        if len(term) >= limits().min_prefix:
            found.update(self.bm25.with_prefix(term))
        if len(term) >= limits().min_suffix:
            found.update(self.bm25.with_suffix(term))
        found.discard(term)
        ordered = sorted(found)
        # "skr-nätverket": its parts are searchable words
        ordered.extend(st for p in hyphen_parts(term, limits().min_prefix) for st in analyse(p)
                       if len(st) >= limits().min_prefix and st in self.bm25.term_ids)
        result = tuple(dict.fromkeys(ordered))
        if len(self._expansion_cache) < _CACHE_SIZE:
            self._expansion_cache[term] = result
        return result

    def knows(self, term: str) -> bool:
        """Whether the corpus has the term, or a compound/inflection of it (the rules of
        :func:`assistant.language.compound_match`, answered by binary search instead of a
        scan over the vocabulary)."""
        known = self._known_cache.get(term)
        if known is None:
            known = self._matches_vocabulary(term)
            if len(self._known_cache) < _CACHE_SIZE:
                self._known_cache[term] = known
        return known

    def _matches_vocabulary(self, term: str) -> bool:
        bm25 = self.bm25
        if term in bm25.term_ids:
            return True
        if len(term) >= limits().min_prefix and bm25.with_prefix(term):
            return True
        if bm25.has_prefix_of(term, limits().min_prefix):
            return True
        if len(term) >= limits().min_suffix and bm25.with_suffix(term):
            return True
        return any(self._matches_vocabulary(p) for p in hyphen_parts(term, limits().min_prefix))

    def distinctive(self, term: str, max_passages: int, max_share: float) -> bool:
        """Whether ``term`` occurs verbatim in a few passages only: at most
        ``max_passages``, or at most ``max_share`` of them in a large corpus (a heading,
        a named programme, a rare compound)."""
        count = self.passage_count(term)
        return 0 < count <= max(max_passages, int(max_share * len(self.bm25)))

    def passage_count(self, term: str) -> int:
        """In how many passages ``term`` occurs verbatim."""
        return self.bm25.passage_count(term)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage, in index order (see :attr:`chunk_ids`)."""
        terms = self.terms(query)
        total = self.bm25.scores(terms.exact).astype(np.float64)
        if terms.expanded:
            total += self.expansion_weight * self.bm25.scores(terms.expanded)
        return total

    # -- persistence -------------------------------------------------------------------

    def save(self, path: Path, generation: int,
             manifest: dict[str, DocRecord] | None = None) -> None:
        """Written beside the index under a temporary name and renamed into place, so a
        reader never sees half an index; the generation says which index state it is.
        The manifest of that generation is kept with it: reading 10k records back from
        Chroma takes seconds, this file a few milliseconds."""
        _publish(self.bm25.save, path, generation, manifest)

    @classmethod
    def load(cls, path: Path) -> tuple[LexicalIndex, int] | None:
        """(index, generation) saved at ``path``, or None when there is none readable."""
        generation = saved_generation(path)
        if generation is None:
            return None
        try:
            return cls(bm25=Bm25Index.load(path)), generation
        except (OSError, ValueError, KeyError):
            return None


def save_built(builder: Bm25Builder, path: Path, generation: int,
               manifest: dict[str, DocRecord] | None = None) -> None:
    """What :meth:`LexicalIndex.save` does, for an index still to be built: the builder
    writes its arrays straight into the new copy, a slice at a time (an ingest never
    holds the whole index in memory)."""
    _publish(builder.build, path, generation, manifest)


def _publish(write: Callable[[Path], object], path: Path, generation: int,
             manifest: dict[str, DocRecord] | None) -> None:
    """``write`` fills a temporary directory beside ``path``, which then replaces it."""
    import json
    import shutil
    import tempfile
    from dataclasses import asdict

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    write(tmp)
    if manifest is not None:
        (tmp / "manifest.json").write_text(json.dumps(
            [asdict(r) for r in manifest.values()], ensure_ascii=False), encoding="utf-8")
    (tmp / "generation.json").write_text(json.dumps({"generation": generation}))
    old = path.with_name(f".{path.name}-old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)


def saved_generation(path: Path) -> int | None:
    """The index generation the copy at ``path`` was saved for, if any."""
    import json

    try:
        return int(json.loads((path / "generation.json").read_text())["generation"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def saved_manifest(path: Path, generation: int) -> dict[str, DocRecord] | None:
    """The manifest saved with the lexical index, when it is of ``generation``."""
    import json

    if saved_generation(path) != generation:
        return None
    try:
        rows = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        return {row["doc_id"]: DocRecord(**row) for row in rows}
    except (OSError, ValueError, KeyError, TypeError):
        return None
