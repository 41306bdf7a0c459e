"""The calibration search: fusion weights and refusal thresholds chosen by k-fold
cross-validation (``assistant eval calibrate`` runs it and prints the result).

Numbers tuned on a set say nothing about that set. So the fusion weights and the
refusal thresholds are chosen here, by a fixed procedure over the dev suites (the
own eval set and the FAQ dev half in Swedish, English and leave-the-answer-out),
and judged on questions the choice did not see:

1. Every question is run once: its retrieval pools (dense and lexical, before
   fusion) and, with a policy that refuses nothing, the evidence the refusal rules
   judge and the fact coverage of the answer it would give. Both replay cheaply.
2. The questions are split into ``k`` folds (by id, so a FAQ question's Swedish,
   English and leave-out versions share a fold). For each fold, the grid search
   runs on the other folds and the chosen values are applied to the held-out one:
   the **out-of-fold** figures. The values committed as defaults are the ones the
   same search picks on all questions (the **in-sample** figures, shown beside).
3. Retrieval: the fusion weights (lexical bonus and best-sentence share, per question
   language), the adaptive margin and the municipality boost are chosen to maximise
   mean (hit@1 + recall@5 + MRR) / 3 per suite, among the settings that are at least
   as good as dense search alone on each of the three metrics on every suite.
4. Refusal: coordinate ascent over the policy's thresholds maximises refusal
   accuracy on the unanswerable suites (own near-miss and unanswerable questions,
   FAQ leave-out) while holding false refusals on every answerable suite under a
   cap and the own set's fact coverage above a floor.

Everything is deterministic, so re-running reproduces the committed
``assistant/calibration.json`` (``--check`` verifies it, ``--write`` updates its
calibrated sections, ``--doc`` rewrites the calibration tables between their markers
in docs/evaluation.md).

What is searched comes from where the parameters live: the fusion candidates from
:class:`~assistant.params.FusionGrid`, the refusal candidates from the policy's rule
registry (``policy.calibration_grid()``). This module measures the answering chain but
does not build it (evaluation/ never imports the chain): the command hands in a
:class:`Chain` factory and the hand-set start policy.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar

from assistant.evaluation.answerability import ConfidenceKit, ConfidenceReport, Scoring, report
from assistant.evaluation.metrics import fact_coverage, hit_at, recall_at, reciprocal_rank
from assistant.params import FusionGrid, FusionParams

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from assistant.config import Settings
    from assistant.history import History
    from assistant.retrieval.filters import Filters
    from assistant.retrieval.hybrid import Candidates, Searcher
    from assistant.types import Answer

__all__ = [
    "DEFAULT_SUITES",
    "DOC_BEGIN",
    "DOC_END",
    "Calibration",
    "Chain",
    "Item",
    "Policy",
    "Suite",
    "calibrate",
    "collect",
    "render_markdown",
    "update_doc",
]

K = 5
FOLDS = 5
# The markers around the generated tables (in docs/evaluation.md; the text is kept as it
# was when the tables lived in the README, so existing pages keep working).
DOC_BEGIN = "<!-- calibrate:begin (written by `assistant eval calibrate --readme`) -->"
DOC_END = "<!-- calibrate:end -->"
# what --write rewrites; the rest is hand-set
CALIBRATED_SECTIONS = ("retrieval", "refusal", "confidence")

# Constraints of the refusal search (on the training folds). The acceptance target is
# at most 3 % false refusals out of fold on every dev corpus: the cap is that target for
# the own set and a little below it for the FAQ suites. Own fact coverage >= FACT_FLOOR.
FALSE_REFUSAL_CAP = {"own": 0.03, "faq-sv": 0.025, "faq-en": 0.025}
FACT_FLOOR = 0.89
PENALTY = 5.0
GRID = FusionGrid()


class Decided(Protocol):
    @property
    def refused(self) -> bool: ...


class Policy(Protocol):
    """What the search needs of a refusal policy (:class:`~assistant.answer.policy.
    RefusalPolicy`): a verdict on stored evidence, copies with one value changed, its
    values, and the candidates of each value."""

    source: str

    def decide(self, evidence: Any, /) -> Decided: ...

    def with_values(self, **changes: Any) -> Self: ...

    def thresholds(self) -> Mapping[str, Any]: ...

    def calibration_grid(self) -> Mapping[str, Sequence[Any]]: ...


class Chain(Protocol):
    """The answering chain of one corpus as calibration runs it (built by the command)."""

    @property
    def retriever(self) -> Searcher: ...

    def standalone(self, question: str, history: History) -> str:
        """The text retrieval runs with (a follow-up condensed offline)."""
        ...

    def open_answer(self, question: str, history: History, k: int,
                    filters: Filters) -> tuple[Any, Answer]:
        """The answer a policy that refuses nothing gives, with the evidence measured
        for it (None: no sentence could be quoted)."""
        ...


P = TypeVar("P", bound=Policy)
# (settings of a corpus, embeddings, fusion to answer with; None: the committed one)
OpenChain = Callable[["Settings", "Embeddings", FusionParams | None], Chain]


@dataclass(frozen=True)
class Suite:
    name: str
    file: Path
    corpus: Path | None = None  # None: the configured corpus (ASSISTANT_CORPUS_DIR)
    corpus_name: str = "own"  # suites on one corpus share it (leave-one-corpus-out)


DEFAULT_SUITES = (
    Suite("own", Path("eval/questions.jsonl")),
    Suite("faq-sv", Path("eval/faq-dev/questions-sv.jsonl"), Path("eval/faq-dev/corpus"),
          "faq"),
    Suite("faq-en", Path("eval/faq-dev/questions-en.jsonl"), Path("eval/faq-dev/corpus"),
          "faq"),
    Suite("leaveout", Path("eval/faq-dev/questions-leaveout.jsonl"),
          Path("eval/faq-dev/corpus"), "faq"),
)


@dataclass
class Item:
    """One question as calibration sees it: pools to re-rank, evidence to re-judge."""

    suite: str
    qid: str
    kind: str
    expected: tuple[str, ...]
    candidates: Candidates
    evidence: Any = None  # what the policy judges; None: no sentence to quote at all
    fact: float = math.nan  # fact coverage of the answer an open policy gives
    raw_dense: tuple[str, ...] = ()  # documents the raw dense reference retrieves
    corpus: str = "own"  # the suite's corpus name
    # (hit@1, recall@5, MRR) per (lexical weight of its language, adaptive, boost,
    # sentence share of its language)
    triplets: dict[tuple[float, bool, float, float], tuple[float, float, float]] = field(
        default_factory=dict)

    @property
    def answerable(self) -> bool:
        return bool(self.expected)

    @property
    def fold(self) -> int:
        base = self.qid.removeprefix("lo-")
        return int(hashlib.sha256(base.encode("utf-8")).hexdigest(), 16) % FOLDS


# --- collecting ------------------------------------------------------------------------------


def collect(settings: Settings, open_chain: OpenChain,
            suites: Sequence[Suite] = DEFAULT_SUITES,
            progress: Callable[[str], None] = lambda _m: None,
            ) -> tuple[list[Item], dict[str, Searcher]]:
    """Every suite's retrieval pools and raw-dense results, plus the retriever that ranks
    each suite's pools (one per corpus)."""
    from assistant.evaluation.corpora import corpus_settings
    from assistant.evaluation.dataset import load_eval_file
    from assistant.evaluation.reference import DenseReference
    from assistant.ingest.pipeline import ingest
    from assistant.retrieval.embeddings import get_embeddings
    from assistant.retrieval.filters import Filters

    settings = settings.model_copy(update={"llm": "extractive"})
    embeddings = get_embeddings(settings)
    chains: dict[Path, Chain] = {}
    references: dict[Path, DenseReference] = {}
    items: list[Item] = []
    rankers: dict[str, Searcher] = {}
    for suite in suites:
        corpus = suite.corpus or Path(settings.corpus_dir)
        if corpus not in chains:
            local = settings if suite.corpus is None else corpus_settings(settings, corpus)
            if suite.corpus is not None:
                progress(f"index för {corpus}: {local.index_dir}")
                ingest(local, progress=False, embeddings=embeddings)
            chains[corpus] = open_chain(local, embeddings, None)
            references[corpus] = DenseReference.from_corpus(corpus, embeddings,
                                                            local.metadata_file)
        chain, reference = chains[corpus], references[corpus]
        retriever = rankers[suite.name] = chain.retriever
        questions, errors = load_eval_file(suite.file)
        if errors:
            raise ValueError(f"{suite.file}: {len(errors)} felaktiga rader; rätta dem först")
        progress(f"{suite.name}: {len(questions)} frågor")
        for q in questions:
            filters = Filters(exclude_doc_ids=q.exclude_sources)
            standalone = chain.standalone(q.question, q.history)
            found = retriever.gather(standalone, K, filters, "hybrid", all_signals=True)
            vector = found.query_vector or embeddings.embed_query(standalone)
            raw = reference.search(vector, K, q.exclude_sources)
            items.append(Item(suite.name, q.id, q.kind, q.expected_sources, found,
                              raw_dense=tuple(raw), corpus=suite.corpus_name))
    return items, rankers


