"""Metadata: curated sidecar wins; titles and dates are derived cautiously."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from assistant.ingest.cleaning import clean_text
from assistant.ingest.metadata import (
    SIDECAR_NAME,
    derive_date,
    derive_title,
    document_meta,
    read_sidecar,
)
from assistant.types import DocumentMeta

ARTICLES = Path(__file__).resolve().parents[2] / "data" / "articles"
DOC_IDS = sorted(p.name for p in ARTICLES.glob("*.txt"))

EXPECTED_DATES = {
    "000": None,
    "001": None,
    "002": "2012-10-10",
    "003": "2012-11-20",
    "004": "2023-11-09",
}


def raw(doc_id: str) -> str:
    return (ARTICLES / doc_id).read_text(encoding="utf-8")


def test_five_samples_present() -> None:
    assert [d[:3] for d in DOC_IDS] == ["000", "001", "002", "003", "004"]


# --------------------------------------------------------------------------- sidecar


def test_read_sidecar_of_sample_corpus() -> None:
    sidecar = read_sidecar(ARTICLES)
    assert sorted(sidecar) == DOC_IDS
    assert sidecar["004_02e4e99ec918efc6.txt"] == {
        "title": "SKR-nätverk mot segregation besöker Trollhättans skolor",
        "municipality": "Trollhättan",
        "date": "2023-11-09",
        "url": None,
    }


def test_missing_sidecar_is_empty(tmp_path: Path) -> None:
    assert read_sidecar(tmp_path) == {}
    assert read_sidecar(ARTICLES, "finns-inte.json") == {}


def test_sidecar_custom_name_and_ids_normalised(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text(
        json.dumps({"sub\\a.txt": {"title": "A"}, "./b.txt": {"url": "https://x.se"}}), "utf-8"
    )
    assert read_sidecar(tmp_path, "meta.json") == {
        "sub/a.txt": {"title": "A"},
        "b.txt": {"url": "https://x.se"},
    }


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"a.txt": {"title": "A",}', "malformed JSON at line 1"),
        ("", "malformed JSON"),
        ('["a.txt"]', "expected an object mapping document ids to objects, got an array"),
        ('{"a.txt": "A"}', "entry 'a.txt' must be an object, got a string"),
        ('{"a.txt": {"date": 2012}}', "'a.txt' field 'date' must be a string or null"),
    ],
)
def test_malformed_sidecar(tmp_path: Path, content: str, reason: str) -> None:
    (tmp_path / SIDECAR_NAME).write_text(content, "utf-8")
    with pytest.raises(ValueError) as info:
        read_sidecar(tmp_path)
    assert SIDECAR_NAME in str(info.value)
    assert reason in str(info.value)


def test_sidecar_not_utf8(tmp_path: Path) -> None:
    (tmp_path / SIDECAR_NAME).write_bytes('{"a.txt": {"title": "Västerås"}}'.encode("cp1252"))
    with pytest.raises(ValueError, match="metadata.json: not UTF-8"):
        read_sidecar(tmp_path)


# --------------------------------------------------------------------------- title


@pytest.mark.parametrize("doc_id", DOC_IDS)
def test_derive_title_matches_sidecar_from_raw_and_cleaned(doc_id: str) -> None:
    expected = read_sidecar(ARTICLES)[doc_id]["title"]
    assert derive_title(raw(doc_id)) == expected
    assert derive_title(clean_text(raw(doc_id)).text) == expected


def test_title_hint_wins() -> None:
    assert derive_title(raw(DOC_IDS[4]), "  Rubrik\u00a0från <h1> ") == "Rubrik från <h1>"
    assert derive_title("Rubrik\n\nText.", "   ") == "Rubrik"


def test_caption_needs_a_headline_after_it() -> None:
    # A real headline containing a cue word is followed by body text, so it stays.
    text = "Eleverna läser mer än någonsin\n\nEn ny mätning visar att eleverna läser mer."
    assert derive_title(text) == "Eleverna läser mer än någonsin"
    text = "Foto: Anna Andersson\n\nRektorn på scen, till vänster\n\nNy rektor\n\nBrödtext här."
    assert derive_title(text) == "Ny rektor"


def test_title_skips_datelines_quotes_and_long_lines() -> None:
    text = (
        "Publicerad 2020-01-02\n\n"
        "- Det här är ett citat, säger någon\n\n"
        "Ett stycke med en mening som slutar med punkt.\n\n"
        "Rubriken\n\nText."
    )
    assert derive_title(text) == "Rubriken"


def test_title_fallback_and_empty() -> None:
    long_line = " ".join(["ord"] * 30) + "."
    assert derive_title(long_line) == " ".join(["ord"] * 15) + " …"
    assert derive_title("En kort mening.") == "En kort mening"
    assert derive_title("") == ""
    assert derive_title("Skip to main content") == ""


def test_title_skips_lines_of_a_custom_chrome_file() -> None:
    """Regression: titles were checked against the built-in patterns only, so a line the
    user's ASSISTANT_CLEAN_PATTERNS_FILE strips from the text could still become the title."""
    patterns = (re.compile("Nyheter från förvaltningen", re.IGNORECASE),)
    text = "Nyheter från förvaltningen\n\nRektorn på Skolan\n\nBrödtext här, lång mening."
    assert derive_title(text) == "Nyheter från förvaltningen"
    assert derive_title(text, patterns=patterns) == "Rektorn på Skolan"
    assert document_meta("a.txt", text, {}, None, patterns).title == "Rektorn på Skolan"


