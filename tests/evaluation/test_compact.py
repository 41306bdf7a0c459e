"""Compact reports (committed baselines): small, lossless for what compare, the gate and
the HTML page read, and readable back into the report shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant.cli import main
from assistant.evaluation import compact
from assistant.evaluation.compare import compare_reports, load_run
from assistant.evaluation.harness import compare_document
from tests.evaluation.test_harness import sample_run

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = [ROOT / "eval" / "baseline.json",
             *sorted((ROOT / "eval" / "faq-dev").glob("baseline-*.json"))]


def full_document() -> dict[str, Any]:
    """Two runs as ``assistant eval --compare … --out`` writes them: an answering run and
    a retrieval-only one (whose "answer" is its passages' text)."""
    answering = sample_run()
    retrieval_only = sample_run(generates_answers=False)
    retrieval_only.name = retrieval_only.config["name"] = "baseline"
    for result in retrieval_only.results:  # the tutorial baseline answers with passages
        assert result.answer is not None
        result.answer.answer = "\n\n".join(s.text for s in result.answer.sources)
        result.outcome = type(result.outcome)(**{**result.outcome.__dict__,
                                                 "answer": result.answer.answer})
    document = json.loads(json.dumps(compare_document([answering, retrieval_only])))
    document["compare"][0]["config"]["corpus"] = {"files": 2, "sha256": "abc",
                                                  "hashes": {"a": "1", "b": "2"}}
    return document


def test_committed_baselines_are_compact_and_small_together() -> None:
    assert len(COMMITTED) == 4
    for path in COMMITTED:
        assert compact.is_compact(json.loads(path.read_text(encoding="utf-8"))), path
    assert sum(path.stat().st_size for path in COMMITTED) < 2_000_000


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_committed_baselines_round_trip(path: Path) -> None:
    """Expanding and compacting again gives the file back, byte for byte."""
    text = path.read_text(encoding="utf-8")
    assert compact.dumps(compact.expand(json.loads(text))) == text


def test_compact_keeps_what_compare_needs_and_drops_the_text(tmp_path: Path) -> None:
    document = full_document()
    full, small = tmp_path / "full.json", tmp_path / "small.json"
    full.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    compact.write(small, document)
    text = small.read_text(encoding="utf-8")
    assert "passage 1 of doc1" not in text and '"hashes"' not in text
    assert small.stat().st_size < full.stat().st_size / 2
    for name in ("hybrid", "baseline"):
        reference = compare_reports(load_run(f"{full}#{name}"), load_run(f"{full}#{name}"))
        mixed = compare_reports(load_run(f"{full}#{name}"), load_run(f"{small}#{name}"))
        assert [m.as_dict() for m in mixed.metrics] == [m.as_dict() for m in reference.metrics]
        assert mixed.flips == [] and mixed.warnings == reference.warnings
    # every field the readers use survives, passages by id
    _, run = load_run(f"{small}#hybrid")
    original = {q["id"]: q for q in document["compare"][0]["questions"]}
    for entry in run["questions"]:
        before = original[entry["id"]]
        for key in ("question", "kind", "expected_sources", "retrieved_sources", "answer",
                    "refused", "citations", "cited_sources", "met_groups", "missing_groups",
                    "metrics", "timings_ms", "failures", "refusal", "mode", "must_mention"):
            assert entry[key] == before[key], (entry["id"], key)
        assert [(s["n"], s["id"], s["chunk_id"]) for s in entry["sources"]] == [
            (s["n"], s["id"], s["chunk_id"]) for s in before["sources"]]
    # a retrieval-only run's passage text is no answer: dropped, and the run says so
    _, baseline = load_run(f"{small}#baseline")
    assert baseline["answers"] == "passages"
    assert {q["answer"] for q in baseline["questions"]} == {""}
    assert [q["metrics"] for q in baseline["questions"]] == [
        q["metrics"] for q in document["compare"][1]["questions"]]


def test_compact_round_trips() -> None:
    small = compact.compact(full_document())
    assert compact.compact(compact.expand(small)) == small
    assert compact.compact(small) == small  # compacting a compact document changes nothing
    assert json.loads(compact.dumps(small)) == small


def test_confidence_outcome_and_the_new_metrics_survive_compacting() -> None:
    """Issue 19's per-question fields: ``confidence`` kept, ``outcome`` written only where
    ``refused`` does not imply it (a hedge), the new metrics with the others."""
    document = full_document()
    run = document["compare"][0]
    labels = {"a": ("answer", 0.91), "b": ("hedged", 0.42), "c": ("refused", 0.05),
              "d": ("refused", None)}
    for entry in run["questions"]:
        entry["outcome"], entry["confidence"] = labels[entry["id"]]
        entry["refused"] = entry["refused"] or entry["outcome"] == "hedged"
    small = compact.compact(document)
    first = small["runs"][0]
    assert first["outcomes"] == "derived" and "outcomes" not in small["runs"][1]
    lines = {r["id"]: r for r in first["results"]}
    assert [lines[q].get("outcome") for q in "abcd"] == [None, "hedged", None, None]
    assert [lines[q].get("confidence") for q in "abcd"] == [0.91, 0.42, 0.05, None]
    assert {"lead_fact", "lead_source", "answer_chars", "hedge_rate"} <= set(first["metrics"])
    expanded = compact.expand(small)["compare"]
    for before, after in zip(run["questions"], expanded[0]["questions"], strict=True):
        for key in ("outcome", "confidence", "refused", "metrics"):
            assert after[key] == before[key], (before["id"], key)
    assert {q["outcome"] for q in expanded[1]["questions"]} == {None}  # never recorded
    assert compact.compact(compact.expand(small)) == small
    assert json.loads(compact.dumps(small)) == small


def test_the_compact_verb_writes_a_baseline_compare_reads(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str],
                                                         ) -> None:
    full, small = tmp_path / "full.json", tmp_path / "small.json"
    full.write_text(json.dumps(full_document()), encoding="utf-8")
    assert main(["eval", "compact", str(full), str(small)]) == 0
    assert "2 körning(ar), 4 frågor" in capsys.readouterr().err
    assert compact.is_compact(json.loads(small.read_text(encoding="utf-8")))
    code = main(["eval", "compare", f"{small}#hybrid", f"{full}#hybrid",
                 "--fail-on-regression", "hit@1", "--fail-on-regression", "false_refusal_rate"])
    assert code == 0
    assert main(["eval", "compact", str(tmp_path / "saknas.json"), str(small)]) == 1
