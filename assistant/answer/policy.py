"""The refusal policy: every rule behind "Jag hittar inget om det i artiklarna.", in one place.

The answer stage measures the evidence for a question once (:class:`Evidence`: plain
numbers and flags, no model objects) and hands it to a frozen :class:`RefusalPolicy`,
which applies its rules in a fixed order and returns a :class:`Decision` saying which
rule decided, with the measured value and the threshold it was held against. The
decision travels in the answer object (``refusal``), so a refusal can be explained
to a user and aggregated by the eval harness, and the calibration command
(``assistant eval calibrate``) can re-decide thousands of questions from stored
evidence without running the chain again.

Why these rules (measured on eval/questions.jsonl and the FAQ dev suites;
docs/evaluation.md, "Calibration"):

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
* ``low_confidence``: the calibrated answerability model
  (:mod:`assistant.answer.confidence`), which weighs all the evidence above together,
  finds a supported answer unlikely.

Each rule is a :class:`RefusalRule` in one registry (:data:`REGISTRY`): its name,
the evidence fields it reads, its parameters (the committed value, the hand-set value
the calibration search starts from, and the candidates it tries) and its check. The
policy's order of rules, the thresholds it accepts from ``assistant/calibration.json``
and the calibration grid all come from the registry, so adding a rule is one
registration here plus its test (docs/recipes/add-a-refusal-rule.md).

A parameter ``x_en``, where a rule has one, replaces ``x`` for English questions. A
threshold of ``None`` (JSON ``null``) switches its rule off: the check is not made at
all. A rule without a threshold (``unknown_terms``, ``missing_answer_type``) has a
``check_*`` switch instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from functools import partial
from typing import Any

from assistant.language import Language
from assistant.params import CALIBRATION_FILE, load_calibration

__all__ = [
    "REGISTRY",
    "RULES",
    "Check",
    "Decision",
    "Evidence",
    "Param",
    "RefusalPolicy",
    "RefusalRule",
    "RuleRegistry",
    "Thresholds",
]

Value = float | bool | None  # a rule parameter: a threshold, None (rule off) or a switch
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
    standout: float | None = None  # best sentence, in sd above the corpus background
    # The dense pool per document, for how far the best stands out of it: the second
    # document's cosine and the mean of the pool (None: one document or none).
    second_passage: float | None = None
    pool_mean: float | None = None
    exact_terms: int = 0  # distinctive question terms found verbatim in the passages
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
    confidence: float | None = None  # the calibrated model's probability (answer/confidence.py)

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else _round(v))
                for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evidence:
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v)
                                  for k, v in data.items() if k in known}
        return cls(**values)


# --- the rules -------------------------------------------------------------------------------


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
class Param:
    """One parameter of a rule.

    ``default`` is the committed value (equal to ``assistant/calibration.json``; a test
    checks it), ``start`` the hand-set value the calibration search starts from (never
    the committed one, so re-running reproduces the file instead of wandering from it),
    ``grid`` the candidates the search tries, in order.
    """

    name: str
    default: Value
    start: Value
    grid: tuple[Value, ...]


class Thresholds:
    """A policy's parameter values as one question's rules read them: ``x_en`` replaces
    ``x`` for an English question; a parameter the policy does not set (a rule
    registered after it was built) has the rule's default."""

    __slots__ = ("_language", "_values")

    def __init__(self, values: Mapping[str, Value], language: str) -> None:
        self._values = values
        self._language = language

    def get(self, name: str) -> Value:
        english = f"{name}_en"
        if self._language == "en" and (english in self._values or english in REGISTRY.params()):
            name = english
        if name in self._values:
            return self._values[name]
        return REGISTRY.params()[name].default

    def number(self, name: str) -> float:
        value = self.get(name)
        if value is None or isinstance(value, bool):
            raise ValueError(f"tröskelvärdet {name} ska vara ett tal, inte {value!r}")
        return float(value)

    def optional(self, name: str) -> float | None:
        """A threshold that may be off (None)."""
        return None if self.get(name) is None else self.number(name)


