"""Calibration: deterministic choices, the never-below-dense rule, replayed refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.answer.confidence import ConfidenceModel
from assistant.answer.policy import Evidence, RefusalPolicy
from assistant.cli.suites import build_verb_parser, is_verb
from assistant.evaluation import calibration as cal
from assistant.evaluation.answerability import L2
from assistant.retrieval.fusion import FusionParams
from assistant.retrieval.hybrid import Candidates, Searcher
from assistant.types import Chunk


def _chunk(doc: str) -> Chunk:
    return Chunk(chunk_id=doc, doc_id=doc, doc_hash="h", ordinal=0, text=f"text of {doc}",
                 start=0, end=10, content_hash=doc, title=doc)


def _ranker() -> Searcher:
    ranker = Searcher.__new__(Searcher)  # rank() needs only the fusion parameters
    ranker.fusion = FusionParams()
    return ranker


def _item(qid: str, expected: str, dense: list[tuple[str, float]],
          lexical: list[tuple[str, float]], suite: str = "own") -> cal.Item:
    found = Candidates(qid, [(_chunk(d), s) for d, s in dense],
                       [(_chunk(d), s) for d, s in lexical], [], "sv")
    return cal.Item(suite, qid, "fact", (expected,), found)


def test_fusion_is_chosen_only_where_it_is_never_below_dense() -> None:
    # q1: words find the answer dense ranks second; q2: words would push a wrong one up.
    items = [
        _item("q1", "b", [("a", 0.90), ("b", 0.895)], [("b", 10.0), ("a", 1.0)]),
        _item("q2", "a", [("a", 0.90), ("c", 0.85)], [("c", 10.0), ("a", 1.0)]),
    ]
    cal.score_retrieval(items, {"own": _ranker()})
    chosen = cal.choose_fusion(items)
    metrics = cal.retrieval_metrics(items, chosen)
    dense = cal.retrieval_metrics(items, cal.DENSE)
    assert all(metrics[m] >= dense[m] for m in dense)
    assert metrics["hit@1"] == 1.0  # 0.01..0.03 lift q1 without sinking q2
    assert chosen.lexical_weight > 0
    assert cal.choose_fusion(items) == chosen  # deterministic


def test_sentence_share_is_chosen_per_language_where_it_helps() -> None:
    # English q1: the answer's best sentence matches, its averaged passage vector
    # ranks second; English q2: the sentence share must not push a wrong one up that far.
    # Swedish q3: a sentence share would sink the answer, so Swedish keeps none.
    def item(qid: str, expected: str, dense: list[tuple[str, float]],
             sentences: dict[str, float], language: str) -> cal.Item:
        found = Candidates(qid, [(_chunk(d), s) for d, s in dense], [], [], language,
                           sentences=sentences)
        return cal.Item("faq", qid, "fact", (expected,), found)

    items = [
        item("q1", "b", [("a", 0.90), ("b", 0.89)], {"a": 0.80, "b": 0.95}, "en"),
        item("q2", "a", [("a", 0.90), ("c", 0.80)], {"a": 0.85, "c": 0.97}, "en"),
        item("q3", "a", [("a", 0.90), ("b", 0.89)], {"a": 0.80, "b": 0.95}, "sv"),
    ]
    cal.score_retrieval(items, {"faq": _ranker()})
    chosen = cal.choose_fusion(items)
    assert cal.retrieval_metrics(items, chosen)["hit@1"] == 1.0
    assert 0.0 < chosen.sentence_weight_en < 0.5
    assert chosen.sentence_weight == 0.0
    assert cal.choose_fusion(items) == chosen


def test_policy_search_refuses_the_unanswerable_within_the_false_refusal_cap() -> None:
    def ev(attr: float) -> Evidence:
        return Evidence(language="sv", best_passage=0.88, best_lexical=0.6,
                        attribute_coverage=attr)

    items = []
    for n in range(20):
        answerable = cal.Item("own", f"a{n}", "fact", ("d",), Candidates("q", [], [], [], "sv"),
                              evidence=ev(0.6 + n / 100), fact=1.0)
        near = cal.Item("own", f"n{n}", "nearmiss", (), Candidates("q", [], [], [], "sv"),
                        evidence=ev(0.1 + n / 100))
        items += [answerable, near]
    start = RefusalPolicy.search_start()
    chosen = cal.choose_policy(items, start)
    metrics = cal.refusal_metrics(items, lambda i: cal._refused(chosen, i))["own"]
    assert metrics["nearmiss_refusal"] == 1.0 and metrics["false_refusal_rate"] == 0.0
    assert chosen.min_attribute_coverage in (0.3, 0.4, 0.5, 0.6)
    assert cal.choose_policy(items, start) == chosen


def test_folds_keep_a_faq_question_and_its_leave_out_version_together() -> None:
    empty = Candidates("q", [], [], [], "sv")
    a = cal.Item("faq-sv", "rut-001", "faq-sv", ("rut-001.txt",), empty)
    b = cal.Item("leaveout", "lo-rut-001", "leaveout", (), empty)
    assert a.fold == b.fold


def test_doc_block_is_replaced_between_markers(tmp_path: Path) -> None:
    doc = tmp_path / "evaluation.md"
    doc.write_text(f"intro\n{cal.DOC_BEGIN}\nold\n{cal.DOC_END}\noutro\n", "utf-8")
    cal.update_doc(doc, "new table")
    assert doc.read_text("utf-8") == \
        f"intro\n{cal.DOC_BEGIN}\nnew table\n{cal.DOC_END}\noutro\n"
    bare = tmp_path / "bare.md"
    bare.write_text("no markers\n", "utf-8")
    with pytest.raises(ValueError, match="markörerna"):
        cal.update_doc(bare, "new table")


def test_write_keeps_the_hand_set_sections_and_writes_off_as_null() -> None:
    result = cal.Calibration(FusionParams(), RefusalPolicy(max_slot_gap=None),
                             RefusalPolicy.search_start(), {}, {}, [], {})
    committed = {"source": "old", "retrieval": {}, "refusal": {},
                 "extractive": {"margin": 0.08}}
    merged = result.merged_into(committed)
    assert merged["extractive"] == {"margin": 0.08}
    assert merged["refusal"]["max_slot_gap"] is None
    assert list(merged) == list(committed)  # the file keeps its order
    assert cal.differs(merged, result.calibration_json()) == []
    assert cal.differs(committed, result.calibration_json())


def test_eval_calibrate_is_a_verb_of_eval() -> None:
    assert is_verb(["eval", "calibrate", "--check"])
    assert not is_verb(["eval", "calibrate.jsonl"])
    args = build_verb_parser().parse_args(["eval", "calibrate", "--check"])
    assert args.verb == "calibrate" and args.check and not args.write and args.doc is None
    args = build_verb_parser().parse_args(["eval", "calibrate", "--doc"])
    assert args.doc == Path("docs/evaluation.md")
    args = build_verb_parser().parse_args(["eval", "calibrate", "--doc", "x.md"])
    assert args.doc == Path("x.md")


class _Kit:
    """The answer stage's model, as the command hands it in."""

    def features(self, evidence: Evidence) -> list[float]:
        from assistant.answer.confidence import feature_vector

        return [float(v) for v in feature_vector(evidence)]

    def fit(self, rows: np.ndarray, answerable: np.ndarray) -> ConfidenceModel:
        from assistant.answer.confidence import fit

        return fit(rows, answerable, L2)


