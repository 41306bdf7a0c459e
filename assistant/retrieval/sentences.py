"""Sentence vectors kept per passage, and the corpus statistics built from them.

The extractive answerer needs the vectors of the sentences inside the few passages it
answers from; it never searches sentences by nearest neighbour. Kept as one record per
passage (same id as the passage, a float16 pack of its sentence spans and vectors),
they are fetched by id in one round-trip whatever the corpus size, and need no HNSW
graph: at 450k sentences a graph cost 0.9 GiB to load and a metadata ``where`` scan
12 s per answer.

:class:`SentenceStats` is the background distribution of all sentence vectors (count,
sum, sum of outer products). Sums are additive, so ingest updates them per document
(add the new version's vectors, subtract the old one's) instead of any process sampling
the corpus, and the English stand-out rule costs one matrix-vector product.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

_HEADER = np.dtype("<i4")


def pack(spans: Sequence[tuple[int, int]], vectors: np.ndarray) -> str:
    """Spans (document-wide offsets) and their vectors as one ASCII string.

    float16 keeps 3 significant digits: cosine similarities move by < 1e-3, far below
    any threshold the answerer uses, at a quarter of float64's size.
    """
    matrix = np.asarray(vectors, dtype=np.float32)
    matrix = matrix.reshape(len(spans), matrix.shape[-1] if matrix.ndim else 0)
    header = np.asarray([len(spans), matrix.shape[1]], dtype=_HEADER)
    offsets = np.asarray(spans, dtype=_HEADER).reshape(-1)
    raw = header.tobytes() + offsets.tobytes() + matrix.astype("<f2").tobytes()
    return base64.b64encode(raw).decode("ascii")


def unpack(blob: str) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The inverse of :func:`pack`: (spans, float32 matrix with one row per span)."""
    raw = base64.b64decode(blob)
    n, dim = (int(x) for x in np.frombuffer(raw, dtype=_HEADER, count=2))
    offsets = np.frombuffer(raw, dtype=_HEADER, count=2 * n, offset=8).reshape(n, 2)
    vectors = np.frombuffer(raw, dtype="<f2", count=n * dim, offset=8 + 8 * n)
    spans = [(int(s), int(e)) for s, e in offsets]
    return spans, vectors.reshape(n, dim).astype(np.float32)


@dataclass
class SentenceStats:
    """Count, sum and sum of outer products of the corpus's sentence vectors."""

    count: int
    total: np.ndarray  # (dim,) float64
    outer: np.ndarray  # (dim, dim) float64
    # mean and covariance, derived once per state: every question asks for its standout
    _moments: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False,
                                                           compare=False)

    @classmethod
    def empty(cls, dim: int) -> SentenceStats:
        return cls(0, np.zeros(dim), np.zeros((dim, dim)))

    def add(self, vectors: np.ndarray, sign: int = 1) -> None:
        """Add (``sign=1``) or remove (``sign=-1``) sentence vectors."""
        if len(vectors) == 0:
            return
        v = np.asarray(vectors, dtype=np.float64)
        if self.count == 0 and self.total.shape[0] != v.shape[1]:
            self.total, self.outer = np.zeros(v.shape[1]), np.zeros((v.shape[1],) * 2)
        self.count += sign * len(v)
        self.total += sign * v.sum(axis=0)
        self.outer += sign * (v.T @ v)
        self._moments = None

    def standout(self, query_vector: Sequence[float] | np.ndarray, best: float) -> float:
        """How many standard deviations ``best`` lies above the query's mean similarity
        to the corpus's sentences (``inf`` when there is no spread to compare with)."""
        if self.count < 2:
            return math.inf
        if self._moments is None:
            mean = self.total / self.count
            # Sample covariance, as numpy.cov computes it, from the running sums.
            self._moments = mean, (self.outer - self.count * np.outer(mean, mean)) / (
                self.count - 1)
        mean, cov = self._moments
        q = np.asarray(query_vector, dtype=np.float64)
        spread = math.sqrt(max(float(q @ cov @ q), 1e-12))
        return (best - float(q @ mean)) / spread

    def to_blob(self) -> str:
        """float64 throughout: the sums are updated by subtraction for years of ingests."""
        dim = self.total.shape[0]
        raw = np.asarray([self.count, dim], dtype="<i8").tobytes() + \
            self.total.astype("<f8").tobytes() + self.outer.astype("<f8").tobytes()
        return base64.b64encode(raw).decode("ascii")

    @classmethod
    def from_blob(cls, blob: str) -> SentenceStats:
        raw = base64.b64decode(blob)
        count, dim = (int(x) for x in np.frombuffer(raw, dtype="<i8", count=2))
        total = np.frombuffer(raw, dtype="<f8", count=dim, offset=16).copy()
        outer = np.frombuffer(raw, dtype="<f8", count=dim * dim, offset=16 + 8 * dim)
        return cls(count, total, outer.reshape(dim, dim).copy())
