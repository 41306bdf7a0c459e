"""What a report must record so that a number in it can be reproduced months later.

A score moves when the code, a setting, a model, the articles or the questions
change. The report records each of those (the git commit, the settings that
affect answers with secrets masked, the model ids, a fingerprint of every
article, the eval file's hash, when it ran) so ``assistant eval compare`` can tell a
real regression from "someone edited the corpus".
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.config import Settings

__all__ = [
    "ANSWER_SETTINGS",
    "answer_settings",
    "corpus_fingerprint",
    "file_sha256",
    "git_info",
    "provenance",
]

# Settings that change what an answer is (retrieval, chunking, models, prompt budget).
# Web, auth and storage locations do not, and would only make two equal runs look different.
ANSWER_SETTINGS = (
    "corpus_dir", "chroma_url", "collection", "metadata_file", "clean_patterns_file",
    "chunk_tokens", "chunk_overlap", "embeddings", "embeddings_model", "embeddings_base_url",
    "llm", "llm_model", "llm_base_url", "llm_timeout", "llm_max_retries", "openai_api_key",
    "context_tokens", "retriever", "k",
)

_REPO = Path(__file__).resolve().parents[2]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def git_info(repo: Path = _REPO) -> dict[str, Any]:
    """Commit and whether the work tree had uncommitted changes; nulls outside git.

    ``dirty`` matters: a report made from uncommitted code cannot be reproduced
    from its commit alone, and the reader should know that.
    """
    def run(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True,
                                  text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    if not commit:
        return {"commit": None, "branch": None, "dirty": None}
    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "branch": run("rev-parse", "--abbrev-ref", "HEAD"),
            "dirty": bool(status) if status is not None else None}


def corpus_fingerprint(corpus_dir: Path) -> dict[str, Any]:
    """sha256 of every file under the corpus folder, and one hash over all of them.

    Raw bytes, not the index's cleaned text: the question is "were these the same
    articles", independent of how a given commit cleans or chunks them.
    """
    root = Path(corpus_dir)
    if not root.is_dir():
        return {"dir": str(root), "files": None, "sha256": None, "hashes": {}}
    hashes = {
        path.relative_to(root).as_posix(): file_sha256(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts)
    }
    overall = hashlib.sha256(
        "".join(f"{name}\0{digest}\n" for name, digest in hashes.items()).encode()
    ).hexdigest()
    return {"dir": str(root), "files": len(hashes), "sha256": overall, "hashes": hashes}


def answer_settings(settings: Settings) -> dict[str, Any]:
    """The answer-affecting subset of ``Settings.masked()`` (secrets stay ``***``)."""
    masked = settings.masked()
    return {name: masked.get(name) for name in ANSWER_SETTINGS if name in masked}


def provenance(settings: Settings, eval_file: Path) -> dict[str, Any]:
    """Config keys for the report: git, settings, corpus fingerprint, eval file hash."""
    eval_path = Path(eval_file)
    return {
        "git": git_info(),
        "settings": answer_settings(settings),
        "corpus": corpus_fingerprint(settings.corpus_dir),
        "eval_file_sha256": file_sha256(eval_path) if eval_path.is_file() else None,
    }
