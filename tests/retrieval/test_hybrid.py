"""Near-duplicate collapse (pure function, no index needed)."""

from __future__ import annotations

from assistant.retrieval.hybrid import _collapse
from assistant.types import Chunk, ScoredChunk


def _sc(i: int, text: str, score: float) -> ScoredChunk:
    chunk = Chunk(chunk_id=f"c{i}", doc_id=f"d{i}.txt", doc_hash="h", ordinal=0, text=text,
                  start=0, end=len(text), content_hash=f"x{i}", title="T")
    return ScoredChunk(chunk, score)


def test_near_duplicates_are_collapsed() -> None:
    text = "Landskrona lyfts fram som ett gott exempel när det gäller skolutveckling."
    ranked = [_sc(0, text, 0.9), _sc(1, text + " Igen.", 0.8), _sc(2, "Helt annan text här.", 0.7)]
    assert [s.chunk.chunk_id for s in _collapse(ranked)] == ["c0", "c2"]
