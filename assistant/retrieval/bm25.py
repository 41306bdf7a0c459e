"""BM25 over analysed passages, in flat numpy arrays: built, updated and saved without
Python work per token.

Why not rebuild with bm25s every time: bm25s builds with a Python loop per passage
and cannot add or remove documents, so every process rebuilt it from every chunk at
start (20 s to load the chunks and 12 s to index them at 10k documents). Here the corpus
is kept as postings (passage, term, count); an ingest or a live reload drops the
postings of changed documents and appends the new ones, and the scores are recomputed
in a few vectorised passes. The result is saved as ``.npy`` files that a server maps
into memory at start.

Scores are exactly bm25s's default (``method="lucene"``, k1 = 1.5, b = 0.75, float32),
which the retrieval weights were tuned with; a test compares the two.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Collection, Iterable, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from assistant.params import tuning

_ARRAYS = ("chunk_docs", "lengths", "p_chunk", "p_term", "p_tf", "indptr", "indices", "data")

Entry = tuple[str, str, Sequence[str]]  # (chunk id, doc id, analysed terms)


class Bm25Index:
    """Passages (by id), the documents they belong to, and their BM25 score matrix."""

    def __init__(self, chunk_ids: list[str], doc_ids: list[str], vocab: list[str],
                 arrays: dict[str, np.ndarray]) -> None:
        self.chunk_ids = chunk_ids
        self.doc_ids = doc_ids  # chunk_docs[i] indexes this list
        self.vocab = vocab
        self.chunk_docs = arrays["chunk_docs"]
        self.lengths = arrays["lengths"]
        # Postings sorted by passage: what an update starts from.
        self.p_chunk, self.p_term, self.p_tf = arrays["p_chunk"], arrays["p_term"], arrays["p_tf"]
        # Term-major score matrix (CSR): the postings of term t are indptr[t]:indptr[t+1].
        self.indptr, self.indices, self.data = arrays["indptr"], arrays["indices"], arrays["data"]

    # -- building --------------------------------------------------------------------

    @classmethod
    def empty(cls) -> Bm25Index:
        ints = np.zeros(0, dtype=np.int32)
        arrays = {name: ints for name in _ARRAYS}
        return cls([], [], [], {**arrays, "indptr": np.zeros(1, dtype=np.int64),
                                "data": np.zeros(0, dtype=np.float32)})

    @classmethod
    def build(cls, entries: Iterable[Entry]) -> Bm25Index:
        return cls.empty().updated((), entries)

    def updated(self, drop_docs: Collection[str], entries: Iterable[Entry]) -> Bm25Index:
        """A new index without the passages of ``drop_docs``, plus ``entries``."""
        builder = Bm25Builder(self)
        builder.drop(drop_docs)
        builder.add(entries)
        return builder.build()

    # -- persistence -----------------------------------------------------------------

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        for name in _ARRAYS:
            np.save(path / f"{name}.npy", getattr(self, name))
        (path / "strings.json").write_text(json.dumps(
            {"chunk_ids": self.chunk_ids, "doc_ids": self.doc_ids, "vocab": self.vocab},
            ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Bm25Index:
        """Arrays are memory-mapped: pages are read when a query touches them, and
        processes on one machine share them."""
        strings = json.loads((path / "strings.json").read_text(encoding="utf-8"))
        arrays = {name: np.load(path / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
        return cls(strings["chunk_ids"], strings["doc_ids"], strings["vocab"], arrays)

    # -- querying --------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.chunk_ids)

    @cached_property
    def term_ids(self) -> dict[str, int]:
        """Terms that occur in some passage (a dropped document's terms may linger in
        ``vocab`` with no postings until the next full rebuild)."""
        present = np.flatnonzero(np.diff(self.indptr) > 0)
        return {self.vocab[i]: int(i) for i in present if self.vocab[i]}

    def passage_count(self, term: str) -> int:
        """In how many passages ``term`` occurs (its document frequency)."""
        t = self.term_ids.get(term)
        return 0 if t is None else int(self.indptr[t + 1] - self.indptr[t])

    def scores(self, terms: Iterable[str]) -> np.ndarray:
        """Summed BM25 score of ``terms`` for every passage (unknown terms add nothing)."""
        total = np.zeros(len(self.chunk_ids), dtype=np.float32)
        ids = self.term_ids
        for term in terms:
            tid = ids.get(term)
            if tid is not None:
                start, end = int(self.indptr[tid]), int(self.indptr[tid + 1])
                total[self.indices[start:end]] += self.data[start:end]
        return total

    # -- vocabulary ------------------------------------------------------------------

    @cached_property
    def _sorted_terms(self) -> list[str]:
        return sorted(self.term_ids)

    @cached_property
    def _sorted_reversed(self) -> list[str]:
        return sorted(t[::-1] for t in self.term_ids)

    def with_prefix(self, prefix: str) -> list[str]:
        """Terms that begin with ``prefix``, by binary search in the sorted vocabulary."""
        return _run(self._sorted_terms, prefix)

    def with_suffix(self, suffix: str) -> list[str]:
        """Terms that end with ``suffix``: a prefix search among reversed terms."""
        return [t[::-1] for t in _run(self._sorted_reversed, suffix[::-1])]

    def has_prefix_of(self, term: str, min_length: int) -> bool:
        """Whether a term of at least ``min_length`` characters begins ``term``."""
        ids = self.term_ids
        return any(term[:n] in ids for n in range(min_length, len(term) + 1))


class Bm25Builder:
    """Many updates, one rescore: an ingest adds documents group by group (each group
    turned into compact arrays at once, so no per-token Python objects pile up) and the
    score matrix is computed once at the end.

    An empty passage counts as the one token "" (as bm25s indexes ``[""]``), so
    passage lengths and the average length agree with bm25s.
    """

    def __init__(self, base: Bm25Index) -> None:
        self.base = base
        self.dropped: set[str] = set()
        self.vocab = list(base.vocab)
        self.term_index = {t: i for i, t in enumerate(self.vocab)}
        self.doc_ids: list[str] = []  # documents of the added passages
        self.doc_index: dict[str, int] = {}
        self.chunk_ids: list[str] = []
        self.parts: list[dict[str, np.ndarray]] = []

    def drop(self, doc_ids: Iterable[str]) -> None:
        """Leave out the base index's passages of these documents."""
        self.dropped.update(doc_ids)

    def add(self, entries: Iterable[Entry]) -> None:
        docs: list[int] = []
        lengths: list[int] = []
        ids: list[int] = []
        owners: list[int] = []
        first = len(self.chunk_ids)
        for chunk_id, doc_id, terms in entries:
            if doc_id not in self.doc_index:
                self.doc_index[doc_id] = len(self.doc_ids)
                self.doc_ids.append(doc_id)
            tokens = list(terms) or [""]
            number = len(self.chunk_ids) - first
            self.chunk_ids.append(chunk_id)
            docs.append(self.doc_index[doc_id])
            lengths.append(len(tokens))
            for token in tokens:
                tid = self.term_index.get(token)
                if tid is None:
                    tid = self.term_index[token] = len(self.vocab)
                    self.vocab.append(token)
                ids.append(tid)
                owners.append(number)
        if not docs:
            return
        # (passage, term) pairs → counts, vectorised: one key per pair.
        width = np.int64(len(self.vocab))
        keys = np.asarray(owners, dtype=np.int64) * width + np.asarray(ids, dtype=np.int64)
        unique, counts = np.unique(keys, return_counts=True)
        self.parts.append({
            "first": np.asarray([first]), "chunk_docs": np.asarray(docs, dtype=np.int32),
            "lengths": np.asarray(lengths, dtype=np.int32),
            "p_chunk": (unique // width).astype(np.int32) + first,
            "p_term": (unique % width).astype(np.int32), "p_tf": counts.astype(np.int32)})

    def build(self) -> Bm25Index:
        base = self.base
        keep_doc = np.asarray([d not in self.dropped and d not in self.doc_index
                               for d in base.doc_ids], dtype=bool)
        # A document both in the base and added again (re-ingested) keeps only the new
        # passages, whether or not it was dropped explicitly.
        keep_chunk = keep_doc[base.chunk_docs] if len(base.chunk_docs) else \
            np.zeros(0, dtype=bool)
        doc_ids = [d for d, k in zip(base.doc_ids, keep_doc, strict=True) if k]
        new_doc_number = np.cumsum(keep_doc) - 1
        new_chunk_number = np.cumsum(keep_chunk) - 1
        kept = keep_chunk[base.p_chunk] if len(base.p_chunk) else np.zeros(0, dtype=bool)
        n_kept = int(keep_chunk.sum())
        chunk_ids = [c for c, k in zip(base.chunk_ids, keep_chunk, strict=True) if k]
        chunk_ids += self.chunk_ids
        offset_docs = len(doc_ids)
        doc_ids += self.doc_ids
        arrays = {
            "chunk_docs": np.concatenate([new_doc_number[base.chunk_docs[keep_chunk]]
                                          .astype(np.int32)]
                                         + [p["chunk_docs"] + offset_docs for p in self.parts]),
            "lengths": np.concatenate([base.lengths[keep_chunk]]
                                      + [p["lengths"] for p in self.parts]),
            "p_chunk": np.concatenate([new_chunk_number[base.p_chunk[kept]].astype(np.int32)]
                                      + [p["p_chunk"] + n_kept for p in self.parts]),
            "p_term": np.concatenate([base.p_term[kept]] + [p["p_term"] for p in self.parts]),
            "p_tf": np.concatenate([base.p_tf[kept]] + [p["p_tf"] for p in self.parts]),
        }
        arrays = {k: v.astype(np.int32) for k, v in arrays.items()}
        arrays.update(_score_matrix(arrays, len(self.vocab)))
        return Bm25Index(chunk_ids, doc_ids, self.vocab, arrays)


def _run(ordered: list[str], prefix: str) -> list[str]:
    start = bisect.bisect_left(ordered, prefix)
    out: list[str] = []
    for item in ordered[start:]:
        if not item.startswith(prefix):
            break
        out.append(item)
    return out


def _score_matrix(arrays: dict[str, np.ndarray], n_terms: int) -> dict[str, np.ndarray]:
    """bm25s's lucene scores from the postings: idf(t) · tf / (tf + k1 (1 - b + b l/avg))."""
    p_chunk, p_term, p_tf, lengths = (arrays[k] for k in ("p_chunk", "p_term", "p_tf",
                                                           "lengths"))
    n_chunks = len(lengths)
    df = np.bincount(p_term, minlength=n_terms)
    if n_chunks:
        idf = np.log(1 + (n_chunks - df + 0.5) / (df + 0.5)).astype(np.float32)
        # bm25s averages the lengths in float64 and computes the tf part in float32.
        avg = np.float32(np.asarray(lengths, dtype=np.float64).mean())
    else:
        idf, avg = np.zeros(n_terms, dtype=np.float32), np.float32(1.0)
    tf = p_tf.astype(np.float32)
    doc_len = lengths[p_chunk].astype(np.float32)
    k1, b = tuning().bm25.k1, tuning().bm25.b
    tfc = tf / (np.float32(k1) * ((np.float32(1 - b)) + np.float32(b) * doc_len / avg) + tf)
    data = (idf[p_term] * tfc).astype(np.float32)
    order = np.argsort(p_term, kind="stable")  # term-major, passages ascending within a term
    indptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    return {"indptr": indptr, "indices": p_chunk[order].astype(np.int32), "data": data[order]}

