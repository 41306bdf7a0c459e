"""``assistant eval calibrate``: every tuned number chosen by k-fold cross-validation.

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
``assistant/calibration.json`` (``--check`` verifies it, ``--write`` updates it,
``--readme`` rewrites the README's calibration tables between their markers).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.answer.policy import OFF as POLICY_OFF
from assistant.answer.policy import Evidence, RefusalPolicy
from assistant.evaluation.metrics import fact_coverage, hit_at, recall_at, reciprocal_rank
from assistant.retrieval.fusion import FusionParams

if TYPE_CHECKING:
    from assistant.config import Settings
    from assistant.retrieval.hybrid import Candidates, Searcher

__all__ = [
    "DEFAULT_SUITES",
    "Calibration",
    "Item",
    "Suite",
    "calibrate",
    "collect",
    "render_markdown",
    "update_readme",
]

K = 5
FOLDS = 5
README_BEGIN = "<!-- calibrate:begin (written by `assistant eval calibrate --readme`) -->"
README_END = "<!-- calibrate:end -->"

# Constraints of the refusal search (on the training folds; the acceptance targets
# are own false refusals <= 0.05, FAQ <= 0.03, own fact coverage >= 0.90).
FALSE_REFUSAL_CAP = {"own": 0.04, "faq-sv": 0.025, "faq-en": 0.025}
FACT_FLOOR = 0.89
PENALTY = 5.0

# Policy that refuses nothing: what an answer would have been, to replay any policy.
OPEN_POLICY = RefusalPolicy(min_evidence=0.0, min_evidence_en=0.0, min_lexical=0.0,
                            min_standout_en=-math.inf, check_unknown_terms=False,
                            min_entity_coverage=0.0, check_answer_type=False,
                            source="calibration: refuses nothing")

LEXICAL_WEIGHTS = (0.0, 0.01, 0.02, 0.03, 0.05, 0.08)
SENTENCE_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4)  # share of the best sentence cosine
BOOSTS = (0.0, 0.01, 0.02, 0.05)
OFF = -99.0  # standout threshold that disables the rule (JSON has no -inf)
REFUSAL_GRID: dict[str, tuple[float | bool, ...]] = {
    "min_evidence": (0.0, 0.78, 0.79, 0.80, 0.81, 0.815, 0.82, 0.83, 0.84),
    "min_evidence_en": (0.0, 0.72, 0.74, 0.75, 0.76, 0.78, 0.80),
    "min_lexical": (0.3, 0.4, 0.5, 0.6, 0.7, 1.01),
    "min_standout_en": (OFF, 1.5, 2.0, 2.5, 2.9, 3.2),
    "check_unknown_terms": (True, False),
    "min_entity_coverage": (0.0, 0.5, 1.0),
    "check_answer_type": (True, False),
    "min_typed_coverage": (0.0, 0.25, 0.5, 0.75),
    "max_slot_gap": (POLICY_OFF, 0.15, 0.1, 0.08, 0.06, 0.04, 0.02, 0.0),
    "max_slot_gap_en": (POLICY_OFF, 0.15, 0.1, 0.08, 0.06, 0.04, 0.02, 0.0),
    "min_attribute_coverage": (0.0, 0.2, 0.3, 0.4, 0.5, 0.6),
    "min_attribute_coverage_en": (0.0, 0.1, 0.2, 0.3),
}


@dataclass(frozen=True)
class Suite:
    name: str
    file: Path
    corpus: Path | None = None  # None: the configured corpus (ASSISTANT_CORPUS_DIR)


DEFAULT_SUITES = (
    Suite("own", Path("eval/questions.jsonl")),
    Suite("faq-sv", Path("eval/faq-dev/questions-sv.jsonl"), Path("eval/faq-dev/corpus")),
    Suite("faq-en", Path("eval/faq-dev/questions-en.jsonl"), Path("eval/faq-dev/corpus")),
    Suite("leaveout", Path("eval/faq-dev/questions-leaveout.jsonl"),
          Path("eval/faq-dev/corpus")),
)


@dataclass
class Item:
    """One question as calibration sees it: pools to re-rank, evidence to re-judge."""

    suite: str
    qid: str
    kind: str
    expected: tuple[str, ...]
    candidates: Candidates
    evidence: Evidence | None = None  # None: no sentence to quote at all
    fact: float = math.nan  # fact coverage of the answer an open policy gives
    raw_dense: tuple[str, ...] = ()  # documents the raw dense reference retrieves
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


def collect(settings: Settings, suites: Sequence[Suite] = DEFAULT_SUITES,
            progress: Callable[[str], None] = lambda _m: None,
            ) -> tuple[list[Item], dict[str, Searcher]]:
    """Every suite's retrieval pools and raw-dense results, plus the retriever that ranks
    each suite's pools (one per corpus)."""
    from assistant.answer import Assistant
    from assistant.answer.condense import condense_offline
    from assistant.evaluation.corpora import corpus_settings
    from assistant.evaluation.dataset import load_eval_file
    from assistant.evaluation.reference import DenseReference
    from assistant.ingest.pipeline import ingest
    from assistant.retrieval.embeddings import get_embeddings
    from assistant.retrieval.filters import Filters

    settings = settings.model_copy(update={"llm": "extractive"})
    embeddings = get_embeddings(settings)
    assistants: dict[Path, Assistant] = {}
    references: dict[Path, DenseReference] = {}
    items: list[Item] = []
    rankers: dict[str, Searcher] = {}
    for suite in suites:
        corpus = suite.corpus or Path(settings.corpus_dir)
        if corpus not in assistants:
            local = settings if suite.corpus is None else corpus_settings(settings, corpus)
            if suite.corpus is not None:
                progress(f"index för {corpus}: {local.index_dir}")
                ingest(local, progress=False, embeddings=embeddings)
            assistants[corpus] = Assistant.from_settings(local, embeddings)
            references[corpus] = DenseReference.from_corpus(corpus, embeddings,
                                                            local.metadata_file)
        assistant, reference = assistants[corpus], references[corpus]
        retriever = rankers[suite.name] = assistant.retriever
        questions, errors = load_eval_file(suite.file)
        if errors:
            raise ValueError(f"{suite.file}: {len(errors)} felaktiga rader; rätta dem först")
        progress(f"{suite.name}: {len(questions)} frågor")
        for q in questions:
            filters = Filters(exclude_doc_ids=q.exclude_sources)
            standalone = condense_offline(q.question, q.history, retriever.names_municipality)
            found = retriever.gather(standalone, K, filters, "hybrid", all_signals=True)
            vector = found.query_vector or embeddings.embed_query(standalone)
            raw = reference.search(vector, K, q.exclude_sources)
            items.append(Item(suite.name, q.id, q.kind, q.expected_sources, found,
                              raw_dense=tuple(raw)))
    return items, rankers