# What a rule's check returns: (value, threshold, passed), or None when the rule does
# not apply to this evidence (an English-only rule and a Swedish question, no slot asked).
Verdict = tuple[float | str | None, float | None, bool]
Judge = Callable[[Evidence, Thresholds], Verdict | None]


@dataclass(frozen=True)
class RefusalRule:
    """One refusal rule: what it reads, what it is tuned by, how it judges.

    ``switch`` names the parameter that turns the rule off: ``None`` for a threshold,
    ``False`` for a ``check_*`` switch. ``reads`` lists the :class:`Evidence` fields the
    check looks at (documentation, and a test holds it to the fields that exist).
    """

    name: str
    reads: tuple[str, ...]
    params: tuple[Param, ...]
    switch: str
    judge: Judge

    def check(self, ev: Evidence, thresholds: Thresholds) -> Check | None:
        """This rule's check of ``ev``; None when the rule is off or does not apply."""
        switch = thresholds.get(self.switch)
        if switch is None or switch is False:  # not ``in (None, False)``: 0.0 == False
            return None
        verdict = self.judge(ev, thresholds)
        return None if verdict is None else Check(self.name, *verdict)


class RuleRegistry:
    """The refusal rules in evaluation order; the first failing check decides."""

    def __init__(self) -> None:
        self._rules: dict[str, RefusalRule] = {}
        self._params: dict[str, Param] = {}

    def register(self, rule: RefusalRule) -> RefusalRule:
        clash = sorted({p.name for p in rule.params} & set(self._params))
        if rule.name in self._rules or clash:
            raise ValueError(f"regeln {rule.name!r} finns redan eller delar parametrar: "
                             f"{', '.join(clash)}")
        if rule.switch not in {p.name for p in rule.params}:
            raise ValueError(f"regeln {rule.name!r}: brytaren {rule.switch!r} är ingen "
                             "av dess parametrar")
        self._rules[rule.name] = rule
        self._params = {p.name: p for r in self._rules.values() for p in r.params}
        return rule

    def unregister(self, name: str) -> None:
        del self._rules[name]
        self._params = {p.name: p for r in self._rules.values() for p in r.params}

    @contextmanager
    def added(self, rule: RefusalRule) -> Iterator[RefusalRule]:
        """``rule`` registered for the duration of a ``with`` block (tests, experiments)."""
        self.register(rule)
        try:
            yield rule
        finally:
            self.unregister(rule.name)

    def __iter__(self) -> Iterator[RefusalRule]:
        return iter(tuple(self._rules.values()))

    def names(self) -> tuple[str, ...]:
        return tuple(self._rules)

    def params(self) -> dict[str, Param]:
        """Every rule's parameters, in rule order."""
        return self._params

    def grid(self) -> dict[str, tuple[Value, ...]]:
        """What the calibration search tries, parameter by parameter, in rule order."""
        return {name: p.grid for name, p in self._params.items()}


REGISTRY = RuleRegistry()


def refusal_rule(name: str, reads: tuple[str, ...], params: tuple[Param, ...],
                 switch: str) -> Callable[[Judge], Judge]:
    """Register the decorated check as rule ``name`` (evaluation order = definition order)."""
    def register(judge: Judge) -> Judge:
        REGISTRY.register(RefusalRule(name, reads, params, switch, judge))
        return judge
    return register


@refusal_rule("weak_evidence", ("language", "best_passage", "best_lexical", "exact_terms"), (
    Param("min_evidence", 0.83, 0.815, (0.0, 0.78, 0.79, 0.80, 0.81, 0.815, 0.82, 0.83, 0.84)),
    Param("min_evidence_en", 0.76, 0.75, (0.0, 0.72, 0.74, 0.75, 0.76, 0.78, 0.80)),
    Param("min_lexical", 0.7, 0.5, (0.3, 0.4, 0.5, 0.6, 0.7, 1.01)),
), switch="min_evidence")
def _weak_evidence(ev: Evidence, t: Thresholds) -> Verdict | None:
    if ev.best_passage is None or ev.exact_terms:
        # A distinctive term found verbatim ("Ett-steg-före") outweighs a low cosine:
        # the dense floor does not apply, the other rules still do.
        return None
    floor = t.number("min_evidence")
    rescue = t.optional("min_lexical")  # None: words never rescue a weak passage
    weak = ev.best_passage < floor and (rescue is None or ev.best_lexical < rescue)
    # The deciding number is the passage cosine; the lexical rescue (best_lexical at
    # least min_lexical) is visible in the evidence.
    return ev.best_passage, floor, not weak