def replay_answers(settings: Settings, open_chain: OpenChain, items: Sequence[Item],
                   fusion: FusionParams, suites: Sequence[Suite] = DEFAULT_SUITES) -> None:
    """Answer every question with ``fusion`` and a policy that refuses nothing; keep the
    evidence and the would-be answer's fact coverage on each item."""
    from assistant.evaluation.corpora import corpus_settings
    from assistant.evaluation.dataset import load_eval_file
    from assistant.retrieval.embeddings import get_embeddings
    from assistant.retrieval.filters import Filters

    settings = settings.model_copy(update={"llm": "extractive"})
    embeddings = get_embeddings(settings)
    by_key = {(item.suite, item.qid): item for item in items}
    chains: dict[Path, Chain] = {}
    for suite in suites:
        corpus = suite.corpus or Path(settings.corpus_dir)
        if corpus not in chains:
            local = settings if suite.corpus is None else corpus_settings(settings, corpus)
            chains[corpus] = open_chain(local, embeddings, fusion)
        chain = chains[corpus]
        questions, _ = load_eval_file(suite.file)
        for q in questions:
            evidence, answer = chain.open_answer(
                q.question, q.history, K, Filters(exclude_doc_ids=q.exclude_sources))
            item = by_key[(suite.name, q.id)]
            item.evidence = evidence
            item.fact = fact_coverage(answer.answer, q.must_mention) if not answer.refused \
                else (math.nan if not q.must_mention else 0.0)


