"""The eval-suite verbs through the real ``assistant`` entry point: compare and its CI
gate, convert, draft, and ``eval FILE`` with --judge/--html/--concurrency against a real
index and the local OpenAI-compatible server, reproducibility fields, Ctrl-C."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant.cli import main
from assistant.evaluation.harness import run_eval
from tests.cli import test_evaluate
from tests.cli.test_evaluate import EVAL_LINES, write_eval
from tests.evaluation.test_harness import FakeAnswerer, Scripted, make_question
from tests.support.openai_server import OpenAIServer, Reply

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "eval" / "baseline.json"

# The harness tests' tiny real index and CLI environment, shared rather than rebuilt.
real_index = test_evaluate.real_index
cli_env = test_evaluate.cli_env


# --- compare ---------------------------------------------------------------------------------


def test_compare_prints_deltas_with_cis_and_flips(capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:
    out, html = tmp_path / "cmp.json", tmp_path / "cmp.html"
    code = main(["eval", "compare", f"{BASELINE}#bm25", f"{BASELINE}#hybrid",
                 "--out", str(out), "--html", str(html)])
    assert code == 0
    assert "baseline.json#bm25 → baseline.json#hybrid" in html.read_text(encoding="utf-8")
    printed = capsys.readouterr()
    assert "95 % KI" in printed.out and "refusal_accuracy" in printed.out
    assert "Frågor som bytte" in printed.out
    assert "fingeravtryck" not in printed.err  # both runs carry the same corpus fingerprint
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["flips"] and all(f["base"]["answer"] for f in document["flips"])


def test_fail_on_regression_exits_2_on_a_regression_and_0_otherwise(
        capsys: pytest.CaptureFixture[str]) -> None:
    hybrid, bm25 = f"{BASELINE}#hybrid", f"{BASELINE}#bm25"
    # hybrid → bm25 loses refusal accuracy (0.875 → 0.5): a constructed regression
    assert main(["eval", "compare", hybrid, bm25, "--fail-on-regression", "refusal_accuracy"]) == 2
    assert "REGRESSION" in capsys.readouterr().err
    assert main(["eval", "compare", hybrid, bm25,
                 "--fail-on-regression", "refusal_accuracy=0.4"]) == 0
    assert main(["eval", "compare", bm25, hybrid, "--fail-on-regression", "refusal_accuracy",
                 "--fail-on-regression", "hit@1"]) == 0
    assert "Ingen regression" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["compare", "saknas.json", "saknas2.json"], "finns inte"),
    (["compare", str(BASELINE), str(BASELINE), "--fail-on-regression", "hit@9"], "okänd metrik"),
])
def test_compare_problems_exit_1(argv: list[str], message: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", *argv]) == 1
    assert message in capsys.readouterr().err


def test_verb_usage_errors_exit_1_not_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["eval", "compare", str(BASELINE)])
    assert caught.value.code == 1  # 2 is reserved for a regression
    assert "NY.json" in capsys.readouterr().err


# --- convert and draft -----------------------------------------------------------------------


def test_convert_and_draft_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("OPENAI_API_KEY", "ASSISTANT_LLM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    drafts = tmp_path / "drafts.jsonl"
    assert main(["eval", "draft", "--corpus", str(ROOT / "data" / "articles"),
                 "--out", str(drafts)]) == 0
    assert "extraktivt" in capsys.readouterr().err
    assert main(["eval", "convert", str(drafts), str(tmp_path / "d.csv"),
                 "--to", "ragas-csv"]) == 0
    assert main(["eval", "convert", str(tmp_path / "d.csv"), str(tmp_path / "back.jsonl"),
                 "--from", "ragas-csv"]) == 0
    assert [json.loads(line) for line in drafts.read_text().splitlines()] == \
        [json.loads(line) for line in (tmp_path / "back.jsonl").read_text().splitlines()]
    bad = write_eval(tmp_path / "bad.jsonl", [{"id": "x", "question": "Fråga?"}])
    assert main(["eval", "convert", str(bad), str(tmp_path / "o.csv")]) == 1
    err = capsys.readouterr().err
    assert "rad 1, fält 'expected_sources'" in err


# --- eval FILE: judge, html, concurrency, provenance -----------------------------------------


def judging_server(server: OpenAIServer) -> None:
    def reply(body: dict[str, Any]) -> str:
        system = body["messages"][0]["content"]
        if "påståenden" in system:
            return json.dumps({"claims": [{"claim": "x", "supported": True, "passage": 1}],
                               "reason": "Stöds."})
        if "Skala" in system:
            return json.dumps({"score": 4, "reason": "Bra."})
        return "Skolbiblioteket leds av Maja Lindqvist [1]."

    server.default = reply


@pytest.mark.slow
def test_llm_run_with_judge_html_concurrency_and_provenance(
    cli_env: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    openai_server: OpenAIServer,
) -> None:
    judging_server(openai_server)
    openai_server.script(Reply(status=429, headers={"retry-after": "0"}))
    monkeypatch.setenv("ASSISTANT_LLM_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-hemlig-nyckel")
    monkeypatch.setenv("ASSISTANT_LLM_MAX_RETRIES", "0")
    monkeypatch.setenv("ASSISTANT_JUDGE_MODEL", "domare")
    monkeypatch.setenv("ASSISTANT_JUDGE_CACHE_DIR", str(tmp_path / "cache"))
    eval_file = write_eval(tmp_path / "q.jsonl", [
        *EVAL_LINES, {"id": "e5", "question": "Vad kostar en resa till Mars?",
                      "expected_sources": [], "kind": "unanswerable"}])
    out, html = tmp_path / "r.json", tmp_path / "r.html"
    argv = ["eval", str(eval_file), "--mode", "llm", "--judge", "--concurrency", "2",
            "--out", str(out), "--html", str(html), "--quiet"]
    assert main(argv) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    config = report["config"]
    # the 429 cost a retry, not a fallback answer scored as the model's
    assert config["retries"] >= 1
    assert all(q["mode"] == "llm" for q in report["questions"] if not q["refused"])
    assert config["concurrency"] == 2 and config["judge"]["model"] == "domare"
    judged = [q for q in report["questions"] if not q["refused"]]
    assert judged and all(q["metrics"]["faithfulness"] == 1.0 for q in judged)
    assert report["aggregate"]["answer_relevance"] == pytest.approx(0.75)
    assert report["aggregate"]["judge_failures"] == 0
    # reproducibility: commit, answer settings with the key masked, corpus and file hashes
    assert config["git"]["commit"] and len(config["git"]["commit"]) == 40
    assert config["settings"]["openai_api_key"] == "***"
    assert "sk-hemlig-nyckel" not in out.read_text(encoding="utf-8")
    assert config["settings"]["llm_base_url"] == openai_server.base_url
    assert set(config["corpus"]["hashes"]) == {"lund.txt", "kiruna.txt", "malmo.txt",
                                               "metadata.json"}
    assert len(config["eval_file_sha256"]) == 64 and config["finished"] >= config["timestamp"]
    assert "domare" in html.read_text(encoding="utf-8")

    # second run: every verdict comes from the cache, only the answers are asked again
    judge_calls = sum(body["model"] == "domare" for body in openai_server.chat_requests)
    assert judge_calls > 0
    assert main(argv) == 0
    again = sum(body["model"] == "domare" for body in openai_server.chat_requests)
    assert again == judge_calls
    assert json.loads(out.read_text(encoding="utf-8"))["config"]["judge"]["requests"] == 0


@pytest.mark.slow
def test_ctrl_c_writes_a_partial_report(cli_env: dict[str, Path], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.answer import Assistant

    real_ask = Assistant.ask
    calls = {"n": 0}

    def ask(self: Assistant, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_ask(self, *args, **kwargs)

    monkeypatch.setattr(Assistant, "ask", ask)
    eval_file = write_eval(tmp_path / "q.jsonl", EVAL_LINES)
    out = tmp_path / "r.json"
    assert main(["eval", str(eval_file), "--out", str(out), "--min", "hit@1=0.9"]) == 130
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["interrupted"] is True
    assert [q["id"] for q in report["questions"]] == ["e1"]
    assert report["warnings"]["not_run"] == ["e2", "e3"]
    assert "avbrutet" in capsys.readouterr().err


@pytest.mark.parametrize("concurrency", [1, 3])
def test_run_eval_keeps_order_and_stops_cleanly(concurrency: int) -> None:
    questions = [make_question(f"q{i}", f"Fråga {i}?", ["doc1"]) for i in range(6)]
    script = {q.question: Scripted(["doc1"], "Svar [1].") for q in questions}
    report = run_eval(FakeAnswerer(script), questions, k=5, concurrency=concurrency)
    assert [r.question.id for r in report.results] == [q.id for q in questions]
    assert not report.interrupted and report.aggregate["hit@1"] == 1.0
    script["Fråga 2?"] = Scripted(["doc1"], raises=KeyboardInterrupt())  # type: ignore[arg-type]
    stopped = run_eval(FakeAnswerer(script), questions[:3], k=5, concurrency=concurrency)
    assert stopped.interrupted and "q2" in stopped.warnings["not_run"]
    done = [r.question.id for r in stopped.results]
    # in order, without the interrupted one; with threads, q0/q1 may or may not have finished
    assert done == (["q0", "q1"] if concurrency == 1 else [q for q in ("q0", "q1") if q in done])


def test_verbs_route_beside_eval_file(capsys: pytest.CaptureFixture[str],
                                      tmp_path: Path) -> None:
    # global options before the verb still reach it
    assert main(["-v", "eval", "compare", str(BASELINE), str(BASELINE)]) == 0
    capsys.readouterr()
    # a file that happens to be called "compare" is an eval FILE when written as a path
    assert main(["eval", str(tmp_path / "compare")]) == 1
    assert "compare" in capsys.readouterr().err
