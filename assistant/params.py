"""Every tuned number of the answering stages: typed, frozen, read from one file.

``assistant/calibration.json`` is the one place a number that shapes an answer is
written. Each stage reads its own frozen parameter object from a section of it:

========================  =============  ============================================
object                    JSON section   set by
========================  =============  ============================================
:class:`FusionParams`     ``retrieval``  calibrated (``assistant eval calibrate``)
refusal rules             ``refusal``    calibrated; they live with their rules in
                                         :mod:`assistant.answer.policy`
:class:`LexicalParams`    ``lexical``    hand-set
:class:`Bm25Params`       ``bm25``       hand-set
:class:`PoolParams`       ``pool``       hand-set
:class:`ExtractiveParams` ``extractive`` hand-set
:class:`SlotParams`       ``slots``      hand-set
:class:`ExactTermParams`  ``exact_terms`` hand-set
:class:`CondenseParams`   ``condense``   hand-set
:class:`LanguageParams`   ``language``   hand-set
========================  =============  ============================================

"Hand-set" numbers were chosen by reading answers, not by the calibration search;
they sit in the same file so everything tuned is visible together, and the search
never rewrites them. The dataclass defaults equal the committed values
(``tests/test_params.py`` checks it), so an object built by hand in a test behaves
like the running assistant. Where a number can switch a rule off, off is ``None``
(JSON ``null``), never a number out of range.

Sizes of caches and batches, schema and report versions and byte or character limits
are not tuning: they change memory or format, never an answer, and stay in their
modules (``tests/test_params.py`` lists them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import resources
from typing import Any, ClassVar, Self, cast

__all__ = [
    "CALIBRATION_FILE",
    "Bm25Params",
    "CondenseParams",
    "ExactTermParams",
    "ExtractiveParams",
    "FusionGrid",
    "FusionParams",
    "LanguageParams",
    "LexicalParams",
    "PoolParams",
    "SlotParams",
    "Tuning",
    "load_calibration",
    "tuning",
]

CALIBRATION_FILE = "calibration.json"  # inside the ``assistant`` package


@lru_cache(maxsize=1)
def load_calibration() -> dict[str, Any]:
    """The committed calibration file, read once (on first use, never at import).

    Data, not code: ``assistant eval calibrate --write`` rewrites its calibrated
    sections, and re-running the calibration reproduces and checks them.
    """
    text = resources.files("assistant").joinpath(CALIBRATION_FILE).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


class _Section:
    """A parameter object read from one section of the calibration file."""

    SECTION: ClassVar[str]

    @classmethod
    def from_calibration(cls, data: Mapping[str, Any] | None = None) -> Self:
        """The committed values (``data`` instead of the file when given); a key the
        object does not know is an error, a missing one keeps its default."""
        data = load_calibration() if data is None else data
        values = dict(data.get(cls.SECTION) or {})
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"okända värden i kalibreringens {cls.SECTION!r}: "
                             f"{', '.join(unknown)}")
        return cls(**values)


@dataclass(frozen=True)
class FusionParams(_Section):
    """Fusion weights (:func:`assistant.retrieval.fusion.fuse`); calibrated.

    ``score = (1 − s) · cos + s · best_sentence_cos + w · margin · bm25 / max(bm25)``
    with ``w`` and ``s`` per question language (``*_en`` for English).
    """

    SECTION: ClassVar[str] = "retrieval"

    lexical_weight: float = 0.02
    lexical_weight_en: float = 0.02
    adaptive: bool = True  # scale the lexical bonus by the BM25 top-1 margin
    municipality_boost: float = 0.0  # added (cosine units) to passages of a named municipality
    sentence_weight: float = 0.0  # share of the best sentence cosine in the dense score
    sentence_weight_en: float = 0.3

    @classmethod
    def dense_only(cls) -> FusionParams:
        """No lexical bonus, no boost, no sentence blend: dense search as it ranks."""
        return cls(0.0, 0.0, True, 0.0, 0.0, 0.0)

    def weight(self, language: str) -> float:
        return self.lexical_weight_en if language == "en" else self.lexical_weight

    def sentence(self, language: str) -> float:
        return self.sentence_weight_en if language == "en" else self.sentence_weight


@dataclass(frozen=True)
class FusionGrid:
    """The fusion values the calibration search tries (hand-set), per language each."""

    lexical_weights: tuple[float, ...] = (0.0, 0.01, 0.02, 0.03, 0.05, 0.08)
    sentence_weights: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4)
    boosts: tuple[float, ...] = (0.0, 0.01, 0.02, 0.05)


@dataclass(frozen=True)
class LexicalParams(_Section):
    """Compound and inflection expansion of the lexical side; hand-set.

    BM25 of the expanded terms is added at ``expansion_weight``. 0.3, not 0.6: at 0.6
    "Landskrona" → "Landskronamodellen" pulled the wrong Landskrona article to the top
    (q39); hit@1 over eval/questions.jsonl was 0.925 at 0.3 and 0.900 at 0.6.
    """

    SECTION: ClassVar[str] = "lexical"

    expansion_weight: float = 0.3


@dataclass(frozen=True)
class Bm25Params(_Section):
    """BM25's term-frequency saturation ``k1`` and length normalisation ``b``; hand-set
    (the textbook values, which bm25s uses too). They are baked into the saved lexical
    index: after a change, ``assistant ingest --rebuild``."""

    SECTION: ClassVar[str] = "bm25"

    k1: float = 1.5
    b: float = 0.75


@dataclass(frozen=True)
class PoolParams(_Section):
    """The candidate pools before fusion, and near-duplicate collapsing; hand-set.

    Each side (dense, lexical) gathers ``max(per_k · k, minimum)`` passages, so fusion
    can lift a passage one side ranks low; two passages whose word sets overlap at
    ``duplicate_jaccard`` or more (syndicated or repeated text) count as one.
    """

    SECTION: ClassVar[str] = "pool"

    per_k: int = 4
    minimum: int = 20
    duplicate_jaccard: float = 0.8

    def size(self, k: int) -> int:
        return max(self.per_k * k, self.minimum)


@dataclass(frozen=True)
class ExtractiveParams(_Section):
    """Sentence scoring and choice of the offline answerer
    (:mod:`assistant.answer.extractive`); hand-set."""

    SECTION: ClassVar[str] = "extractive"

    term_coverage_weight: float = 0.25  # added to the cosine for full (weighted) term coverage
    context_weight: float = 0.5  # a term found only in the heading/title/municipality counts half
    repeat_weight: float = 0.5  # a term already covered by a chosen sentence counts half again
    type_bonus: float = 0.05  # a sentence that fills the asked slot (number, date, name)...
    type_share: float = 0.5  # ...is typed evidence if it covers this share of the best coverage
    rank_prior: float = 0.02  # prefers the better-ranked passage when sentences tie
    max_sentences: int = 5
    margin: float = 0.08  # further sentences must score within this of the best one
    redundant_jaccard: float = 0.5  # a sentence this close to a chosen one adds nothing
    candidate_chunks: int = 5  # passages whose sentences are candidates
    evidence_candidates: int = 5  # best candidates the evidence (best coverage, cosine) reads
    min_words: int = 5  # shorter lines are headings, captions or contact details...
    heading_words: int = 8  # ...a line this short without final punctuation is a heading
    list_min_items: int = 2  # ...and two or more of them under a heading form a list
    quote_lookahead: int = 2  # sentences after a quotation in which its speaker may be named
    passage_margin: float = 0.03  # quoted passages score at most this below the best one
    slot_sentences: int = 2  # a "vem/när/hur många" question needs one or two sentences


@dataclass(frozen=True)
class SlotParams(_Section):
    """Windows of the asked-slot rules (:mod:`assistant.answer.slots`) and the slot gap
    of a question no sentence answers (:mod:`assistant.answer.answerability`); hand-set."""

    SECTION: ClassVar[str] = "slots"

    count_window: int = 3  # tokens after a number in which the counted noun must stand
    role_window: int = 8  # tokens between a role and its holder: "Värd för SKR:s besök i X var Y Z"
    no_filler_gap: float = 1.0  # the slot gap when no retrieved sentence fills the slot at all
    # Lead cues (slots.Cue), which only order the quoted sentences:
    besides_words: int = 5  # "utöver ny skollag och läroplaner": longer has run into the clause
    besides_share: float = 0.5  # a sentence holding more of those words restates them
    inflection_letters: int = 3  # endings after a noun's stem: "skol" → "skolorna", "kommunen"
    list_names: int = 3  # names beside the asked noun that make a list of its instances


@dataclass(frozen=True)
class ExactTermParams(_Section):
    """What makes a question's term distinctive (:mod:`assistant.answer.answerability`):
    it occurs in at most ``max_passages`` passages, or ``max_share`` of a large corpus.
    Such a term found verbatim in the retrieved passages ("Ett-steg-före", a heading in
    one article) is evidence no dense floor may overrule; hand-set."""

    SECTION: ClassVar[str] = "exact_terms"

    max_passages: int = 3
    max_share: float = 0.01


@dataclass(frozen=True)
class CondenseParams(_Section):
    """When an offline follow-up borrows the conversation's topic
    (:mod:`assistant.answer.condense`); hand-set."""

    SECTION: ClassVar[str] = "condense"

    followup_terms: int = 4  # content terms; longer questions usually carry their own topic
    history_turns: int = 1  # earlier user turns prepended to a follow-up


@dataclass(frozen=True)
class LanguageParams(_Section):
    """Word-length limits of the compound and hyphen rules (:mod:`assistant.language`);
    hand-set. Two tail limits and two part limits because they guard different things:
    the open vocabulary needs long tails ("värde" must not match "meritvärde"), a
    hand-picked noun list does not, and a name's parts (ROT, SKR) are short."""

    SECTION: ClassVar[str] = "language"

    min_prefix: int = 4  # "lund" → "lundalärare"; shorter heads match too much
    min_suffix: int = 6  # a compound tail in the open vocabulary
    min_listed_suffix: int = 2  # a tail from a hand-picked noun list (slots)
    min_name_part: int = 1  # a part of a hyphenated name ("ROT-avdrag" → "rot")
    expanded_match: float = 0.5  # a compound/inflection match counts half an exact one


@dataclass(frozen=True)
class Tuning:
    """Every stage's parameters as committed (the refusal policy reads its own section)."""

    fusion: FusionParams = FusionParams()
    lexical: LexicalParams = LexicalParams()
    bm25: Bm25Params = Bm25Params()
    pool: PoolParams = PoolParams()
    extractive: ExtractiveParams = ExtractiveParams()
    slots: SlotParams = SlotParams()
    exact_terms: ExactTermParams = ExactTermParams()
    condense: CondenseParams = CondenseParams()
    language: LanguageParams = LanguageParams()

    @classmethod
    def from_calibration(cls, data: Mapping[str, Any] | None = None) -> Tuning:
        data = load_calibration() if data is None else data
        # Each field's default names its class: a new stage is one field here.
        sections: dict[str, Any] = {
            f.name: cast(type[_Section], type(f.default)).from_calibration(data)
            for f in fields(cls)}
        return cls(**sections)


@lru_cache(maxsize=1)
def tuning() -> Tuning:
    """The committed parameters of every stage, read once on first use."""
    return Tuning.from_calibration()