# --- retrieval -------------------------------------------------------------------------------


def _doc_ids(retriever: Searcher, found: Candidates, params: FusionParams) -> list[str]:
    retrieval = retriever.rank(found, K, params)
    return list(dict.fromkeys(s.chunk.doc_id for s in retrieval.chunks))


def _retrieval_triplet(expected: Sequence[str], ids: Sequence[str]) -> tuple[float, float, float]:
    return (hit_at(expected, ids, 1), recall_at(expected, ids, K), reciprocal_rank(expected, ids))


def score_retrieval(items: Sequence[Item], rankers: dict[str, Searcher]) -> None:
    """Each answerable item's (hit@1, recall@5, MRR) under every grid point of its language."""
    for item in items:
        if not item.answerable:
            continue
        retriever = rankers[item.suite]
        for weight in GRID.lexical_weights:
            for adaptive in (True, False):
                if weight == 0.0 and not adaptive:
                    continue  # identical to adaptive with weight 0
                for boost in GRID.boosts:
                    for share in GRID.sentence_weights:
                        params = FusionParams(weight, weight, adaptive, boost, share, share)
                        ids = _doc_ids(retriever, item.candidates, params)
                        item.triplets[(weight, adaptive, boost, share)] = \
                            _retrieval_triplet(item.expected, ids)


def _triplet(item: Item, params: FusionParams) -> tuple[float, float, float]:
    weight = params.weight(item.candidates.language)
    adaptive = params.adaptive if weight > 0 else True
    return item.triplets[(weight, adaptive, params.municipality_boost,
                          params.sentence(item.candidates.language))]


def retrieval_metrics(items: Iterable[Item], params: FusionParams | None) -> dict[str, float]:
    """hit@1, recall@5, MRR over answerable items; ``params=None``: the raw dense reference."""
    rows = []
    for item in items:
        if not item.answerable:
            continue
        rows.append(_retrieval_triplet(item.expected, item.raw_dense) if params is None
                    else _triplet(item, params))
    if not rows:
        return {}
    return {name: sum(r[i] for r in rows) / len(rows)
            for i, name in enumerate(("hit@1", "recall@5", "mrr"))}


