"""``assistant eval compare``: paired deltas with bootstrap CIs, flips, and the regression gate."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from assistant.evaluation.compare import (
    ReportError,
    bootstrap_ci,
    compare_reports,
    find_regressions,
    load_run,
    parse_regression,
    render_comparison,
)

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "eval" / "baseline.json"


def question(qid: str, hit: float, facts: float | None, answer: str = "svar [1]",
             failures: list[str] | None = None, total: float = 10.0) -> dict[str, Any]:
    return {"id": qid, "question": f"fråga {qid}?", "answer": answer,
            "metrics": {"hit@1": hit, "fact_coverage": facts, "false_refusal_rate": 0.0},
            "timings_ms": {"total": total}, "failures": failures or []}


def report(questions: list[dict[str, Any]], name: str = "hybrid",
           corpus: str = "abc") -> dict[str, Any]:
    return {"report_version": 1, "config": {"name": name, "retriever": name, "k": 5,
                                            "mode": "extractive", "corpus": {"sha256": corpus}},
            "aggregate": {}, "questions": questions}


def write(path: Path, document: dict[str, Any]) -> str:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_bootstrap_ci_brackets_the_mean_and_is_reproducible() -> None:
    diffs = [0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    low, high = bootstrap_ci(diffs)
    assert low < sum(diffs) / len(diffs) < high
    assert (low, high) == bootstrap_ci(diffs)  # seeded: same input, same interval
    assert bootstrap_ci([0.25]) == (0.25, 0.25)
    assert bootstrap_ci([0.0] * 10) == (0.0, 0.0)


def test_paired_delta_flips_and_undefined_values() -> None:
    base = report([question("a", 1.0, 1.0), question("b", 1.0, None),
                   question("c", 0.0, 0.5, answer="gammalt", failures=["saknar 1 av 2 fakta"]),
                   question("d", 1.0, 1.0, answer="bra [1]")])
    new = report([question("a", 1.0, 1.0), question("b", 0.0, None),
                  question("c", 1.0, 1.0, answer="nytt [1]"),
                  question("d", 0.0, 0.0, answer="dåligt", failures=["ingen förväntad källa"]),
                  question("e", 1.0, 1.0)], name="dense")
    comparison = compare_reports(("bas", base), ("ny", new))
    hit = comparison.metric("hit@1")
    assert hit is not None and hit.n == 4
    assert hit.base == pytest.approx(0.75) and hit.new == pytest.approx(0.5)
    assert hit.delta == pytest.approx(-0.25)
    assert hit.ci_low <= -0.25 <= hit.ci_high
    facts = comparison.metric("fact_coverage")
    assert facts is not None and facts.n == 3  # b has no facts in either run: skipped, not 0
    assert comparison.only_new == ["e"] and comparison.only_base == []
    flips = {f.id: f for f in comparison.flips}
    assert flips["d"].direction == "pass→fail" and flips["c"].direction == "fail→pass"
    assert flips["d"].base_answer == "bra [1]" and flips["d"].new_answer == "dåligt"
    assert [f.id for f in comparison.flips] == ["d", "c"]  # regressions first
    text = render_comparison(comparison)
    assert "hit@1" in text and "-0.250" in text and "d (pass→fail)" in text and "dåligt" in text


def test_fail_on_regression_respects_tolerance_and_direction() -> None:
    base = report([question(q, 1.0, 1.0, total=10) for q in "abcd"])
    worse = copy.deepcopy(base)
    worse["questions"][0]["metrics"]["hit@1"] = 0.0
    worse["questions"][0]["metrics"]["false_refusal_rate"] = 1.0
    comparison = compare_reports(("bas", base), ("ny", worse))
    assert [r.metric for r in find_regressions(comparison, [("hit@1", 0.0)])] == ["hit@1"]
    assert find_regressions(comparison, [("hit@1", 0.25)]) == []  # within tolerance
    assert find_regressions(comparison, [("hit@1", 0.3)]) == []
    # lower is better for the false-refusal rate: it went up, so it regressed
    assert find_regressions(comparison, [("false_refusal_rate", 0.1)])
    improved = compare_reports(("bas", worse), ("ny", base))
    assert find_regressions(improved, [("hit@1", 0.0), ("false_refusal_rate", 0.0)]) == []
    missing = find_regressions(comparison, [("faithfulness", 0.0)])
    assert missing and missing[0].delta is None  # never measured: fails, never passes silently


@pytest.mark.parametrize("text, message", [
    ("hit@2", "okänd metrik"), ("hit@1=abc", "inget tal"), ("hit@1=-0.1", "≥ 0"),
])
def test_parse_regression_rejects_bad_rules(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_regression(text)
    assert parse_regression("fact_coverage=0.02") == ("fact_coverage", 0.02)
    assert parse_regression("hit@1") == ("hit@1", 0.0)


def test_load_run_picks_a_run_from_a_compare_document() -> None:
    label, run = load_run(f"{BASELINE}#dense")
    assert label == "baseline.json#dense" and run["config"]["name"] == "dense"
    _, first = load_run(str(BASELINE))
    assert first["config"]["name"] == "hybrid"
    with pytest.raises(ReportError, match="ingen körning heter 'nope'"):
        load_run(f"{BASELINE}#nope")


def test_load_run_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="finns inte"):
        load_run(str(tmp_path / "saknas.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(ReportError, match="bad.json är inte giltig JSON"):
        load_run(str(bad))
    with pytest.raises(ReportError, match="saknar 'questions'"):
        load_run(write(tmp_path / "x.json", {"config": {}}))


def test_committed_reports_compare_hybrid_against_bm25() -> None:
    # bm25, not dense: dense and hybrid now agree on every question's pass or fail
    comparison = compare_reports(load_run(f"{BASELINE}#bm25"), load_run(f"{BASELINE}#hybrid"))
    names = [m.name for m in comparison.metrics]
    assert {"hit@1", "mrr", "refusal_accuracy", "total_ms"} <= set(names)
    refusal = comparison.metric("refusal_accuracy")
    # 68 unanswerable questions (8 unanswerable + 60 near-miss) in the committed set.
    assert refusal is not None and refusal.n == 68
    committed = {r["config"]["name"]: r["aggregate"] for r in
                 json.loads(BASELINE.read_text(encoding="utf-8"))["runs"]}
    assert refusal.new == pytest.approx(committed["hybrid"]["refusal_accuracy"])
    assert refusal.base == pytest.approx(committed["bm25"]["refusal_accuracy"])
    assert comparison.flips  # the committed runs differ on some questions
    # both runs carry the same corpus fingerprint: nothing to warn about
    assert not comparison.warnings


def test_a_report_without_a_corpus_fingerprint_warns() -> None:
    """Reports made before fingerprints existed: the reader is told the corpus is unchecked."""
    old = report([question("a", 1.0, 1.0)])
    del old["config"]["corpus"]
    warnings = compare_reports(("old", old), ("new", report([question("a", 1.0, 1.0)]))).warnings
    assert any("fingeravtryck" in w for w in warnings)


def test_different_corpora_warn(tmp_path: Path) -> None:
    a = report([question("a", 1.0, 1.0)], corpus="aaa")
    b = report([question("a", 1.0, 1.0)], corpus="bbb")
    warnings = compare_reports(("a", a), ("b", b)).warnings
    assert any("korpusen skiljer sig" in w for w in warnings)
    assert not compare_reports(("a", a), ("b", a)).warnings


def test_abstention_of_both_runs_side_by_side_on_the_shared_questions() -> None:
    """Both runs' AUROC of confidence and of the best_passage reference, from the
    questions, over the questions both runs answered."""
    base, new = load_run(f"{BASELINE}#dense"), load_run(f"{BASELINE}#hybrid")
    new[1]["questions"] = new[1]["questions"][:-1]  # one question only in the base
    comparison = compare_reports(base, new)
    assert comparison.abstention is not None
    before, after = comparison.abstention
    assert before.n == after.n == len(new[1]["questions"])
    assert before.confidence.auroc is not None and after.confidence.auroc is not None
    assert before.reference.auroc is not None and after.reference.auroc is not None
    assert after.confidence.auroc > after.reference.auroc  # the model beats one cosine
    assert 0.5 < after.reference.auroc < 1.0
    data = comparison.as_dict()["abstention"]
    assert data["new"]["scores"][1]["auroc"] == after.reference.auroc
    json.dumps(data, allow_nan=False)
    text = render_comparison(comparison)
    assert f"Avstående på de {after.n} gemensamma frågorna" in text
    row = next(line for line in text.splitlines() if line.startswith("AUROC best_passage"))
    assert f"{before.reference.auroc:.3f}" in row and f"{after.reference.auroc:.3f}" in row


def test_reports_without_any_score_print_no_abstention() -> None:
    comparison = compare_reports(("a", report([question("a", 1.0, 1.0)])),
                                 ("b", report([question("a", 1.0, 1.0)])))
    assert comparison.abstention is not None
    assert "Avstående" not in render_comparison(comparison)
