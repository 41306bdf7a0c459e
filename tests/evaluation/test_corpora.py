"""Per-corpus eval indexes: fingerprint follows content, settings point at their own index."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.evaluation.corpora import CORPORA_DIR, corpus_fingerprint, corpus_settings


def _corpus(tmp_path: Path) -> Path:
    root = tmp_path / "faq" / "corpus"
    root.mkdir(parents=True)
    (root / "a.txt").write_text("Svar A.", encoding="utf-8")
    (root / "b.txt").write_text("Svar B.", encoding="utf-8")
    (root / ".hidden").write_text("ignored", encoding="utf-8")
    return root


def test_fingerprint_changes_with_content_and_names_only(tmp_path: Path) -> None:
    root = _corpus(tmp_path)
    first = corpus_fingerprint(root)
    assert corpus_fingerprint(root) == first
    (root / ".hidden").write_text("still ignored", encoding="utf-8")
    assert corpus_fingerprint(root) == first
    (root / "b.txt").write_text("Svar B, ändrat.", encoding="utf-8")
    assert corpus_fingerprint(root) != first
    assert corpus_fingerprint(root, "other recipe") != corpus_fingerprint(root)


def test_corpus_settings_use_a_fingerprinted_index_under_the_index_dir(tmp_path: Path) -> None:
    root = _corpus(tmp_path)
    base = Settings(index_dir=tmp_path / "index", _env_file=None)
    settings = corpus_settings(base, root)
    assert settings.corpus_dir == root
    assert settings.index_dir.parent == tmp_path / "index" / CORPORA_DIR
    assert settings.index_dir.name.startswith("faq-corpus-")
    assert settings.collection == base.collection  # embedded: the folder is the key
    served = corpus_settings(base.model_copy(update={"chroma_url": "http://127.0.0.1:1"}), root)
    assert served.collection.startswith(f"{base.collection}-")
    other_model = corpus_settings(base.model_copy(update={"chunk_tokens": 200}), root)
    assert other_model.index_dir != settings.index_dir


def test_missing_corpus_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="--corpus"):
        corpus_fingerprint(tmp_path / "nope")
