"""Two ingests of the same corpus write the same index, whatever each process's string
hashing: the lexical index's passage order breaks BM25 ties, and the vector store's
insertion order shapes its search graph, so neither may follow a set's iteration order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.index import CORPUS

ROOT = Path(__file__).resolve().parents[2]


def _ingest(index_dir: Path, hash_seed: str) -> dict[str, bytes]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "ASSISTANT_EMBEDDINGS": "fake",
           "ASSISTANT_ALLOW_FAKE_EMBEDDINGS": "1", "ASSISTANT_CORPUS_DIR": str(CORPUS),
           "ASSISTANT_INDEX_DIR": str(index_dir)}
    done = subprocess.run([sys.executable, "-m", "assistant.cli", "ingest"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lexical = [p for p in index_dir.glob("lexical-*") if p.is_dir()]
    assert len(lexical) == 1, lexical
    return {p.relative_to(lexical[0]).as_posix(): p.read_bytes()
            for p in sorted(lexical[0].rglob("*")) if p.is_file()}


def test_two_ingests_with_different_hash_seeds_write_the_same_lexical_index(
        tmp_path: Path) -> None:
    first = _ingest(tmp_path / "a", "1")
    second = _ingest(tmp_path / "b", "2")
    assert first.keys() == second.keys() and first
    differing = [name for name in first if first[name] != second[name]]
    assert not differing, f"lexical index files differ between the ingests: {differing}"
