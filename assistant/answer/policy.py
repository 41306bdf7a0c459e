"""The refusal policy: every rule behind "Jag hittar inget om det i artiklarna.", in one place.

The answer stage measures the evidence for a question once (:class:`Evidence`: plain
numbers and flags, no model objects) and hands it to a frozen :class:`RefusalPolicy`,
which applies its rules in a fixed order and returns a :class:`Decision` saying which
rule decided, with the measured value and the threshold it was held against. The
decision travels in the answer object (``refusal``), so a refusal can be explained
to a user and aggregated by the eval harness, and the calibration command
(``assistant eval calibrate``) can re-decide thousands of questions from stored
evidence without running the chain again.

Why these rules (measured on eval/questions.jsonl and the FAQ dev suites; README,
"Calibration"):

* ``weak_evidence``: nothing retrieved is close to the question, neither by meaning
  (passage cosine) nor by words (IDF-weighted term coverage of the best sentence).
* ``not_standing_out`` (English): cosine similarities of e5 are compressed, so an
  English question is also refused when its best sentence does not stand out from
  the question's similarity to the corpus as a whole.
* ``unknown_terms`` (Swedish): the question names something the corpus never
  mentions, or none of its content words occur in the corpus at all.
* ``missing_entity``: the question names something the corpus *does* know (another
  municipality, an organisation) that none of the passages the chosen sentences come
  from mention: the evidence is about a neighbour. The value is the share of the
  question's known names that the evidence covers.
* ``missing_answer_type``: a question asking for a slot (count, date, name…) whose
  chosen sentences do not fill it together with what is asked about (a year anywhere
  is not enough).
* ``missing_slot``: the question asks for a count, a date, an amount of money, a
  rank or the name of a role's holder (:mod:`assistant.answer.slots`), and no
  sentence that holds one, in a passage about the entities asked, scores within
  ``max_slot_gap`` of the best sentence.
* ``missing_attribute``: the best sentence covers too little of what is *asked*
  (the question's terms after removing question words and the names the retriever
  already matched): "the article is about this" is not "the article says this".

Thresholds are data (``assistant/calibration.json``), written by the calibration
command; the numbers below are only the fallbacks of a policy built by hand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from assistant.config import CALIBRATION_FILE, load_calibration
from assistant.language import Language

__all__ = [
    "CALIBRATION_FILE",
    "RULES",
    "Check",
    "Decision",
    "Evidence",
    "RefusalPolicy",
    "load_calibration",
]

# Rule names in evaluation order; part of the answer object's ``refusal`` contract.
RULES = (
    "weak_evidence",
    "not_standing_out",
    "unknown_terms",
    "missing_entity",
    "missing_answer_type",
    "missing_slot",
    "missing_attribute",
)
OFF = 99.0  # a maximum no measured value reaches: the rule is off (JSON has no inf)
ACCEPTED = "accepted"
NO_EVIDENCE = "no_evidence"  # nothing was retrieved or no sentence could be quoted
MODEL_REFUSAL = "model_refusal"  # LLM mode: the model itself answered with the refusal


@dataclass(frozen=True)
class Evidence:
    """What the answer stage measured for one question; all the policy ever looks at.

    Coverages are IDF-weighted shares in [0, 1]; ``None`` means "not applicable"
    (e.g. no answer type was asked, or the question has no attribute terms left).
    """

    language: Language
    best_passage: float | None  # cosine of the best retrieved passage (None: no dense side)
    best_lexical: float  # term coverage of the best candidate sentence (with context)
    best_sentence: float = 0.0  # cosine similarity of the best candidate sentence
    standout: float | None = None  # sd above the corpus background (English only)
    content_terms: int = 0
    unknown_terms: int = 0  # content terms the corpus never mentions
    unknown_names: tuple[str, ...] = ()  # capitalised names the corpus never mentions
    known_names: int = 0  # names in the question that the corpus mentions somewhere
    missing_names: tuple[str, ...] = ()  # known names absent from the chosen evidence
    answer_type: str = ""  # the asked slot: "count", "date", "person", … or ""
    typed: bool = True  # a chosen sentence fills the asked slot
    typed_coverage: float | None = None  # attribute coverage of the best typed sentence
    slot_gap: float | None = None  # best score minus that of the best slot filler (1: none)
    attribute_coverage: float | None = None  # attribute coverage of the best sentence

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else _round(v))
                for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evidence:
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v)
                                  for k, v in data.items() if k in known}
        return cls(**values)


@dataclass(frozen=True)
class Check:
    """One rule's verdict: ``value`` against ``threshold``; ``passed`` False refuses."""

    rule: str
    value: float | str | None
    threshold: float | None
    passed: bool