def replay_answers(settings: Settings, items: Sequence[Item], fusion: FusionParams,
                   suites: Sequence[Suite] = DEFAULT_SUITES) -> None:
    """Answer every question with ``fusion`` and a policy that refuses nothing; keep the
    evidence and the would-be answer's fact coverage on each item."""
    from assistant.answer import Assistant
    from assistant.evaluation.corpora import corpus_settings
    from assistant.evaluation.dataset import load_eval_file
    from assistant.retrieval.embeddings import get_embeddings
    from assistant.retrieval.filters import Filters

    settings = settings.model_copy(update={"llm": "extractive"})
    embeddings = get_embeddings(settings)
    by_key = {(item.suite, item.qid): item for item in items}
    assistants: dict[Path, Assistant] = {}
    for suite in suites:
        corpus = suite.corpus or Path(settings.corpus_dir)
        if corpus not in assistants:
            local = settings if suite.corpus is None else corpus_settings(settings, corpus)
            assistants[corpus] = Assistant.from_settings(local, embeddings)
            assistants[corpus].policy = OPEN_POLICY
            assistants[corpus].retriever.fusion = fusion
        assistant = assistants[corpus]
        questions, _ = load_eval_file(suite.file)
        for q in questions:
            answer = assistant.ask(q.question, q.history, k=K,
                                   filters=Filters(exclude_doc_ids=q.exclude_sources))
            item = by_key[(suite.name, q.id)]
            recorded = (answer.refusal or {}).get("evidence")
            item.evidence = Evidence.from_dict(recorded) if recorded else None
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
        for weight in LEXICAL_WEIGHTS:
            for adaptive in (True, False):
                if weight == 0.0 and not adaptive:
                    continue  # identical to adaptive with weight 0
                for boost in BOOSTS:
                    for share in SENTENCE_WEIGHTS:
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


DENSE = FusionParams(0.0, 0.0, True, 0.0)


