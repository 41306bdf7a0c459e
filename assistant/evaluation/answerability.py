"""Fitting and judging the answerability model (``confidence``) inside the calibration.

The model itself lives with the answer stage (:mod:`assistant.answer.confidence`);
evaluation/ does not import the chain, so the command hands in a :class:`ConfidenceKit`
(how evidence becomes a feature row, how a model is fitted). This module decides what
the calibration asks of it:

* a question's ``confidence`` is always scored by a model that did not see it: the
  refusal search (which chooses ``refusal.min_confidence`` together with every other
  rule's threshold, :func:`~assistant.evaluation.calibration.choose_policy`) runs on
  out-of-fold scores, and the out-of-fold figures come from a search that saw neither
  the held-out fold's questions nor a model trained on them (folds hold questions of
  every corpus);
* **leave one corpus out**: model *and* policy chosen on the other corpus alone, then
  applied to this one: the transfer test, since score levels differ between corpora;
* the **hedge threshold** (``confidence.hedge_below``) is the highest that keeps the
  out-of-fold false refusals, hedges counted as refusals, within :data:`HEDGE_CAP` on
  every corpus (or within what refusals alone already cost there).

Each figure stands beside the top-1 passage cosine (``best_passage``) at the same
false-refusal rate: the one-threshold reference a new mechanism must beat.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

import numpy as np

from assistant.evaluation.abstention import auroc, refusal_at_rate

__all__ = ["HEDGE_CAP", "L2", "ConfidenceKit", "ConfidenceReport", "FittedModel", "Scoring",
           "report"]

# Procedure constants of the search (like the rules' caps in calibration.py).
HEDGE_CAP = 0.045  # false refusals allowed out of fold with hedges counted as refusals
L2 = 0.01  # the model's penalty on standardised weights: small, the features are few
_STEPS = np.round(np.arange(0.0, 1.0, 0.01), 2)  # hedge thresholds tried


class FittedModel(Protocol):
    def probabilities(self, rows: np.ndarray) -> np.ndarray: ...

    def to_json(self) -> dict[str, Any]: ...


class ConfidenceKit(Protocol):
    def features(self, evidence: Any) -> Sequence[float]: ...

    def fit(self, rows: np.ndarray, answerable: np.ndarray) -> FittedModel: ...


class Question(Protocol):
    """What scoring needs of a calibration item (``evidence`` None: nothing to quote)."""

    suite: str
    corpus: str
    kind: str
    evidence: Any

    @property
    def fold(self) -> int: ...

    @property
    def answerable(self) -> bool: ...


Q = TypeVar("Q", bound=Question)
Decide = Callable[[Q], bool]  # whether a policy refuses a (scored) question


class Scoring:
    """Fits the kit's model on some questions and scores others with it."""

    def __init__(self, kit: ConfidenceKit) -> None:
        self.kit = kit

    def model(self, train: Sequence[Question]) -> FittedModel:
        usable = [q for q in train if q.evidence is not None]
        rows = np.asarray([self.kit.features(q.evidence) for q in usable], dtype=np.float64)
        return self.kit.fit(rows, np.asarray([q.answerable for q in usable], dtype=bool))

    def scored(self, group: Sequence[Q], train: Sequence[Question]) -> list[Q]:
        """Copies of ``group`` whose evidence carries the confidence of a model fitted on
        ``train``."""
        return self.apply(group, self.model(train))

    def apply(self, group: Sequence[Q], model: FittedModel) -> list[Q]:
        usable = [q for q in group if q.evidence is not None]
        if not usable:
            return list(group)
        rows = np.asarray([self.kit.features(q.evidence) for q in usable], dtype=np.float64)
        scores = iter(model.probabilities(rows))
        out = []
        for q in group:
            if q.evidence is not None:
                q = copy.copy(q)
                q.evidence = replace(q.evidence, confidence=float(next(scores)))
            out.append(q)
        return out

    def out_of_fold(self, group: Sequence[Q]) -> list[Q]:
        """``group`` scored fold by fold, each fold by a model fitted on the others."""
        out: list[Q] = []
        for fold in sorted({q.fold for q in group}):
            held = [q for q in group if q.fold == fold]
            out += self.scored(held, [q for q in group if q.fold != fold])
        return out


@dataclass
class ConfidenceReport:
    model: dict[str, Any]  # the committed model (fitted on all questions), as JSON
    hedge_below: float | None
    # group (a corpus, or a suite of a corpus with several) → view → metric → value
    rows: dict[str, dict[str, dict[str, float | None]]] = field(default_factory=dict)

    def section(self) -> dict[str, Any]:
        return {**self.model, "hedge_below": self.hedge_below}


def _score(q: Question) -> float:
    return 0.0 if q.evidence is None or q.evidence.confidence is None \
        else float(q.evidence.confidence)


