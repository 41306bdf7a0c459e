"""Sentence vectors packed per passage, and the running corpus statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from assistant.retrieval.sentences import SentenceStats, pack, unpack


def _unit(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    v = rng.normal(size=(n, dim))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_pack_round_trip_keeps_spans_and_vectors() -> None:
    vectors = _unit(np.random.default_rng(1), 3, 384)
    spans = [(0, 41), (42, 97), (1200, 1311)]
    blob = pack(spans, vectors)
    assert blob.isascii()
    got_spans, got = unpack(blob)
    assert got_spans == spans
    assert got.shape == (3, 384) and got.dtype == np.float32
    assert np.abs(got - vectors).max() < 1e-3  # float16
    assert unpack(pack([], np.zeros((0, 384))))[0] == []


def test_stats_match_numpy_and_update_incrementally() -> None:
    rng = np.random.default_rng(2)
    a, b = _unit(rng, 40), _unit(rng, 25)
    stats = SentenceStats.empty(16)
    stats.add(a)
    stats.add(b)
    both = np.vstack([a, b])
    q = _unit(rng, 1)[0]
    sims = both @ q
    expected = (0.9 - sims.mean()) / math.sqrt(q @ np.cov(both, rowvar=False) @ q)
    assert stats.standout(q, 0.9) == pytest.approx(expected, rel=1e-9)
    # A replaced document: its old vectors leave the sums, the result is as if never added.
    stats.add(b, sign=-1)
    only_a = SentenceStats.empty(16)
    only_a.add(a)
    assert stats.count == 40
    assert stats.standout(q, 0.9) == pytest.approx(only_a.standout(q, 0.9), rel=1e-9)
    again = SentenceStats.from_blob(stats.to_blob())
    assert again.count == 40
    assert again.standout(q, 0.9) == pytest.approx(stats.standout(q, 0.9), rel=1e-12)


def test_standout_is_infinite_without_spread() -> None:
    stats = SentenceStats.empty(16)
    assert stats.standout(np.ones(16) / 4, 0.5) == math.inf
    stats.add(np.ones((1, 16)) / 4)
    assert stats.standout(np.ones(16) / 4, 0.5) == math.inf
