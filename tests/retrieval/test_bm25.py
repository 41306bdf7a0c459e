"""BM25 in flat arrays: same scores as bm25s, updated and saved without a rebuild."""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np
import pytest

from assistant.retrieval.bm25 import Bm25Builder, Bm25Index
from assistant.retrieval.lexical import analyse

ROOT = Path(__file__).resolve().parents[2]


def _passages() -> list[tuple[str, str, list[str]]]:
    """The sample articles' paragraphs as passages, one document per article."""
    out = []
    for path in sorted((ROOT / "data" / "articles").glob("*.txt")):
        for n, para in enumerate(path.read_text(encoding="utf-8").split("\n\n")):
            out.append((f"{path.name}#{n}", path.name, analyse(para)))
    out.append(("empty#0", "empty", []))  # a passage with no content words at all
    return out


QUERIES = [["segregation", "trollhättan"], ["kunskapslyft"], ["lund", "nätverk", "skol"],
           ["finnsinte"], []]


def test_scores_equal_bm25s() -> None:
    passages = _passages()
    assert any(not terms for _, _, terms in passages)  # empty passages are covered too
    reference = bm25s.BM25()
    reference.index([terms or [""] for _, _, terms in passages], show_progress=False)
    index = Bm25Index.build(passages)
    assert len(index) == len(passages)
    for query in QUERIES:
        known = [t for t in query if t in reference.vocab_dict]
        expected = reference.get_scores(known) if known else np.zeros(len(passages))
        assert index.scores(query) == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert index.scores(["segregation"]).max() > 0


def test_update_equals_a_fresh_build(tmp_path: Path) -> None:
    passages = _passages()
    first = [p for p in passages if not p[1].startswith("004")]
    changed = [(cid + "v2", doc, [*terms, "nyttord"]) for cid, doc, terms in passages
               if doc.startswith("002")]
    final = [p for p in first if not p[1].startswith("002")] + changed + \
        [p for p in passages if p[1].startswith("004")]
    index = Bm25Index.build(first).updated(
        {"002_14c7ea9898707bbb.txt"}, changed + [p for p in passages if p[1].startswith("004")])
    fresh = Bm25Index.build(final)
    assert index.chunk_ids == fresh.chunk_ids
    assert [index.doc_ids[d] for d in index.chunk_docs] == [p[1] for p in final]
    for query in [*QUERIES, ["nyttord", "segregation"]]:
        assert index.scores(query) == pytest.approx(fresh.scores(query), rel=1e-6)
    index.save(tmp_path / "bm25")
    loaded = Bm25Index.load(tmp_path / "bm25")
    assert loaded.chunk_ids == index.chunk_ids
    assert loaded.scores(["nyttord", "lund"]) == pytest.approx(index.scores(["nyttord", "lund"]))
    # A dropped document's terms are no longer known, though its slot in vocab remains.
    dropped = index.updated({p[1] for p in final if p[1].startswith("002")}, [])
    assert "nyttord" in index.term_ids and "nyttord" not in dropped.term_ids
    assert dropped.scores(["nyttord"]).max(initial=0) == 0


def test_vocabulary_search_by_prefix_and_suffix() -> None:
    index = Bm25Index.build([("a", "d", ["skolsegregation", "segregation", "segreger", "lund"]),
                             ("b", "d", ["lundalärar", "skr-nätverket", "nätverket"])])
    assert index.with_prefix("segreg") == ["segregation", "segreger"]
    assert index.with_prefix("lund") == ["lund", "lundalärar"]
    assert index.with_suffix("segregation") == ["segregation", "skolsegregation"]
    assert index.with_suffix("verket") == ["nätverket", "skr-nätverket"]
    assert index.has_prefix_of("lundaskolan", 4) and not index.has_prefix_of("lunxa", 4)
    assert index.with_prefix("zzz") == [] and index.with_suffix("zzz") == []


def _same(a: Bm25Index, b: Bm25Index) -> None:
    assert (a.chunk_ids, a.doc_ids, a.vocab) == (b.chunk_ids, b.doc_ids, b.vocab)
    for name in ("chunk_docs", "lengths", "p_chunk", "p_term", "p_tf", "indptr", "indices",
                 "data"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_a_build_in_small_slices_and_buckets_writes_the_same_index(tmp_path: Path) -> None:
    """The build reads postings a slice at a time and scores the terms in buckets, so
    that its memory stays flat; with slices of 97 postings and buckets of 12 (many passes,
    terms with more postings than a bucket) it must write exactly the one-pass index."""
    passages = _passages()
    first = [p for p in passages if not p[1].startswith("004")]
    later = [p for p in passages if p[1].startswith("004")]
    whole = Bm25Index.build(first)
    assert int(np.diff(whole.indptr).max()) > 12  # some term alone overflows a bucket
    builder = Bm25Builder(Bm25Index.empty(), slice_size=97, bucket_size=12)
    for n in range(0, len(first), 5):  # an ingest adds groups
        builder.add(first[n:n + 5])
    small = builder.build(tmp_path / "first")
    assert small.source == tmp_path / "first"
    _same(small, whole)
    _same(Bm25Index.load(tmp_path / "first"), whole)
    # An update of the saved index (read through its files) in small pieces too.
    dropped = {"002_14c7ea9898707bbb.txt"}
    update = Bm25Builder(Bm25Index.load(tmp_path / "first"), slice_size=97, bucket_size=12)
    update.drop(dropped)
    update.add(later)
    _same(update.build(), whole.updated(dropped, later))


def test_a_builder_leaves_no_spill_files(tmp_path: Path) -> None:
    builder = Bm25Builder(Bm25Index.empty())
    builder.add(_passages())
    spill = Path(builder._spill_dir.name)
    assert spill.is_dir()
    builder.build(tmp_path / "index")
    assert not spill.exists()
