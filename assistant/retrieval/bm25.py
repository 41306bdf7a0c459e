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

import array
import bisect
import json
import shutil
import tempfile
from collections.abc import Collection, Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from assistant.params import tuning

_ARRAYS = ("chunk_docs", "lengths", "p_chunk", "p_term", "p_tf", "indptr", "indices", "data")
_POSTINGS = ("p_chunk", "p_term", "p_tf")  # one entry per (passage, term): the big ones
# Postings read or written per step while building, and scored and sorted together per
# bucket of terms: they bound the build's memory (about 12 and 32 bytes each).
_SLICE = 1 << 20
_BUCKET = 1 << 21

Entry = tuple[str, str, Sequence[str]]  # (chunk id, doc id, analysed terms)


class Bm25Index:
    """Passages (by id), the documents they belong to, and their BM25 score matrix."""

    def __init__(self, chunk_ids: list[str], doc_ids: list[str], vocab: list[str],
                 arrays: dict[str, np.ndarray], source: Path | None = None) -> None:
        """``source``: the directory the arrays are memory-mapped from, if any."""
        self.source = source
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

    def updated(self, drop_docs: Collection[str], entries: Iterable[Entry],
                directory: Path | None = None) -> Bm25Index:
        """A new index without the passages of ``drop_docs``, plus ``entries`` (written
        to ``directory`` when given, see :meth:`Bm25Builder.build`)."""
        builder = Bm25Builder(self)
        builder.drop(drop_docs)
        builder.add(entries)
        return builder.build(directory)

    # -- persistence -----------------------------------------------------------------

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        for name in _ARRAYS:
            if self.source is not None:  # a copy by the kernel, not through the map
                shutil.copyfile(self.source / f"{name}.npy", path / f"{name}.npy")
            else:
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
        return cls(strings["chunk_ids"], strings["doc_ids"], strings["vocab"], arrays, path)

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
    """Many updates, one rescore, in memory that does not grow with the corpus.

    An ingest adds documents group by group; each group's postings are turned into
    compact arrays at once and appended to spill files on disk (at 30,000 documents the
    postings held in memory, then copied and rescored, took ingest to 1.2 GB). The build
    writes the index's arrays a slice at a time: passage-major postings as they come,
    then the term-major score matrix in buckets of terms, each bucket scored and sorted
    on its own. Only what has one entry per passage or per term is held whole.

    An empty passage counts as the one token "" (as bm25s indexes ``[""]``), so
    passage lengths and the average length agree with bm25s.
    """

    def __init__(self, base: Bm25Index, slice_size: int = _SLICE,
                 bucket_size: int = _BUCKET) -> None:
        """``slice_size``, ``bucket_size``: postings per read and per scored bucket (the
        build's memory; the index is the same whatever they are)."""
        self.base = base
        self.slice_size, self.bucket_size = slice_size, bucket_size
        self.dropped: set[str] = set()
        self.vocab = list(base.vocab)
        self.term_index = {t: i for i, t in enumerate(self.vocab)}
        self.doc_ids: list[str] = []  # documents of the added passages
        self.doc_index: dict[str, int] = {}
        self.chunk_ids: list[str] = []
        self.chunk_docs = array.array("i")  # per added passage: its document (doc_ids)
        self.lengths = array.array("i")
        self._spill_dir = tempfile.TemporaryDirectory(prefix="bm25-spill-")
        spill = Path(self._spill_dir.name)
        self._spill = {name: (spill / name).open("w+b") for name in _POSTINGS}
        self.postings = 0  # added postings, in the spill files

    def drop(self, doc_ids: Iterable[str]) -> None:
        """Leave out the base index's passages of these documents."""
        self.dropped.update(doc_ids)

    def add(self, entries: Iterable[Entry]) -> None:
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
            self.chunk_docs.append(self.doc_index[doc_id])
            self.lengths.append(len(tokens))
            for token in tokens:
                tid = self.term_index.get(token)
                if tid is None:
                    tid = self.term_index[token] = len(self.vocab)
                    self.vocab.append(token)
                ids.append(tid)
                owners.append(number)
        if not owners:
            return
        # (passage, term) pairs → counts, vectorised: one key per pair.
        width = np.int64(len(self.vocab))
        keys = np.asarray(owners, dtype=np.int64) * width + np.asarray(ids, dtype=np.int64)
        del ids, owners
        unique, counts = np.unique(keys, return_counts=True)
        del keys
        columns = {"p_chunk": (unique // width).astype(np.int32) + np.int32(first),
                   "p_term": (unique % width).astype(np.int32),
                   "p_tf": counts.astype(np.int32)}
        for name, values in columns.items():
            self._spill[name].write(values.tobytes())
        self.postings += len(unique)

    def build(self, directory: Path | None = None) -> Bm25Index:
        """The index; written to ``directory`` and memory-mapped from there when given,
        else held in memory (written to a temporary directory and read back whole)."""
        if directory is None:
            with tempfile.TemporaryDirectory(prefix="bm25-") as tmp:
                chunk_ids, doc_ids = self._write(Path(tmp))
                arrays = {name: np.load(Path(tmp) / f"{name}.npy") for name in _ARRAYS}
                return Bm25Index(chunk_ids, doc_ids, self.vocab, arrays)
        chunk_ids, doc_ids = self._write(directory)
        arrays = {name: np.load(directory / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
        return Bm25Index(chunk_ids, doc_ids, self.vocab, arrays, directory)

    def _write(self, out: Path) -> tuple[list[str], list[str]]:
        """Every array and the strings into ``out``; the passages' and documents' ids."""
        base = self.base
        for f in self._spill.values():
            f.flush()
        keep_doc = np.asarray([d not in self.dropped and d not in self.doc_index
                               for d in base.doc_ids], dtype=bool)
        # A document both in the base and added again (re-ingested) keeps only the new
        # passages, whether or not it was dropped explicitly.
        base_docs = np.asarray(base.chunk_docs)
        keep_chunk = keep_doc[base_docs] if len(base_docs) else np.zeros(0, dtype=bool)
        new_doc_number = (np.cumsum(keep_doc) - 1).astype(np.int32)
        new_chunk_number = (np.cumsum(keep_chunk) - 1).astype(np.int32)
        n_kept = int(keep_chunk.sum())
        doc_ids = [d for d, k in zip(base.doc_ids, keep_doc, strict=True) if k]
        chunk_ids = [c for c, k in zip(base.chunk_ids, keep_chunk, strict=True) if k]
        offset_docs = len(doc_ids)
        chunk_ids += self.chunk_ids
        doc_ids += self.doc_ids
        out.mkdir(parents=True, exist_ok=True)
        added_docs = np.frombuffer(self.chunk_docs, dtype=np.int32) if self.chunk_docs \
            else np.zeros(0, dtype=np.int32)
        added_lengths = np.frombuffer(self.lengths, dtype=np.int32) if self.lengths \
            else np.zeros(0, dtype=np.int32)
        lengths = np.concatenate([np.asarray(base.lengths)[keep_chunk], added_lengths]
                                 ).astype(np.int32)
        np.save(out / "chunk_docs.npy", np.concatenate(
            [new_doc_number[base_docs[keep_chunk]], added_docs + np.int32(offset_docs)]
        ).astype(np.int32))
        np.save(out / "lengths.npy", lengths)

        # Passage-major postings: the base's kept ones (renumbered), then the added ones.
        n_base = len(base.p_chunk)
        kept_postings = sum(int(keep_chunk[_piece(base, "p_chunk", start,
                                                   min(start + self.slice_size, n_base))].sum())
                            for start in range(0, n_base, self.slice_size))
        total = kept_postings + self.postings
        n_terms = len(self.vocab)
        df = np.zeros(n_terms, dtype=np.int64)
        writers = {name: _NpyWriter(out / f"{name}.npy", total) for name in _POSTINGS}
        for start in range(0, n_base, self.slice_size):
            stop = min(start + self.slice_size, n_base)
            chunk = _piece(base, "p_chunk", start, stop)
            keep = keep_chunk[chunk]
            term = _piece(base, "p_term", start, stop)[keep]
            writers["p_chunk"].write(new_chunk_number[chunk[keep]])
            writers["p_term"].write(term)
            writers["p_tf"].write(_piece(base, "p_tf", start, stop)[keep])
            df += np.bincount(term, minlength=n_terms)
        for start in range(0, self.postings, self.slice_size):
            stop = min(start + self.slice_size, self.postings)
            term = _spilled(self._spill["p_term"], start, stop)
            writers["p_chunk"].write(_spilled(self._spill["p_chunk"], start, stop)
                                     + np.int32(n_kept))
            writers["p_term"].write(term)
            writers["p_tf"].write(_spilled(self._spill["p_tf"], start, stop))
            df += np.bincount(term, minlength=n_terms)
        for w in writers.values():
            w.close()
        self.close()

        indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(df, out=indptr[1:])
        np.save(out / "indptr.npy", indptr)
        _score_matrix(out, lengths, df, indptr, self.slice_size, self.bucket_size)
        (out / "strings.json").write_text(json.dumps(
            {"chunk_ids": chunk_ids, "doc_ids": doc_ids, "vocab": self.vocab},
            ensure_ascii=False), encoding="utf-8")
        return chunk_ids, doc_ids

    def close(self) -> None:
        """Remove the spill files (the build does; an abandoned builder should too)."""
        for f in self._spill.values():
            f.close()
        self._spill_dir.cleanup()


class _NpyWriter:
    """A 1-d int32/float32 ``.npy`` file written in order, a slice at a time, through the
    file: pages written through a memory map would count as the process's own memory."""

    def __init__(self, path: Path, length: int, dtype: type = np.int32) -> None:
        self.dtype = np.dtype(dtype)
        self.file = path.open("wb")
        np.lib.format.write_array_header_1_0(self.file, {
            "descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
            "shape": (length,)})
        self.length, self.written = length, 0

    def write(self, values: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(values, dtype=self.dtype).tobytes())
        self.written += len(values)

    def close(self) -> None:
        self.file.close()
        if self.written != self.length:
            raise ValueError(f"{self.file.name}: wrote {self.written} of {self.length}")


def _npy_offset(path: Path) -> tuple[int, np.dtype[Any], int]:
    """(where the data of a 1-d ``.npy`` file begins, its dtype, its length)."""
    with path.open("rb") as f:
        version = np.lib.format.read_magic(f)
        shape, _, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                           else np.lib.format.read_array_header_2_0(f))
        return f.tell(), dtype, int(shape[0])


def _read(path: Path, start: int, stop: int) -> np.ndarray:
    """Elements ``start:stop`` of a 1-d ``.npy`` file, read through the file: a pass over
    a memory map would leave every page it touched counted as the process's memory."""
    offset, dtype, _ = _npy_offset(path)
    with path.open("rb") as f:
        f.seek(offset + start * dtype.itemsize)
        return np.fromfile(f, dtype=dtype, count=stop - start)


def _piece(index: Bm25Index, name: str, start: int, stop: int) -> np.ndarray:
    """``index.<name>[start:stop]``, through the file when the index was loaded from one."""
    if index.source is None:
        return np.asarray(getattr(index, name)[start:stop])
    return _read(index.source / f"{name}.npy", start, stop)


def _spilled(f: BinaryIO, start: int, stop: int) -> np.ndarray:
    f.seek(start * 4)
    return np.frombuffer(f.read((stop - start) * 4), dtype=np.int32)


def _run(ordered: list[str], prefix: str) -> list[str]:
    start = bisect.bisect_left(ordered, prefix)
    out: list[str] = []
    for item in ordered[start:]:
        if not item.startswith(prefix):
            break
        out.append(item)
    return out


def _score_matrix(out: Path, lengths: np.ndarray, df: np.ndarray, indptr: np.ndarray,
                  slice_size: int, bucket_size: int) -> None:
    """bm25s's lucene scores from the postings: idf(t) · tf / (tf + k1 (1 - b + b l/avg)),
    written term-major (passages ascending within a term) as ``indices`` and ``data``.

    Terms are taken in buckets of about ``bucket_size`` postings: a pass over the
    passage-major postings collects a bucket's postings, which are scored and put in
    term order (a stable sort keeps the passages ascending) and appended. Elementwise
    float32 arithmetic, so the scores are those of one pass over everything."""
    n_chunks, n_terms = len(lengths), len(df)
    if n_chunks:
        idf = np.log(1 + (n_chunks - df + 0.5) / (df + 0.5)).astype(np.float32)
        # bm25s averages the lengths in float64 and computes the tf part in float32.
        avg = np.float32(np.asarray(lengths, dtype=np.float64).mean())
    else:
        idf, avg = np.zeros(n_terms, dtype=np.float32), np.float32(1.0)
    k1, b = tuning().bm25.k1, tuning().bm25.b
    norm = (np.float32(k1) * (np.float32(1 - b) + np.float32(b)
                              * lengths.astype(np.float32) / avg)).astype(np.float32)
    total = int(indptr[-1])
    indices = _NpyWriter(out / "indices.npy", total)
    data = _NpyWriter(out / "data.npy", total, np.float32)
    lo = 0
    while lo < n_terms:
        # The bucket: terms lo..hi-1 whose postings together stay within bucket_size (a term
        # with more postings than that forms a bucket alone).
        hi = max(lo + 1, int(np.searchsorted(indptr, indptr[lo] + bucket_size, side="right")) - 1)
        hi = min(hi, n_terms)
        terms, chunks, tfs = [], [], []
        for start in range(0, total, slice_size):
            stop = min(start + slice_size, total)
            term = _read(out / "p_term.npy", start, stop)
            mine = (term >= lo) & (term < hi)
            if not mine.any():
                continue
            terms.append(term[mine])
            chunks.append(_read(out / "p_chunk.npy", start, stop)[mine])
            tfs.append(_read(out / "p_tf.npy", start, stop)[mine])
        if terms:
            term = np.concatenate(terms)
            chunk = np.concatenate(chunks)
            tf = np.concatenate(tfs).astype(np.float32)
            del terms, chunks, tfs
            tfc = tf / (norm[chunk] + tf)
            scores = (idf[term] * tfc).astype(np.float32)
            order = np.argsort(term, kind="stable")
            indices.write(chunk[order])
            data.write(scores[order])
        lo = hi
    indices.close()
    data.close()
