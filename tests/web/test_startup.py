"""Start-up errors are one readable line with the fix, never a traceback.

``assistant serve`` opens the index before it listens, so a missing or unreadable
index, or a Chroma server that is down, stops it at once with a message that says
what to do.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.config import Settings
from tests.support.openai_server import OpenAIServer

ASSISTANT = Path(sys.executable).with_name("assistant")


def _serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    environ.update({"ASSISTANT_PORT": "1", "ASSISTANT_LLM": "extractive", **env})
    return subprocess.run([str(ASSISTANT), "serve"], cwd=tmp_path, env=environ, timeout=120,
                          capture_output=True, text=True, check=False)


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("fel:")]
    assert len(lines) == 1, result.stderr[-2000:]
    return lines[0]


def test_missing_index(tmp_path: Path) -> None:
    line = _one_line(_serve(tmp_path, ASSISTANT_INDEX_DIR=str(tmp_path / "empty")))
    assert "assistant ingest" in line


def test_chroma_server_down(tmp_path: Path, closed_port: int) -> None:
    line = _one_line(_serve(tmp_path, ASSISTANT_CHROMA_URL=f"http://127.0.0.1:{closed_port}"))
    assert "ASSISTANT_CHROMA_URL" in line and f"{closed_port}" in line


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A real read-only file system (root ignores file modes, so a ro mount it is)."""
    mount = tmp_path / "ro"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount)],
                   check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_read_only_index_dir(tmp_path: Path, read_only_dir: Path) -> None:
    line = _one_line(_serve(tmp_path, ASSISTANT_INDEX_DIR=str(read_only_dir)))
    assert str(read_only_dir) in line and "ASSISTANT_INDEX_DIR" in line


def test_index_built_with_another_model(tmp_path: Path, sample_index: Settings,
                                        openai_server: OpenAIServer) -> None:
    line = _one_line(_serve(tmp_path, ASSISTANT_INDEX_DIR=str(sample_index.index_dir),
                            ASSISTANT_CORPUS_DIR=str(sample_index.corpus_dir),
                            ASSISTANT_EMBEDDINGS="openai", OPENAI_API_KEY="test",
                            ASSISTANT_EMBEDDINGS_BASE_URL=openai_server.base_url))
    assert "--rebuild" in line
