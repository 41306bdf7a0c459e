"""LLM judge metrics end to end: the real ``openai`` client over HTTP to the local
OpenAI-compatible test server, a disk cache that makes the second run free, repeats
with a spread, and failures that are counted instead of scored."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from assistant.evaluation.judge import REFUSED, Judge, JudgeConfig, apply_judge
from assistant.evaluation.running import RetryPolicy
from tests.evaluation.test_harness import sample_run
from tests.support.openai_server import OpenAIServer, Reply, start_openai_server


class ScriptedJudge:
    """Answers like a judge model, by which prompt it was sent; ratings cycle per call so
    repeated questions get different verdicts (a spread to measure)."""

    def __init__(self) -> None:
        self.ratings = itertools.cycle([5, 3])

    def __call__(self, body: dict[str, Any]) -> str:
        system = body["messages"][0]["content"]
        user = body["messages"][-1]["content"]
        if "påståenden" in system:
            supported = "[1] doc1\npassage 1 of doc1" in user  # the cited passage was sent
            return "```json\n" + json.dumps({"claims": [
                {"claim": "Anna är rektor.", "supported": supported, "passage": 1},
                {"claim": "Skolan ligger i Mars.", "supported": False, "passage": None},
            ], "reason": "Ett av två påståenden stöds."}, ensure_ascii=False) + "\n```"
        return json.dumps({"score": next(self.ratings), "reason": "Bedömt."})


def judge_for(server: OpenAIServer, cache: Path | None, repeats: int = 1) -> Judge:
    config = JudgeConfig(model="domare-1", base_url=server.base_url, api_key="test",
                         cache_dir=cache, repeats=repeats)
    return Judge(config, retry=RetryPolicy(attempts=3, sleep=lambda _: None))


def judged_run(judge: Judge) -> dict[str, Any]:
    report = sample_run()
    apply_judge(report, judge)
    return report.to_dict()


def test_judge_scores_claims_and_second_run_hits_the_cache(tmp_path: Path) -> None:
    with start_openai_server(ScriptedJudge()) as server:
        first = judged_run(judge_for(server, tmp_path / "cache"))
        calls = len(server.chat_requests)
        # a, b are answered: faithfulness + relevance each; nobody has a reference answer
        assert calls == 4
        assert {body["model"] for body in server.chat_requests} == {"domare-1"}
        again = judged_run(judge_for(server, tmp_path / "cache"))
        assert len(server.chat_requests) == calls  # every verdict came from the cache
    questions = {q["id"]: q for q in first["questions"]}
    faith = questions["a"]["judge"]["metrics"]["faithfulness"]
    assert faith["score"] == 0.5 and [c["supported"] for c in faith["claims"]] == [True, False]
    assert questions["a"]["metrics"]["faithfulness"] == 0.5
    assert questions["a"]["judge"]["metrics"]["answer_correctness"]["skipped"]
    # refused questions are left to the refusal metrics: no score, no request, a reason
    for qid in ("c", "d"):
        block = questions[qid]["judge"]["metrics"]["faithfulness"]
        assert block["score"] is None and block["skipped"] == REFUSED
        assert questions[qid]["metrics"]["faithfulness"] is None
    assert first["aggregate"]["faithfulness"] == pytest.approx(0.5)  # a and b: 1 of 2
    assert first["aggregate"]["faithfulness_n"] == 2
    assert first["aggregate"]["answer_correctness"] is None
    assert first["config"]["judge"]["model"] == "domare-1"
    assert first["config"]["judge"]["requests"] == 4
    assert again["config"]["judge"]["requests"] == 0
    assert again["aggregate"]["faithfulness"] == first["aggregate"]["faithfulness"]


def test_repeats_report_mean_and_spread(tmp_path: Path) -> None:
    with start_openai_server(ScriptedJudge()) as server:
        report = judged_run(judge_for(server, tmp_path / "cache", repeats=2))
        assert len(server.chat_requests) == 8  # two questions × two metrics × two repeats
    relevance = report["questions"][0]["judge"]["metrics"]["answer_relevance"]
    assert sorted(relevance["scores"]) == [0.5, 1.0]
    assert relevance["score"] == 0.75 and relevance["spread"] == 0.25
    assert report["aggregate"]["answer_relevance"] == pytest.approx(0.75)
    assert report["aggregate"]["answer_relevance_spread"] is not None
    assert report["aggregate"]["by_kind"]["fact"]["answer_relevance"] == pytest.approx(0.75)


def test_failures_are_counted_not_scored(tmp_path: Path) -> None:
    with start_openai_server(ScriptedJudge()) as server:
        # a's faithfulness: 429 then a 500 then an unreadable reply; retries exhausted → error
        server.script(Reply(status=429, headers={"retry-after": "0"}),
                      Reply(status=500), Reply(status=500),
                      "det här är ingen JSON")
        report = judged_run(judge_for(server, tmp_path / "cache"))
    questions = {q["id"]: q for q in report["questions"]}
    faith_a = questions["a"]["judge"]["metrics"]["faithfulness"]
    assert faith_a["score"] is None and faith_a["failures"] == 1
    assert faith_a["scores"] == [None]  # the failed repeat keeps its slot, without a score
    assert faith_a["errors"] == ["Domarens tjänst har ett fel (HTTP 500)."]
    relevance_a = questions["a"]["judge"]["metrics"]["answer_relevance"]
    assert relevance_a["failures"] == 1 and "ingen JSON" in relevance_a["errors"][0]
    assert report["aggregate"]["judge_failures"] == 2
    assert report["aggregate"]["faithfulness_n"] == 1  # only b was scored; a's failure is no 0
    assert report["config"]["judge"]["retries"] == 2
    # a failed verdict is not cached: the next run asks again
    with start_openai_server(ScriptedJudge()) as server:
        judged_run(judge_for(server, tmp_path / "cache"))
        assert len(server.chat_requests) == 2


def test_config_falls_back_to_the_llm_settings(tmp_path: Path) -> None:
    settings = Settings(llm_base_url="http://127.0.0.1:9/v1", llm_model="chat-m",
                        judge_cache_dir=tmp_path)
    config = JudgeConfig.from_settings(settings, repeats=3)
    assert (config.model, config.base_url, config.repeats) == ("chat-m", settings.llm_base_url, 3)
    own = Settings(llm_base_url="http://127.0.0.1:9/v1", judge_model="j",
                   judge_base_url="http://127.0.0.1:8/v1")
    assert JudgeConfig.from_settings(own).base_url == "http://127.0.0.1:8/v1"
    assert "api_key" not in JudgeConfig.from_settings(own).describe()
    with pytest.raises(ValueError, match="ASSISTANT_JUDGE_BASE_URL"):
        JudgeConfig.from_settings(Settings(llm="extractive", openai_api_key=None))