# --------------------------------------------------------------------------- date


@pytest.mark.parametrize("doc_id", DOC_IDS)
def test_derive_date_of_samples(doc_id: str) -> None:
    assert derive_date(raw(doc_id)) == EXPECTED_DATES[doc_id[:3]]
    assert derive_date(clean_text(raw(doc_id)).text) == EXPECTED_DATES[doc_id[:3]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Publicerad 2020-01-02", "2020-01-02"),
        ("Publicerad: den 3 mars 2021 kl. 10:15", "2021-03-03"),
        ("Pressmeddelande • Okt 10, 2012 08:30 CEST", "2012-10-10"),
        ("Pressmeddelande   •   Oct 10, 2012", "2012-10-10"),
        ("Last updated: September 5, 2020", "2020-09-05"),
        ("Senast ändrad 7 sept. 2019", "2019-09-07"),
        ("Granskad/Uppdaterad: 2012-11-20", "2012-11-20"),
        ("12 maj 2022", "2022-05-12"),
        ("Rubrik\n\nUppdaterad 2021-05-05\n\nPublicerad 2020-01-02", "2020-01-02"),
        ("Från och med 1 juli 2012 tillämpas den nya skollagen.", None),
        ("Datum för träffen är 10 oktober 2012", None),
        ("Mötet 2012-11-20 var bra", None),
        ("Uppdaterad 2021-02-30", None),
        ("Publicerad 10 smurf 2012", None),
        ("", None),
    ],
)
def test_derive_date_patterns(text: str, expected: str | None) -> None:
    assert derive_date(text) == expected


# --------------------------------------------------------------------------- document_meta


def test_document_meta_prefers_sidecar() -> None:
    sidecar = read_sidecar(ARTICLES)
    doc_id = "003_bcac5e6365462900.txt"
    assert document_meta(doc_id, raw(doc_id), sidecar, "Ledtråd") == DocumentMeta(
        doc_id=doc_id,
        title="Kommunalt kunskapslyft",
        municipality="Söderhamn",
        date="2012-11-20",
        url=None,
    )


def test_document_meta_derives_without_sidecar() -> None:
    doc_id = "004_02e4e99ec918efc6.txt"
    assert document_meta(doc_id, raw(doc_id), {}) == DocumentMeta(
        doc_id=doc_id,
        title="SKR-nätverk mot segregation besöker Trollhättans skolor",
        municipality=None,
        date="2023-11-09",
        url=None,
    )
    assert document_meta(doc_id, raw(doc_id), {}, "Från HTML").title == "Från HTML"


def test_document_meta_partial_sidecar_fills_gaps() -> None:
    text = "Rubrik\n\nText.\n\nPublicerad 2020-01-02"
    sidecar: dict[str, dict[str, str | None]] = {
        "sub/a.txt": {"title": "", "municipality": "Lund", "date": None,
                      "url": "https://lund.se/a"}
    }
    assert document_meta("sub/a.txt", text, sidecar) == DocumentMeta(
        doc_id="sub/a.txt", title="Rubrik", municipality="Lund", date="2020-01-02",
        url="https://lund.se/a",
    )


def test_document_meta_untitled_falls_back_to_file_name() -> None:
    assert document_meta("mapp/tom.txt", "", {}).title == "tom"