@dataclass(frozen=True)
class Decision:
    """Why an answer was refused or accepted: the deciding rule and every check made."""

    refused: bool
    rule: str
    value: float | str | None = None
    threshold: float | None = None
    checks: tuple[Check, ...] = ()
    evidence: Evidence | None = None  # what was measured (lets calibration replay it)

    def to_dict(self) -> dict[str, Any]:
        return {
            "refused": self.refused,
            "rule": self.rule,
            "value": _round(self.value),
            "threshold": self.threshold,
            "checks": [{"rule": c.rule, "value": _round(c.value), "threshold": c.threshold,
                        "passed": c.passed} for c in self.checks],
            "evidence": self.evidence.to_dict() if self.evidence is not None else None,
        }

    @classmethod
    def no_evidence(cls) -> Decision:
        return cls(True, NO_EVIDENCE)

    def as_model_refusal(self) -> Decision:
        """LLM mode: the policy let the question through but the model refused."""
        return replace(self, refused=True, rule=MODEL_REFUSAL, value=None, threshold=None)


@dataclass(frozen=True)
class RefusalPolicy:
    """Thresholds of every refusal rule; frozen so one policy object is shared safely.

    A threshold of 0 (or ``-inf`` for the standout) disables its rule, which is how
    calibration switches off a rule that costs more answerable questions than it saves.
    """

    min_evidence: float = 0.815
    min_evidence_en: float = 0.75
    min_lexical: float = 0.5
    min_standout_en: float = 2.9
    check_unknown_terms: bool = True
    min_entity_coverage: float = 1.0  # share of the question's known names the evidence has
    check_answer_type: bool = True
    min_typed_coverage: float = 0.0
    max_slot_gap: float = OFF  # OFF disables the rule
    max_slot_gap_en: float = OFF
    min_attribute_coverage: float = 0.0
    min_attribute_coverage_en: float = 0.0
    source: str = field(default="defaults", compare=False)

    @classmethod
    def from_calibration(cls, data: Mapping[str, Any] | None = None) -> RefusalPolicy:
        """The committed policy (``assistant/calibration.json``), or ``data['refusal']``."""
        data = load_calibration() if data is None else data
        values = dict(data.get("refusal", {}))
        known = {f.name for f in fields(cls)} - {"source"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"okända tröskelvärden i kalibreringen: {', '.join(unknown)}")
        return cls(**values, source=str(data.get("source", CALIBRATION_FILE)))

    def thresholds(self) -> dict[str, float | bool]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "source"}

    def decide(self, ev: Evidence) -> Decision:
        """Apply the rules in order; the first failing check decides, all are recorded."""
        checks = self.checks(ev)
        for check in checks:
            if not check.passed:
                return Decision(True, check.rule, check.value, check.threshold, checks, ev)
        # Accepted: report the check with the least room, the one a reader should watch.
        tight = _tightest(checks)
        if tight is None:
            return Decision(False, ACCEPTED, checks=checks, evidence=ev)
        return Decision(False, ACCEPTED, tight.value, tight.threshold, checks, ev)

    def checks(self, ev: Evidence) -> tuple[Check, ...]:
        out: list[Check] = []
        floor = self.min_evidence_en if ev.language == "en" else self.min_evidence
        if ev.best_passage is not None:
            weak = ev.best_passage < floor and ev.best_lexical < self.min_lexical
            # The deciding number is the passage cosine; the lexical rescue (best_lexical
            # at least min_lexical) is visible in the evidence.
            out.append(Check("weak_evidence", ev.best_passage, floor, not weak))
        if ev.language == "en" and ev.standout is not None and \
                math.isfinite(self.min_standout_en):
            out.append(Check("not_standing_out", ev.standout, self.min_standout_en,
                             ev.standout >= self.min_standout_en))
        if ev.language == "sv" and self.check_unknown_terms:
            all_unknown = ev.content_terms > 0 and ev.unknown_terms == ev.content_terms
            names = ", ".join(ev.unknown_names)
            out.append(Check("unknown_terms", names or ev.unknown_terms, None,
                             not (ev.unknown_names or all_unknown)))
        if self.min_entity_coverage > 0 and ev.known_names:
            covered = 1.0 - len(ev.missing_names) / ev.known_names
            out.append(Check("missing_entity", covered, self.min_entity_coverage,
                             covered >= self.min_entity_coverage))
        if ev.answer_type and self.check_answer_type:
            coverage = ev.typed_coverage if ev.typed_coverage is not None else 0.0
            out.append(Check("missing_answer_type", coverage, self.min_typed_coverage,
                             ev.typed and coverage >= self.min_typed_coverage))
        gap_max = self.max_slot_gap_en if ev.language == "en" else self.max_slot_gap
        if ev.slot_gap is not None and gap_max < OFF:
            out.append(Check("missing_slot", ev.slot_gap, gap_max, ev.slot_gap <= gap_max))
        minimum = (self.min_attribute_coverage_en if ev.language == "en"
                   else self.min_attribute_coverage)
        if ev.attribute_coverage is not None and minimum > 0:
            out.append(Check("missing_attribute", ev.attribute_coverage, minimum,
                             ev.attribute_coverage >= minimum))
        return tuple(out)


def _tightest(checks: tuple[Check, ...]) -> Check | None:
    numeric = [c for c in checks if isinstance(c.value, int | float)
               and isinstance(c.threshold, int | float) and not isinstance(c.value, bool)]
    if not numeric:
        return None
    return min(numeric, key=lambda c: float(c.value) - float(c.threshold))  # type: ignore[arg-type]


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    return value
