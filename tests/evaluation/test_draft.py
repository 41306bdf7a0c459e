"""Drafting eval lines from the sample corpus: offline extractive drafts, LLM drafts over
the real ``openai`` client, and near-miss unanswerable drafts; all valid eval lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from assistant.evaluation.dataset import load_eval_file
from assistant.evaluation.draft import (
    NEAR_MISSES,
    draft_corpus,
    load_articles,
    write_drafts,
)
from assistant.evaluation.metrics import normalise
from tests.support.openai_server import Reply, start_openai_server

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "data" / "articles"


@pytest.fixture(scope="module")
def articles() -> list[Any]:
    found, skipped = load_articles(CORPUS, Settings(llm="extractive"))
    assert len(found) == 5 and not skipped
    return found


def test_offline_drafts_are_valid_lines_backed_by_their_sentence(articles: list[Any],
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "drafts.jsonl"
    count, errors = write_drafts(out, draft_corpus(articles, Settings(llm="extractive")))
    questions, problems = load_eval_file(out)
    assert not errors and not problems and len(questions) == count
    texts = {a.doc_id: normalise(a.text) for a in articles}
    answerable = [q for q in questions if q.expected_sources]
    near = [q for q in questions if not q.expected_sources]
    assert answerable and near
    for q in answerable:
        assert q.extra["needs_review"] is True and q.extra["draft_method"] == "extractive"
        assert q.expected_sources == (q.extra["source_doc"],)
        sentence = normalise(q.extra["supporting_sentence"])
        assert sentence in texts[q.extra["source_doc"]]
        assert all(normalise(group[0]) in sentence for group in q.must_mention)
    by_question = {q.question: q for q in answerable}
    hartikainen = by_question["Vem är chef för Barn- och utbildningsförvaltningen i Söderhamn?"]
    assert hartikainen.must_mention == (("Tomas Hartikainen", "Hartikainen"),)


def test_near_misses_ask_about_what_the_article_lacks(articles: list[Any],
                                                      tmp_path: Path) -> None:
    out = tmp_path / "drafts.jsonl"
    write_drafts(out, draft_corpus(articles, Settings(llm="extractive")))
    patterns = {attribute: pattern for _, pattern, attribute in NEAR_MISSES}
    texts = {a.doc_id: a.text for a in articles}
    near = [q for q in load_eval_file(out)[0] if not q.expected_sources]
    assert len(near) == 2 * len(articles)
    for q in near:
        assert q.kind == "unanswerable" and q.extra["needs_review"] is True
        article = texts[q.extra["near_miss_of"]]
        assert not patterns[q.extra["missing_attribute"]].search(article)
    # Söderhamn's article names an amount in kronor, so it never gets the cost question
    soderhamn = [q.question for q in near if q.extra["near_miss_of"].startswith("003_")]
    assert soderhamn and not any("kostade" in text for text in soderhamn)


def test_llm_drafts_go_through_the_endpoint_and_quotes_are_checked(articles: list[Any],
                                                                   tmp_path: Path) -> None:
    def reply(body: dict[str, Any]) -> str:
        user = body["messages"][-1]["content"]
        real = next(line for line in user.splitlines()[2:] if len(line.split()) > 6)
        sentence = real.split(". ")[0].strip()
        return json.dumps({"questions": [
            {"question": "Vad handlar artikeln om?", "answer": "Om skolan.",
             "supporting_sentence": sentence, "must_mention": [sentence.split()[0], "påhittat"]},
            {"question": "Påhittad fråga?", "answer": "x",
             "supporting_sentence": "Den här meningen finns inte i artikeln.",
             "must_mention": []},
        ]}, ensure_ascii=False)

    with start_openai_server(reply) as server:
        server.script(Reply(status=429, headers={"retry-after": "0"}))
        settings = Settings(llm_base_url=server.base_url, llm_model="utkast-m",
                            openai_api_key="test")
        out = tmp_path / "drafts.jsonl"
        count, errors = write_drafts(out, draft_corpus(articles, settings, concurrency=2))
        assert len(server.chat_requests) == len(articles) + 1  # one retry after the 429
        assert {body["model"] for body in server.chat_requests} == {"utkast-m"}
    questions, problems = load_eval_file(out)
    assert not errors and not problems and len(questions) == count
    drafted = [q for q in questions if q.extra.get("draft_method") == "llm"]
    assert len(drafted) == 2 * len(articles)
    assert sorted({q.extra["verified"] for q in drafted}) == [False, True]
    for q in drafted:
        assert all("påhittat" not in group for group in q.must_mention)