@refusal_rule("not_standing_out", ("language", "standout"), (
    Param("min_standout_en", None, 2.9, (None, 1.5, 2.0, 2.5, 2.9, 3.2)),
), switch="min_standout_en")
def _not_standing_out(ev: Evidence, t: Thresholds) -> Verdict | None:
    if ev.language != "en" or ev.standout is None:
        return None
    minimum = t.number("min_standout_en")
    return ev.standout, minimum, ev.standout >= minimum


@refusal_rule("unknown_terms",
              ("language", "content_terms", "unknown_terms", "unknown_names"), (
    Param("check_unknown_terms", False, True, (True, False)),
), switch="check_unknown_terms")
def _unknown_terms(ev: Evidence, t: Thresholds) -> Verdict | None:
    if ev.language != "sv":
        return None
    all_unknown = ev.content_terms > 0 and ev.unknown_terms == ev.content_terms
    names = ", ".join(ev.unknown_names)
    return names or ev.unknown_terms, None, not (ev.unknown_names or all_unknown)


@refusal_rule("missing_entity", ("known_names", "missing_names"), (
    Param("min_entity_coverage", 1.0, 1.0, (None, 0.5, 1.0)),
), switch="min_entity_coverage")
def _missing_entity(ev: Evidence, t: Thresholds) -> Verdict | None:
    if not ev.known_names:
        return None
    minimum = t.number("min_entity_coverage")  # share of the question's known names covered
    covered = 1.0 - len(ev.missing_names) / ev.known_names
    return covered, minimum, covered >= minimum


@refusal_rule("missing_answer_type", ("answer_type", "typed", "typed_coverage"), (
    Param("check_answer_type", True, True, (True, False)),
    Param("min_typed_coverage", 0.0, 0.0, (0.0, 0.25, 0.5, 0.75)),
), switch="check_answer_type")
def _missing_answer_type(ev: Evidence, t: Thresholds) -> Verdict | None:
    if not ev.answer_type:
        return None
    coverage = ev.typed_coverage if ev.typed_coverage is not None else 0.0
    minimum = t.optional("min_typed_coverage")  # None: a typed sentence is enough
    return coverage, minimum, ev.typed and (minimum is None or coverage >= minimum)


@refusal_rule("missing_slot", ("language", "slot_gap"), (
    Param("max_slot_gap", 0.15, None, (None, 0.15, 0.1, 0.08, 0.06, 0.04, 0.02, 0.0)),
    Param("max_slot_gap_en", None, None, (None, 0.15, 0.1, 0.08, 0.06, 0.04, 0.02, 0.0)),
), switch="max_slot_gap")
def _missing_slot(ev: Evidence, t: Thresholds) -> Verdict | None:
    if ev.slot_gap is None:
        return None
    maximum = t.number("max_slot_gap")
    return ev.slot_gap, maximum, ev.slot_gap <= maximum


@refusal_rule("missing_attribute", ("language", "attribute_coverage"), (
    Param("min_attribute_coverage", None, None, (None, 0.2, 0.3, 0.4, 0.5, 0.6)),
    Param("min_attribute_coverage_en", None, None, (None, 0.1, 0.2, 0.3)),
), switch="min_attribute_coverage")
def _missing_attribute(ev: Evidence, t: Thresholds) -> Verdict | None:
    if ev.attribute_coverage is None:
        return None
    minimum = t.number("min_attribute_coverage")
    return ev.attribute_coverage, minimum, ev.attribute_coverage >= minimum