DENSE = FusionParams.dense_only()


def fusion_grid() -> list[FusionParams]:
    grid = []
    for sv in GRID.lexical_weights:
        for en in GRID.lexical_weights:
            for adaptive in (True, False):
                if not adaptive and sv == 0.0 and en == 0.0:
                    continue
                for boost in GRID.boosts:
                    for share_sv in GRID.sentence_weights:
                        for share_en in GRID.sentence_weights:
                            grid.append(FusionParams(sv, en, adaptive, boost,
                                                     share_sv, share_en))
    return grid


_Sums = dict[bool, dict[tuple[float, bool, float, float], list[float]]]


def _triplet_sums(items: Sequence[Item]) -> _Sums:
    """Per question language (English or not) and grid key, the summed triplets: a grid
    point's metrics are then two look-ups, not a pass over every question (the grid
    has thousands of points, each judged on every fold)."""
    sums: _Sums = {}
    for item in items:
        by_key = sums.setdefault(item.candidates.language == "en", {})
        for key, triplet in item.triplets.items():
            total = by_key.setdefault(key, [0.0, 0.0, 0.0])
            for n, value in enumerate(triplet):
                total[n] += value
    return sums


def _grid_metrics(sums: _Sums, count: int, params: FusionParams) -> dict[str, float]:
    """:func:`retrieval_metrics` of ``params`` from :func:`_triplet_sums`."""
    totals = [0.0, 0.0, 0.0]
    for english, by_key in sums.items():
        language = "en" if english else "sv"
        weight = params.weight(language)
        key = (weight, params.adaptive if weight > 0 else True, params.municipality_boost,
               params.sentence(language))
        for n, value in enumerate(by_key[key]):
            totals[n] += value
    return {name: totals[n] / count for n, name in enumerate(("hit@1", "recall@5", "mrr"))}


def choose_fusion(items: Sequence[Item]) -> FusionParams:
    """Best mean (hit@1 + recall@5 + MRR) / 3 per suite among settings never below dense.

    "Dense" is both the project's own dense mode and the raw dense reference: a setting
    must match the better of the two on every metric of every suite. Where no setting
    can (the raw reference wins on a suite whatever the weights), the project's dense
    mode alone is the floor, and the table in docs/evaluation.md shows the gap.
    """
    suites = sorted({i.suite for i in items if i.answerable})
    by_suite = {s: [i for i in items if i.suite == s and i.answerable] for s in suites}
    dense = {s: retrieval_metrics(by_suite[s], DENSE) for s in suites}
    raw = {s: retrieval_metrics(by_suite[s], None) for s in suites}
    strict = {s: {m: max(dense[s][m], raw[s][m]) for m in dense[s]} for s in suites}
    sums = {s: _triplet_sums(by_suite[s]) for s in suites}
    scored = []
    for params in fusion_grid():
        per_suite = {s: _grid_metrics(sums[s], len(by_suite[s]), params) for s in suites}
        score = sum(sum(v.values()) / 3 for v in per_suite.values()) / len(suites)
        scored.append((params, per_suite, score))
    for floor in (strict, dense):
        best, best_score = DENSE, -1.0
        for params, per_suite, score in scored:
            if any(per_suite[s][m] < floor[s][m] - 1e-12 for s in suites for m in floor[s]):
                continue
            if score > best_score + 1e-12:
                best, best_score = params, score
        if best_score >= 0:
            return best
    return DENSE


# --- refusal ---------------------------------------------------------------------------------


def _refused(policy: Policy, item: Item) -> bool:
    return item.evidence is None or policy.decide(item.evidence).refused


