"""How likely an answer is supported: one small logistic model over the evidence.

The refusal rules each look at one number and catch the kind of question they were
written from. This model weighs all of :class:`~assistant.answer.policy.Evidence`
together and says one thing: the probability that the articles answer the question.
It is inspectable on purpose: a dozen named features, a weight each, a bias, and the
centre and scale each feature is standardised by, all in ``assistant/calibration.json``
(section ``confidence``), fitted by ``assistant eval calibrate`` on every dev suite
and tested out of fold and out of corpus (docs/evaluation.md).

The features prefer what carries across corpora: how far the best passage stands
above the question's own dense pool (the second document, the pool's mean) and above
the corpus's sentence background (``standout``, from statistics the ingest keeps
without labels), rather than raw cosine levels, which differ between corpora.

Two thresholds read the probability: below ``refusal.min_confidence`` the
``low_confidence`` rule refuses; below ``confidence.hedge_below`` the answer is
given as a hedge ("Jag hittar inget säkert svar. Närmast i artiklarna: …").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.answer.policy import Evidence
from assistant.params import load_calibration

__all__ = ["FEATURES", "ConfidenceModel", "feature_vector", "fit"]

SECTION = "confidence"
STANDOUT_RANGE = (-3.0, 8.0)  # a limit, not tuning: beyond it the sd estimate says nothing


def _gap(best: float | None, other: float | None) -> float:
    return 0.0 if best is None or other is None else best - other


def _standout(ev: Evidence) -> float:
    if ev.standout is None or not math.isfinite(ev.standout):
        return 0.0
    return min(max(ev.standout, STANDOUT_RANGE[0]), STANDOUT_RANGE[1])


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


# name → how it is read off the evidence; the order is the model's.
FEATURES: dict[str, Callable[[Evidence], float]] = {
    "best_passage": lambda ev: ev.best_passage or 0.0,
    "passage_gap": lambda ev: _gap(ev.best_passage, ev.second_passage),
    "pool_gap": lambda ev: _gap(ev.best_passage, ev.pool_mean),
    "best_sentence": lambda ev: ev.best_sentence,
    "standout": _standout,
    "best_lexical": lambda ev: ev.best_lexical,
    "attribute_coverage": lambda ev: 1.0 if ev.attribute_coverage is None
    else ev.attribute_coverage,
    "english": lambda ev: 1.0 if ev.language == "en" else 0.0,
    "missing_names": lambda ev: _share(len(ev.missing_names), ev.known_names),
    "unknown_names": lambda ev: float(min(len(ev.unknown_names), 2)),
    "unknown_terms": lambda ev: _share(ev.unknown_terms, ev.content_terms),
    "untyped": lambda ev: 1.0 if ev.answer_type and not ev.typed else 0.0,
    "slot_gap": lambda ev: ev.slot_gap or 0.0,
    "exact_terms": lambda ev: 1.0 if ev.exact_terms else 0.0,
}


def feature_vector(ev: Evidence, names: Sequence[str] = tuple(FEATURES)) -> np.ndarray:
    return np.asarray([FEATURES[name](ev) for name in names], dtype=np.float64)


@dataclass(frozen=True)
class ConfidenceModel:
    """Standardised features, a weight each and a bias; ``hedge_below`` (None: no hedge)."""

    features: tuple[str, ...]
    center: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    hedge_below: float | None = None

    def __post_init__(self) -> None:
        unknown = [f for f in self.features if f not in FEATURES]
        sizes = {len(self.features), len(self.center), len(self.scale), len(self.weights)}
        if unknown or len(sizes) != 1:
            raise ValueError("kalibreringens avsnitt 'confidence' är ogiltigt: okända "
                             f"egenskaper {unknown} eller olika längder; kör "
                             "assistant eval calibrate --write")

    def probability(self, ev: Evidence) -> float:
        return float(self.probabilities(feature_vector(ev, self.features)[None, :])[0])

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        z = (rows - np.asarray(self.center)) / np.asarray(self.scale)
        return _sigmoid(z @ np.asarray(self.weights) + self.bias)

    def hedges(self, confidence: float | None) -> bool:
        return (confidence is not None and self.hedge_below is not None
                and confidence < self.hedge_below)

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features),
                "center": [round(v, 6) for v in self.center],
                "scale": [round(v, 6) for v in self.scale],
                "weights": [round(v, 6) for v in self.weights],
                "bias": round(self.bias, 6), "hedge_below": self.hedge_below}

    @classmethod
    def from_calibration(cls, data: Mapping[str, Any] | None = None) -> ConfidenceModel | None:
        """The committed model, or None when the file has none (no confidence, no hedge)."""
        data = load_calibration() if data is None else data
        section = data.get(SECTION)
        if not section:
            return None
        return cls(tuple(section["features"]), tuple(section["center"]),
                   tuple(section["scale"]), tuple(section["weights"]),
                   float(section["bias"]), section.get("hedge_below"))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


def fit(rows: np.ndarray, answerable: np.ndarray, l2: float,
        names: Sequence[str] = tuple(FEATURES)) -> ConfidenceModel:
    """Class-balanced, L2-penalised logistic regression by Newton's method: deterministic,
    a few milliseconds, no dependency. Each class weighs half, whatever its size, so
    the model says how the two differ rather than how many of each a suite has."""
    y = np.asarray(answerable, dtype=np.float64)
    center = rows.mean(axis=0)
    scale = rows.std(axis=0)
    scale[scale < 1e-9] = 1.0
    x = np.hstack([(rows - center) / scale, np.ones((len(rows), 1))])
    positives = max(float(y.sum()), 1.0)
    negatives = max(float(len(y) - y.sum()), 1.0)
    weight = np.where(y > 0, 0.5 / positives, 0.5 / negatives)
    penalty = np.full(x.shape[1], l2)
    penalty[-1] = 0.0  # the bias is not shrunk
    beta = np.zeros(x.shape[1])
    for _ in range(50):
        p = _sigmoid(x @ beta)
        gradient = x.T @ (weight * (p - y)) + penalty * beta
        hessian = (x * (weight * p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(beta)), gradient)
        beta -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    return ConfidenceModel(tuple(names), tuple(float(v) for v in center),
                           tuple(float(v) for v in scale),
                           tuple(float(v) for v in beta[:-1]), float(beta[-1]))
