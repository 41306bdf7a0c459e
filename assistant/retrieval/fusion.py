"""Score-based fusion of the dense and lexical rankings, with a query-adaptive lexical weight.

Reciprocal-rank fusion throws the scores away: a BM25 list whose top hit barely beats
the tenth counts as much as one with a clear winner, and on the FAQ dev suites that
put hybrid retrieval *below* dense search alone (hit@1 0.51 vs 0.60 in Swedish).
Here the dense cosine is the base score and BM25 only adds a small bonus:

    score = cosine + w[lang] · margin · bm25 / max(bm25)

where ``margin = (top1 − top2) / top1`` of the BM25 list measures how decisively the
words single out one passage (an exact name, a rare compound) and is near 0 when
many passages share the query's words. ``w`` is chosen per question language by
cross-validation (``assistant eval calibrate``): BM25 over Swedish stems says
little about an English question, so English gets its own weight.

The cosine itself may be blended with the passage's best *sentence* cosine (the
sentence vectors the ingest stores anyway), ``(1 − s[lang]) · cos + s[lang] · max_sent``:
one passage vector averages every sentence, while a short question usually asks
what one sentence says. The blend matters most across languages (an English
question against Swedish text), where a single averaged vector is the noisiest;
``s`` is chosen per language by the same cross-validation.

The function is pure so the calibration command can replay thousands of stored
retrievals under every candidate weight without touching the index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from assistant.params import FusionParams

__all__ = ["FusionParams", "fuse"]

K = TypeVar("K")


def fuse(
    dense: Sequence[tuple[K, float]],
    lexical: Sequence[tuple[K, float]],
    params: FusionParams,
    language: str = "sv",
    sentences: Mapping[K, float] | None = None,
) -> list[tuple[K, float]]:
    """Fused (key, score) pairs, best first; ties keep the dense order.

    ``dense`` holds cosine similarities of the dense pool, ``lexical`` BM25 scores of
    the lexical pool (both best first), ``sentences`` the best sentence cosine of
    dense-pool keys (a key without one keeps its passage cosine). A key found only
    lexically gets the lowest dense score of the pool, a lower bound of its true
    similarity, so a lexical-only passage must earn its place through the bonus.
    """
    share = params.sentence(language)
    best = sentences or {}
    scores: dict[K, float] = {
        key: (1.0 - share) * float(sim) + share * float(best.get(key, sim))
        for key, sim in dense}
    floor = min(scores.values(), default=0.0)
    weight = params.weight(language)
    positive = [float(s) for _, s in lexical if s > 0]
    if weight > 0 and positive:
        top = max(positive)
        second = sorted(positive, reverse=True)[1] if len(positive) > 1 else 0.0
        margin = (top - second) / top if params.adaptive else 1.0
        for key, bm25 in lexical:
            if bm25 <= 0:
                continue
            bonus = weight * margin * float(bm25) / top
            scores[key] = scores.get(key, floor) + bonus
    order = {key: i for i, (key, _) in enumerate(dense)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], order.get(kv[0], len(order))))