def refusal_metrics(items: Iterable[Item], decide: Callable[[Item], bool]) -> dict[str, Any]:
    """Per suite: refusal accuracy, near-miss accuracy, false refusals, fact coverage."""
    out: dict[str, dict[str, float]] = {}
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(item.suite, []).append(item)
    for suite, group in sorted(groups.items()):
        refused = {id(i): decide(i) for i in group}
        unans = [i for i in group if not i.answerable]
        near = [i for i in unans if i.kind == "nearmiss"]
        ans = [i for i in group if i.answerable]
        facts = [0.0 if refused[id(i)] else i.fact for i in ans if not math.isnan(i.fact)]
        row: dict[str, float] = {}
        if unans:
            row["refusal_accuracy"] = sum(refused[id(i)] for i in unans) / len(unans)
        if near:
            row["nearmiss_refusal"] = sum(refused[id(i)] for i in near) / len(near)
        if ans:
            row["false_refusal_rate"] = sum(refused[id(i)] for i in ans) / len(ans)
        if facts:
            row["fact_coverage"] = sum(facts) / len(facts)
        out[suite] = row
    return out


def _objective(items: Sequence[Item], policy: Policy) -> float:
    metrics = refusal_metrics(items, lambda i: _refused(policy, i))
    accuracies = [m["refusal_accuracy"] for m in metrics.values() if "refusal_accuracy" in m]
    score = sum(accuracies) / len(accuracies) if accuracies else 0.0
    for suite, cap in FALSE_REFUSAL_CAP.items():
        rate = metrics.get(suite, {}).get("false_refusal_rate")
        if rate is not None:
            score -= PENALTY * max(0.0, rate - cap)
    fact = metrics.get("own", {}).get("fact_coverage")
    if fact is not None:
        score -= PENALTY * max(0.0, FACT_FLOOR - fact)
    return score


def choose_policy(items: Sequence[Item], start: P, passes: int = 3) -> P:
    """Coordinate ascent over the policy's calibration grid from ``start``; ties keep the
    current value, so the result depends only on the data and the grid order."""
    current = start.with_values(source="calibrated")
    best = _objective(items, current)
    grid = start.calibration_grid()
    for _ in range(passes):
        improved = False
        for name, values in grid.items():
            for value in values:
                candidate = current.with_values(**{name: value})
                score = _objective(items, candidate)
                if score > best + 1e-12:
                    current, best, improved = candidate, score, True
        if not improved:
            break
    return current


# --- the whole procedure ---------------------------------------------------------------------


@dataclass
class Calibration:
    fusion: FusionParams
    policy: Policy
    start_policy: Policy
    retrieval_rows: dict[str, dict[str, dict[str, float]]]  # suite → config → metrics
    refusal_rows: dict[str, dict[str, dict[str, float]]]  # config → suite → metrics
    fold_choices: list[dict[str, Any]]
    questions: dict[str, int]
    confidence: ConfidenceReport | None = None

    def calibration_json(self) -> dict[str, Any]:
        """The calibrated sections of ``assistant/calibration.json`` (a rule that is off
        is ``null``)."""
        refusal = dict(self.policy.thresholds())
        out = {"source": "assistant eval calibrate (k-fold cross-validation; "
                         "docs/evaluation.md, \"Calibration\")",
               "retrieval": asdict(self.fusion), "refusal": refusal}
        if self.confidence is not None:
            out["confidence"] = self.confidence.section()
        return out

    def merged_into(self, committed: Mapping[str, Any]) -> dict[str, Any]:
        """``committed`` with the calibrated sections replaced; hand-set ones kept."""
        return {**committed, **self.calibration_json()}


def run(settings: Settings, open_chain: OpenChain, start: Policy,
        suites: Sequence[Suite] = DEFAULT_SUITES,
        progress: Callable[[str], None] = lambda _m: None,
        kit: ConfidenceKit | None = None) -> Calibration:
    """The whole procedure: gather every suite, then :func:`calibrate`."""
    items, rankers = collect(settings, open_chain, suites, progress)
    return calibrate(items, rankers, start,
                     lambda fusion: replay_answers(settings, open_chain, items, fusion, suites),
                     kit)