def _two_corpora() -> list[cal.Item]:
    """Two corpora whose cosine levels differ (own ~0.86, faq ~0.80): what separates the
    answerable questions in both is how far the best passage stands above the second."""
    rng = np.random.default_rng(3)
    items = []
    for corpus, suite, level in (("own", "own", 0.86), ("faq", "faq-sv", 0.80)):
        for n in range(60):
            answerable = n % 2 == 0
            best = level + rng.normal(0, 0.01)
            gap = (0.05 if answerable else 0.005) + abs(rng.normal(0, 0.01))
            ev = Evidence(language="sv", best_passage=best, best_lexical=0.5,
                          second_passage=best - gap, pool_mean=best - 2 * gap)
            items.append(cal.Item(suite, f"{corpus}-{n}", "fact" if answerable else "nearmiss",
                                  ("d",) if answerable else (), Candidates("q", [], [], [], "sv"),
                                  evidence=ev, fact=1.0 if answerable else float("nan"),
                                  corpus=corpus))
    return items


def test_confidence_is_chosen_out_of_fold_and_transfers_across_corpora() -> None:
    items = _two_corpora()
    rankers = {"own": _ranker(), "faq-sv": _ranker()}
    start = RefusalPolicy.search_start().with_values(min_evidence=0.0)  # only the model
    result = cal.calibrate(items, rankers, start, lambda _fusion: None, _Kit())
    assert result.confidence is not None
    rows = result.confidence.rows
    assert set(rows) == {"own", "faq"}
    for corpus in ("own", "faq"):
        oof, loco, ref = (rows[corpus][v] for v in ("out-of-fold", "leave-corpus-out",
                                                     "best_passage"))
        assert oof["auroc"] is not None and oof["auroc"] > 0.9
        assert loco["auroc"] is not None and ref["auroc"] is not None
        assert loco["auroc"] > ref["auroc"] + 0.2  # the gap transfers, the level does not
        assert oof["refusal"] is not None and oof["refusal"] > 0.8
        assert oof["false_refusal"] is not None and oof["false_refusal"] <= 0.05
    threshold = result.policy.thresholds()["min_confidence"]
    assert isinstance(threshold, float) and 0 < threshold < 1
    written = result.calibration_json()
    assert written["refusal"]["min_confidence"] == threshold
    assert written["confidence"]["features"][0] == "best_passage"
    again = cal.calibrate(items, rankers, start, lambda _fusion: None, _Kit())
    assert cal.differs(written, again.calibration_json()) == []  # deterministic
