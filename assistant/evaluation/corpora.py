"""An index per eval corpus: ``assistant eval FILE --corpus DIR`` without touching the main index.

A suite that brings its own documents (the FAQ dev suites) is evaluated against an
index of exactly those documents. That index lives under the index dir, in
``corpora/<name>-<fingerprint>``, where the fingerprint covers the corpus files'
paths and contents and everything that shapes the index (the ingest recipe and the
embedding model). A changed corpus or recipe gets a new folder, so a stale index is
never read; an unchanged one is reused, and a missing one is built (incrementally:
an interrupted build resumes). With a Chroma server (``ASSISTANT_CHROMA_URL``) the
collection name carries the fingerprint instead.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.config import Settings

__all__ = ["CORPORA_DIR", "corpus_fingerprint", "corpus_settings"]

CORPORA_DIR = "corpora"
_FINGERPRINT_CHARS = 12


def corpus_fingerprint(corpus_dir: Path, extra: str = "") -> str:
    """Hash of every file's relative path and bytes (hidden files skipped), plus ``extra``."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise FileNotFoundError(
            f"Hittar inte korpusmappen {corpus_dir}; ange en mapp med dokument till --corpus"
        )
    digest = hashlib.sha256(extra.encode("utf-8"))
    for path in sorted(p for p in corpus_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(corpus_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue
        digest.update(relative.as_posix().encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:_FINGERPRINT_CHARS]


def _slug(corpus_dir: Path) -> str:
    resolved = Path(corpus_dir).resolve()
    name = resolved.name if resolved.name not in ("corpus", "articles", "") else \
        f"{resolved.parent.name}-{resolved.name}"
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:40] or "corpus"


def corpus_settings(settings: Settings, corpus_dir: Path) -> Settings:
    """Settings that point at ``corpus_dir`` and its own fingerprinted index.

    The fingerprint includes the embedding backend and model and the chunking
    knobs, so switching any of them builds a separate index rather than mixing
    vectors of two models in one collection.
    """
    recipe = "|".join(str(v) for v in (settings.embeddings, settings.embeddings_model,
                                        settings.chunk_tokens, settings.chunk_overlap,
                                        settings.metadata_file, settings.clean_patterns_file))
    fingerprint = corpus_fingerprint(corpus_dir, recipe)
    name = f"{_slug(corpus_dir)}-{fingerprint}"
    update: dict[str, object] = {
        "corpus_dir": Path(corpus_dir),
        "index_dir": Path(settings.index_dir) / CORPORA_DIR / name,
    }
    if settings.chroma_url:
        update["collection"] = f"{settings.collection}-{fingerprint}"
    return settings.model_copy(update=update)