def calibrate(items: Sequence[Item], rankers: dict[str, Searcher], start: Policy,
              replay: Callable[[FusionParams], None],
              kit: ConfidenceKit | None = None) -> Calibration:
    """Cross-validated choice of fusion and policy; see the module docstring."""
    score_retrieval(items, rankers)
    fusion = choose_fusion(items)
    oof_fusion: dict[int, FusionParams] = {}
    fold_choices: list[dict[str, Any]] = []
    for fold in range(FOLDS):
        oof_fusion[fold] = choose_fusion([i for i in items if i.fold != fold])
    retrieval_rows: dict[str, dict[str, dict[str, float]]] = {}
    for suite in sorted({i.suite for i in items if i.answerable}):
        group = [i for i in items if i.suite == suite]
        oof: list[tuple[float, float, float]] = [
            _triplet(i, oof_fusion[i.fold]) for i in group if i.answerable]
        retrieval_rows[suite] = {
            "dense": retrieval_metrics(group, DENSE),
            "raw-dense": retrieval_metrics(group, None),
            "hybrid (in-sample)": retrieval_metrics(group, fusion),
            "hybrid (out-of-fold)": {name: sum(r[n] for r in oof) / len(oof) for n, name in
                                     enumerate(("hit@1", "recall@5", "mrr"))},
        }

    replay(fusion)  # evidence under the chosen retrieval
    # With a confidence model, every question's confidence comes from a model that did
    # not see it, and min_confidence is searched with the other thresholds.
    scoring = None if kit is None else Scoring(kit)

    def unseen(group: Sequence[Item]) -> list[Item]:
        return list(group) if scoring is None else scoring.out_of_fold(group)

    policy = choose_policy(unseen(items), start)
    oof_policy: dict[int, Policy] = {}
    judged: list[Item] = []  # each question scored and judged without its fold
    for fold in range(FOLDS):
        inner = [i for i in items if i.fold != fold]
        oof_policy[fold] = choose_policy(unseen(inner), start)
        outer = [i for i in items if i.fold == fold]
        judged += outer if scoring is None else scoring.scored(outer, inner)
        fold_choices.append({"fold": fold, "fusion": asdict(oof_fusion[fold]),
                             "refusal": dict(oof_policy[fold].thresholds())})
    inside = items if scoring is None else scoring.scored(items, items)

    def refuses_oof(item: Item) -> bool:
        return _refused(oof_policy[item.fold], item)

    refusal_rows = {
        "hand-set start (in-sample)": refusal_metrics(items, lambda i: _refused(start, i)),
        "calibrated (in-sample)": refusal_metrics(inside, lambda i: _refused(policy, i)),
        "calibrated (out-of-fold)": refusal_metrics(judged, refuses_oof),
    }
    counts: dict[str, int] = {}
    for item in items:
        counts[item.suite] = counts.get(item.suite, 0) + 1

    def searched(group: Sequence[Item]) -> Callable[[Item], bool]:
        chosen = choose_policy(group, start)
        return lambda i: _refused(chosen, i)

    confidence = None if scoring is None else report(
        items, scoring, lambda i: _refused(policy, i), judged, refuses_oof, searched,
        policy.thresholds().get("min_confidence"))
    return Calibration(fusion, policy, start, retrieval_rows, refusal_rows, fold_choices,
                       counts, confidence)


# --- output ----------------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.3f}"