def _false_refusals(group: Sequence[Q], refused: Decide[Q]) -> float:
    answerable = [q for q in group if q.answerable]
    return sum(map(refused, answerable)) / len(answerable) if answerable else 0.0


def _row(group: Sequence[Q], refused: Decide[Q], score: Callable[[Q], float]
         ) -> dict[str, float | None]:
    def share(members: list[Q]) -> float | None:
        return sum(map(refused, members)) / len(members) if members else None

    answerable = [q for q in group if q.answerable]
    unanswerable = [q for q in group if not q.answerable]
    return {"auroc": auroc([score(q) for q in answerable], [score(q) for q in unanswerable]),
            "refusal": share(unanswerable),
            "nearmiss": share([q for q in unanswerable if q.kind == "nearmiss"]),
            "false_refusal": share(answerable)}


def _hedge_threshold(judged: Sequence[Q], refused: Decide[Q],
                     refuse_below: float | None) -> float | None:
    """The highest hedge threshold within :data:`HEDGE_CAP` on every corpus; None when
    it hedges nothing the refusals do not already cover, or leaves no room above the
    committed refusal threshold ``refuse_below``."""
    corpora = [[q for q in judged if q.corpus == c] for c in sorted({q.corpus for q in judged})]
    limits = [max(HEDGE_CAP, _false_refusals(g, refused)) for g in corpora]
    best: float | None = None
    for t in _STEPS:
        hedged = _or_below(refused, _score, float(t))
        if any(_false_refusals(g, hedged) > limit + 1e-9
               for g, limit in zip(corpora, limits, strict=True)):
            break
        best = float(t)
    hedges = _or_below(lambda _q: False, _score, best)
    if best is None or best <= (refuse_below or 0.0) \
            or not any(hedges(q) and not refused(q) for q in judged):
        return None
    return best


def _members(group: Sequence[Q], key: str, name: str) -> list[Q]:
    return [q for q in group if getattr(q, key) == name]


def _or_below(refused: Decide[Q], score: Callable[[Q], float],
              threshold: float | None) -> Decide[Q]:
    """``refused``, or a score below ``threshold`` (None: no threshold)."""
    return lambda q: refused(q) or (threshold is not None and score(q) < threshold)


def report(items: Sequence[Q], scoring: Scoring, refuses: Decide[Q],
           judged: Sequence[Q], refuses_oof: Decide[Q],
           choose: Callable[[Sequence[Q]], Decide[Q]],
           refuse_below: float | None = None) -> ConfidenceReport:
    """The model fitted on everything, the hedge threshold, and per corpus (and suite)
    the in-sample, out-of-fold and leave-corpus-out figures beside the reference.

    ``refuses``: the committed policy (``refuse_below``: its ``min_confidence``);
    ``judged``/``refuses_oof``: each question scored and judged without its fold;
    ``choose``: the refusal search, for the transfer test.
    """
    model = scoring.model(items)
    inside = scoring.apply(items, model)
    hedge = _hedge_threshold(judged, refuses_oof, refuse_below)
    transferred: list[Q] = []
    refuses_loco: dict[str, Decide[Q]] = {}
    for corpus in sorted({q.corpus for q in items}):
        other = [q for q in items if q.corpus != corpus]
        refuses_loco[corpus] = choose(scoring.out_of_fold(other))
        transferred += scoring.scored([q for q in items if q.corpus == corpus], other)

    def best(q: Question) -> float:
        return 0.0 if q.evidence is None else float(q.evidence.best_passage or 0.0)

    rows: dict[str, dict[str, dict[str, float | None]]] = {}
    for corpus in sorted({q.corpus for q in items}):
        mine = [q for q in judged if q.corpus == corpus]
        # The reference refuses as many answerable questions as the out-of-fold policy.
        target = _false_refusals(mine, refuses_oof)
        at = refusal_at_rate([best(q) for q in mine if q.answerable],
                             [best(q) for q in mine if not q.answerable], target)
        cut = at.threshold if at.threshold is not None else 0.0
        suites = sorted({q.suite for q in mine})
        groups = [("corpus", corpus)] + ([("suite", s) for s in suites] if len(suites) > 1 else [])
        for key, name in groups:
            rows[name] = {
                "in-sample": _row(_members(inside, key, name), refuses, _score),
                "out-of-fold": _row(_members(judged, key, name), refuses_oof, _score),
                "out-of-fold + hedge": _row(_members(judged, key, name),
                                            _or_below(refuses_oof, _score, hedge), _score),
                "leave-corpus-out": _row(_members(transferred, key, name),
                                         refuses_loco[corpus], _score),
                "best_passage": _row(_members(judged, key, name),
                                     _or_below(lambda _q: False, best, cut), best),
            }
    return ConfidenceReport(model.to_json(), hedge, rows)
