"""Fitting and judging the answerability model (``confidence``) inside the calibration.

The model itself lives with the answer stage (:mod:`assistant.answer.confidence`);
evaluation/ does not import the chain, so the command hands in a :class:`ConfidenceKit`
(how evidence becomes a feature row, how a model is fitted). This module decides what
the calibration asks of it:

* **out of fold**: the model is fitted on four folds and scores the fifth; every fold
  holds questions of every corpus (folds are by question id, as for the rules);
* **leave one corpus out**: fitted on the other corpus alone, scoring this one: the
  transfer test, since score levels differ between corpora;
* the **refusal threshold** (``refusal.min_confidence``) is the highest that keeps
  false refusals out of fold, with the rules of that fold, within
  :data:`REFUSE_CAP` on every corpus; the **hedge threshold**
  (``confidence.hedge_below``) the highest that keeps refusals and hedges together
  within :data:`HEDGE_CAP`. A hedge counts as a refusal on both sides.

Each figure is shown beside the top-1 passage cosine (``best_passage``) at the same
false-refusal rate: the one-threshold reference a new mechanism must beat.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from assistant.evaluation.abstention import auroc

__all__ = ["HEDGE_CAP", "L2", "REFUSE_CAP", "ConfidenceFit", "ConfidenceKit", "FittedModel",
           "fit_confidence"]

# Procedure constants of the search (like the rules' caps in calibration.py): false
# refusals allowed out of fold on every corpus by refusals alone, and with hedges.
REFUSE_CAP = 0.03
HEDGE_CAP = 0.045
L2 = 0.01  # the model's penalty on standardised weights: small, the features are few
_STEPS = np.round(np.arange(0.0, 1.0, 0.01), 2)


class FittedModel(Protocol):
    def probabilities(self, rows: np.ndarray) -> np.ndarray: ...

    def to_json(self) -> dict[str, Any]: ...


class ConfidenceKit(Protocol):
    def features(self, evidence: Any) -> Sequence[float]: ...

    def fit(self, rows: np.ndarray, answerable: np.ndarray) -> FittedModel: ...


class Question(Protocol):
    """What the fit needs of a calibration item."""

    @property
    def corpus(self) -> str: ...

    @property
    def fold(self) -> int: ...

    @property
    def answerable(self) -> bool: ...

    @property
    def kind(self) -> str: ...

    @property
    def evidence(self) -> Any: ...


@dataclass
class ConfidenceFit:
    model: dict[str, Any]  # the committed model (fitted on all questions), as JSON
    min_confidence: float | None
    hedge_below: float | None
    # corpus → view ("in-sample", "out-of-fold", "leave-corpus-out", "best_passage")
    # → metric → value
    rows: dict[str, dict[str, dict[str, float | None]]] = field(default_factory=dict)

    def section(self) -> dict[str, Any]:
        return {**self.model, "hedge_below": self.hedge_below}


def _decided(scores: np.ndarray, rules: np.ndarray, threshold: float) -> np.ndarray:
    return rules | (scores < threshold)


def _highest(scores: np.ndarray, rules: np.ndarray, answerable: np.ndarray,
             corpora: np.ndarray, cap: float) -> float:
    """The highest threshold whose false refusals stay within ``cap`` on every corpus
    (or within what the rules alone refuse there, where that is more: the model may
    not add a false refusal to a corpus the rules already spend the cap on)."""
    groups = [(corpora == c) & answerable for c in np.unique(corpora)]
    allowed = [max(cap, float(rules[g].mean())) for g in groups if g.any()]
    best = 0.0
    for t in _STEPS:
        refused = _decided(scores, rules, float(t))
        if all(refused[g].mean() <= limit + 1e-9
               for g, limit in zip([g for g in groups if g.any()], allowed, strict=True)):
            best = float(t)
        else:
            break
    return best


def _row(scores: np.ndarray, rules: np.ndarray, answerable: np.ndarray,
         nearmiss: np.ndarray, threshold: float) -> dict[str, float | None]:
    refused = _decided(scores, rules, threshold)
    unans = ~answerable

    def share(mask: np.ndarray) -> float | None:
        return float(refused[mask].mean()) if mask.any() else None

    return {"auroc": auroc(list(scores[answerable]), list(scores[unans])),
            "threshold": threshold, "refusal": share(unans), "nearmiss": share(nearmiss),
            "false_refusal": share(answerable)}


def _reference(best: np.ndarray, answerable: np.ndarray, nearmiss: np.ndarray,
               false_rate: float | None) -> dict[str, float | None]:
    """The top-1 cosine alone, refusing as many answerable questions as ``false_rate``."""
    pos = np.sort(best[answerable])
    if not len(pos) or false_rate is None:
        threshold = 0.0
    else:
        threshold = float(pos[min(int(np.floor(false_rate * len(pos) + 1e-9)), len(pos) - 1)])
    none = np.zeros(len(best), dtype=bool)
    return _row(best, none, answerable, nearmiss, threshold)


def fit_confidence(items: Sequence[Question], kit: ConfidenceKit,
                   rules_in: Callable[[Question], bool],
                   rules_oof: Callable[[Question], bool]) -> ConfidenceFit:
    """Fit, choose both thresholds out of fold, and measure every view per corpus.

    ``rules_in``/``rules_oof``: whether the committed rules / the rules chosen without
    the item's fold refuse it. A question without evidence is refused by the rules.
    """
    rows = _rows(items, kit)
    answerable = np.asarray([i.answerable for i in items], dtype=bool)
    corpora = np.asarray([i.corpus for i in items])
    folds = np.asarray([i.fold for i in items])
    nearmiss = np.asarray([i.kind == "nearmiss" for i in items], dtype=bool)
    has = np.asarray([i.evidence is not None for i in items], dtype=bool)
    best = np.asarray([getattr(i.evidence, "best_passage", None) or 0.0 for i in items])
    r_in = np.asarray([rules_in(i) for i in items], dtype=bool)
    r_oof = np.asarray([rules_oof(i) for i in items], dtype=bool)

    def fitted(train: np.ndarray) -> FittedModel:
        return kit.fit(rows[train & has], answerable[train & has])

    model = fitted(np.ones(len(items), dtype=bool))
    inside = np.where(has, model.probabilities(rows), 0.0)
    oof = np.zeros(len(items))
    for fold in np.unique(folds):
        part = folds == fold
        oof[part] = np.where(has[part], fitted(~part).probabilities(rows[part]), 0.0)
    refuse = _highest(oof, r_oof, answerable, corpora, REFUSE_CAP)
    hedge = max(refuse, _highest(oof, r_oof, answerable, corpora, HEDGE_CAP))

    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for corpus in np.unique(corpora):
        mine = corpora == corpus
        loco_model = fitted(~mine)
        loco = np.where(has, loco_model.probabilities(rows), 0.0)
        # The threshold transferred: chosen on the other corpus (in-sample there).
        transferred = _highest(loco[~mine], r_in[~mine], answerable[~mine],
                               corpora[~mine], REFUSE_CAP)
        oof_row = _row(oof[mine], r_oof[mine], answerable[mine], nearmiss[mine], refuse)
        out[str(corpus)] = {
            "in-sample": _row(inside[mine], r_in[mine], answerable[mine], nearmiss[mine],
                              refuse),
            "out-of-fold": oof_row,
            "out-of-fold + hedge": _row(oof[mine], r_oof[mine], answerable[mine],
                                        nearmiss[mine], hedge),
            "leave-corpus-out": _row(loco[mine], r_in[mine], answerable[mine],
                                     nearmiss[mine], transferred),
            "best_passage": _reference(best[mine], answerable[mine], nearmiss[mine],
                                       oof_row["false_refusal"]),
        }
    return ConfidenceFit(model.to_json(), refuse if refuse > 0 else None,
                         hedge if hedge > refuse else None, out)


def _rows(items: Sequence[Question], kit: ConfidenceKit) -> np.ndarray:
    width = next((len(kit.features(i.evidence)) for i in items if i.evidence is not None), 0)
    return np.asarray([kit.features(i.evidence) if i.evidence is not None else [0.0] * width
                       for i in items], dtype=np.float64).reshape(len(items), width)