def render_markdown(cal: Calibration, committed: Mapping[str, Any] | None = None) -> str:
    """The calibration tables of docs/evaluation.md: retrieval, refusal, chosen values
    (with ``committed``: the file's values, and what the search chooses where it differs,
    so the page never claims a value the file does not hold)."""
    lines = [
        f"Produced by `assistant eval calibrate` ({FOLDS}-fold cross-validation; questions: "
        + ", ".join(f"{s} {n}" for s, n in sorted(cal.questions.items())) + "). "
        "Out-of-fold: each question judged with values chosen without its fold; "
        "in-sample: the committed values, chosen on all questions.",
        "",
        "**Retrieval** (extractive, k = 5; hybrid = the default retriever):",
        "",
        "| suite | metric | dense | raw-dense | hybrid in-sample | hybrid out-of-fold |",
        "|---|---|---|---|---|---|",
    ]
    for suite, rows in cal.retrieval_rows.items():
        for metric in ("hit@1", "recall@5", "mrr"):
            lines.append(f"| {suite} | {metric} | " + " | ".join(
                _fmt(rows[c].get(metric)) for c in (
                    "dense", "raw-dense", "hybrid (in-sample)", "hybrid (out-of-fold)")) + " |")
    lines += [
        "",
        "**Refusal** (refusal accuracy on unanswerable questions, near-miss subset, "
        "false-refusal rate on answerable ones, fact coverage):",
        "",
        "| suite | metric | " + " | ".join(cal.refusal_rows) + " |",
        "|---|---|" + "---|" * len(cal.refusal_rows),
    ]
    suites = sorted({s for rows in cal.refusal_rows.values() for s in rows})
    for suite in suites:
        for metric in ("refusal_accuracy", "nearmiss_refusal", "false_refusal_rate",
                       "fact_coverage"):
            values = [rows.get(suite, {}).get(metric) for rows in cal.refusal_rows.values()]
            if all(v is None for v in values):
                continue
            lines.append(f"| {suite} | {metric} | " + " | ".join(_fmt(v) for v in values) + " |")
    if cal.confidence is not None:
        lines += ["", *_confidence_table(cal.confidence)]
    data = cal.calibration_json()
    lines += ["", "**Committed values** (`assistant/calibration.json`):", "",
              "| setting | value |", "|---|---|"]
    def shown(section: str, key: str, value: Any) -> str:
        text = "off" if value is None else str(value)
        if committed is None:
            return text
        held = (committed.get(section) or {}).get(key)
        held_text = "off" if held is None else str(held)
        return held_text if _same(held, value) else f"{held_text} (the search now: {text})"

    for section in ("retrieval", "refusal"):
        for key, value in data[section].items():
            lines.append(f"| {section}.{key} | {shown(section, key, value)} |")
    if cal.confidence is not None:
        weights = dict(zip(cal.confidence.model["features"], cal.confidence.model["weights"],
                           strict=True))
        lines.append("| confidence.hedge_below | "
                     f"{shown('confidence', 'hedge_below', cal.confidence.hedge_below)} |")
        lines += ["", "Confidence model weights (standardised features; positive: "
                  "more likely answerable): " + ", ".join(
                      f"{name} {value:+.2f}" for name, value in weights.items())
                  + f"; bias {cal.confidence.model['bias']:+.2f}."]
    return "\n".join(lines)


def _confidence_table(fit: ConfidenceReport) -> list[str]:
    lines = [
        "**Answerability** (`confidence`; refused = the rules, `low_confidence` among them; "
        "out-of-fold: model and thresholds chosen without the question's fold; the hedge "
        "row counts `confidence.hedge_below` hedges as refusals; leave-corpus-out: model "
        "and thresholds chosen on the other corpus alone; best_passage: the top-1 cosine "
        "alone at the out-of-fold false-refusal rate of its corpus):",
        "",
        "| corpus / suite | view | AUROC | refused unanswerable | near-miss | "
        "false refusals |",
        "|---|---|---|---|---|---|",
    ]
    for group, views in fit.rows.items():
        for view, row in views.items():
            lines.append(f"| {group} | {view} | " + " | ".join(_fmt(row.get(m)) for m in (
                "auroc", "refusal", "nearmiss", "false_refusal")) + " |")
    return lines


def update_doc(doc: Path, block: str) -> None:
    """Replace what stands between the calibration markers of ``doc`` with ``block``."""
    text = doc.read_text(encoding="utf-8")
    if DOC_BEGIN not in text or DOC_END not in text:
        raise ValueError(f"{doc} saknar markörerna {DOC_BEGIN!r} … {DOC_END!r}")
    head, rest = text.split(DOC_BEGIN, 1)
    _, tail = rest.split(DOC_END, 1)
    doc.write_text(f"{head}{DOC_BEGIN}\n{block}\n{DOC_END}{tail}", encoding="utf-8")


def _same(a: Any, b: Any) -> bool:
    """Equal, numbers to three decimals: the model's weights move in the fifth decimal
    between runs (float noise in the stored vectors), which changes no decision."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return abs(float(a) - float(b)) <= 1e-3
    return bool(a == b)


def differs(committed: Mapping[str, Any], chosen: Mapping[str, Any]) -> list[str]:
    """Settings whose committed value is not what calibration chooses now."""
    out = []
    for section in CALIBRATED_SECTIONS:
        for key, value in (chosen.get(section) or {}).items():
            if not _same((committed.get(section) or {}).get(key), value):
                out.append(f"{section}.{key}: {committed.get(section, {}).get(key)!r} → "
                           f"{value!r}")
    return out


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
