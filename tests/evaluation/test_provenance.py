"""What a report records to be reproducible: corpus fingerprint, git state, masked settings."""

from __future__ import annotations

from pathlib import Path

from assistant.config import Settings
from assistant.evaluation.provenance import (
    answer_settings,
    corpus_fingerprint,
    git_info,
    provenance,
)


def test_corpus_fingerprint_changes_with_any_article(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Första artikeln.", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("Andra.", encoding="utf-8")
    (tmp_path / ".hidden").write_text("ignoreras", encoding="utf-8")
    first = corpus_fingerprint(tmp_path)
    assert set(first["hashes"]) == {"a.txt", "sub/b.txt"} and first["files"] == 2
    assert corpus_fingerprint(tmp_path)["sha256"] == first["sha256"]
    (tmp_path / "sub" / "b.txt").write_text("Andra, ändrad.", encoding="utf-8")
    assert corpus_fingerprint(tmp_path)["sha256"] != first["sha256"]
    assert corpus_fingerprint(tmp_path / "saknas")["sha256"] is None


def test_git_info_inside_and_outside_a_repository(tmp_path: Path) -> None:
    inside = git_info()
    assert inside["commit"] and len(inside["commit"]) == 40
    assert isinstance(inside["dirty"], bool)
    assert git_info(tmp_path) == {"commit": None, "branch": None, "dirty": None}


def test_settings_are_the_answer_affecting_ones_with_secrets_masked(tmp_path: Path) -> None:
    settings = Settings(openai_api_key="sk-hemlig", llm_base_url="http://127.0.0.1:1/v1",
                        api_keys="a,b", k=7, corpus_dir=tmp_path)
    recorded = answer_settings(settings)
    assert recorded["openai_api_key"] == "***" and recorded["k"] == 7
    assert "api_keys" not in recorded and "port" not in recorded  # web settings don't matter
    eval_file = tmp_path / "q.jsonl"
    eval_file.write_text("{}\n", encoding="utf-8")
    record = provenance(settings, eval_file)
    assert "sk-hemlig" not in str(record)
    assert len(record["eval_file_sha256"]) == 64