def fusion_grid() -> list[FusionParams]:
    grid = []
    for sv in LEXICAL_WEIGHTS:
        for en in LEXICAL_WEIGHTS:
            for adaptive in (True, False):
                if not adaptive and sv == 0.0 and en == 0.0:
                    continue
                for boost in BOOSTS:
                    for share_sv in SENTENCE_WEIGHTS:
                        for share_en in SENTENCE_WEIGHTS:
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
    mode alone is the floor, and the README table shows the gap.
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


def _refused(policy: RefusalPolicy, item: Item) -> bool:
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


def _objective(items: Sequence[Item], policy: RefusalPolicy) -> float:
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


def choose_policy(items: Sequence[Item], start: RefusalPolicy, passes: int = 3) -> RefusalPolicy:
    """Coordinate ascent over :data:`REFUSAL_GRID` from ``start``; ties keep the current
    value, so the result depends only on the data and the grid order."""
    current = replace(start, source="calibrated")
    best = _objective(items, current)
    for _ in range(passes):
        improved = False
        for name, values in REFUSAL_GRID.items():
            for value in values:
                values_: dict[str, Any] = {name: value}
                candidate = replace(current, **values_)
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
    policy: RefusalPolicy
    start_policy: RefusalPolicy
    retrieval_rows: dict[str, dict[str, dict[str, float]]]  # suite → config → metrics
    refusal_rows: dict[str, dict[str, dict[str, float]]]  # config → suite → metrics
    fold_choices: list[dict[str, Any]]
    questions: dict[str, int]

    def calibration_json(self) -> dict[str, Any]:
        fusion = asdict(self.fusion)
        refusal = {f.name: getattr(self.policy, f.name) for f in fields(self.policy)
                   if f.name != "source"}
        refusal = {k: (OFF if isinstance(v, float) and math.isinf(v) else v)
                   for k, v in refusal.items()}
        return {"source": "assistant eval calibrate (k-fold cross-validation; README, "
                          "\"Calibration\")",
                "retrieval": fusion, "refusal": refusal}


def calibrate(items: Sequence[Item], rankers: dict[str, Searcher], start: RefusalPolicy,
              replay: Callable[[FusionParams], None]) -> Calibration:
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
    policy = choose_policy(items, start)
    oof_policy: dict[int, RefusalPolicy] = {}
    for fold in range(FOLDS):
        oof_policy[fold] = choose_policy([i for i in items if i.fold != fold], start)
        fold_choices.append({"fold": fold, "fusion": asdict(oof_fusion[fold]),
                             "refusal": oof_policy[fold].thresholds()})
    refusal_rows = {
        "hand-set start (in-sample)": refusal_metrics(items, lambda i: _refused(start, i)),
        "calibrated (in-sample)": refusal_metrics(items, lambda i: _refused(policy, i)),
        "calibrated (out-of-fold)": refusal_metrics(
            items, lambda i: _refused(oof_policy[i.fold], i)),
    }
    counts: dict[str, int] = {}
    for item in items:
        counts[item.suite] = counts.get(item.suite, 0) + 1
    return Calibration(fusion, policy, start, retrieval_rows, refusal_rows, fold_choices, counts)


# --- output ----------------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.3f}"


def render_markdown(cal: Calibration) -> str:
    """The README's calibration section: chosen values, retrieval and refusal tables."""
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
    data = cal.calibration_json()
    lines += ["", "**Committed values** (`assistant/calibration.json`):", "",
              "| setting | value |", "|---|---|"]
    for section in ("retrieval", "refusal"):
        for key, value in data[section].items():
            lines.append(f"| {section}.{key} | {value} |")
    return "\n".join(lines)


def update_readme(readme: Path, block: str) -> None:
    text = readme.read_text(encoding="utf-8")
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f"{readme} saknar markörerna {README_BEGIN!r} … {README_END!r}")
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_BEGIN}\n{block}\n{README_END}{tail}", encoding="utf-8")


def differs(committed: dict[str, Any], chosen: dict[str, Any]) -> list[str]:
    """Settings whose committed value is not what calibration chooses now."""
    out = []
    for section in ("retrieval", "refusal"):
        for key, value in chosen[section].items():
            if committed.get(section, {}).get(key) != value:
                out.append(f"{section}.{key}: {committed.get(section, {}).get(key)!r} → "
                           f"{value!r}")
    return out


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def progress_to_stderr(message: str) -> None:
    print(message, file=sys.stderr)