@refusal_rule("low_confidence", ("confidence",), (
    Param("min_confidence", None, None, (None, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3)),
), switch="min_confidence")
def _low_confidence(ev: Evidence, t: Thresholds) -> Verdict | None:
    """The calibrated model (:mod:`assistant.answer.confidence`) finds an answer unlikely.
    The search chooses its threshold with the other rules' on out-of-fold confidences."""
    if ev.confidence is None:
        return None
    minimum = t.number("min_confidence")
    return ev.confidence, minimum, ev.confidence >= minimum


# The built-in rules' names in evaluation order; part of the answer object's ``refusal``
# contract (the live list, with rules registered later, is ``REGISTRY.names()``).
RULES = REGISTRY.names()


# --- the policy ------------------------------------------------------------------------------


class RefusalPolicy:
    """Values of the registered rules' parameters; frozen, so one policy object is
    shared safely. ``RefusalPolicy()`` is the committed policy as the code knows it
    (the rules' defaults), ``from_calibration()`` the one read from the file."""

    __slots__ = ("_values", "source")
    _values: dict[str, Value]
    source: str

    def __init__(self, *, source: str = "defaults", **values: Value) -> None:
        known = REGISTRY.params()
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"okända tröskelvärden i kalibreringen: {', '.join(unknown)}")
        object.__setattr__(self, "_values", {name: values.get(name, p.default)
                                             for name, p in known.items()})
        object.__setattr__(self, "source", source)

    @classmethod
    def from_calibration(cls, data: Mapping[str, Any] | None = None) -> RefusalPolicy:
        """The committed policy (``assistant/calibration.json``), or ``data['refusal']``."""
        data = load_calibration() if data is None else data
        return cls(**dict(data.get("refusal") or {}),
                   source=str(data.get("source", CALIBRATION_FILE)))

    @classmethod
    def search_start(cls) -> RefusalPolicy:
        """The hand-set policy the calibration search starts from."""
        return cls(**{name: p.start for name, p in REGISTRY.params().items()},
                   source="hand-set start")

    @classmethod
    def open(cls) -> RefusalPolicy:
        """Every rule off: what an answer would be, so any policy can be replayed on it."""
        off: dict[str, Value] = {}
        for rule in REGISTRY:
            for name in (rule.switch, f"{rule.switch}_en"):
                if name in REGISTRY.params():
                    off[name] = False if isinstance(REGISTRY.params()[name].default, bool) \
                        else None
        return cls(**off, source="calibration: refuses nothing")

    @staticmethod
    def calibration_grid() -> dict[str, tuple[Value, ...]]:
        """Candidates of every parameter for the calibration search, in rule order."""
        return REGISTRY.grid()

    def with_values(self, **changes: Any) -> RefusalPolicy:
        """A copy with some values (and, with ``source=``, its provenance) changed."""
        source = str(changes.pop("source", self.source))
        return RefusalPolicy(**{**self.thresholds(), **changes}, source=source)

    def thresholds(self) -> dict[str, Value]:
        """Every registered parameter's value (rules registered later: their default)."""
        return {name: self._values.get(name, p.default)
                for name, p in REGISTRY.params().items()}

    def __getattr__(self, name: str) -> Value:
        if name.startswith("_"):
            raise AttributeError(name)
        values = self.thresholds()
        if name not in values:
            raise AttributeError(f"RefusalPolicy har inget tröskelvärde {name!r}")
        return values[name]

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"RefusalPolicy är fryst: {name} kan inte ändras")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RefusalPolicy):
            return NotImplemented
        return self.thresholds() == other.thresholds()

    def __hash__(self) -> int:
        return hash(tuple(self.thresholds().items()))

    def __reduce__(self) -> tuple[Any, ...]:
        """Copies and pickles are rebuilt through ``__init__`` (slots cannot be set)."""
        return partial(RefusalPolicy, source=self.source, **self.thresholds()), ()

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v!r}" for k, v in self.thresholds().items())
        return f"RefusalPolicy({values}, source={self.source!r})"

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
        thresholds = Thresholds(self._values, ev.language)
        out = (rule.check(ev, thresholds) for rule in REGISTRY)
        return tuple(check for check in out if check is not None)


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
