"""The corpus folder as editors change it (issue 21, point 6): names, types, sizes and
broken files are refused before anything is written; writes are atomic."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from assistant.errors import ApiError, LoadError
from assistant.ingest.corpus import Corpus, clean_meta, safe_name, swedish_reason
from assistant.ingest.loaders import check_docx_zip, load_document

TEXT = "Rubrik\n\nGöteborgs stad startar läxhjälp på alla högstadieskolor.\n".encode()


@pytest.mark.parametrize(("raw", "name"), [
    ("artikel.txt", "artikel.txt"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\Windows\\a.md", "a.md"),
    ("C:\\Users\\anna\\Skrivbord\\nyhet.pdf", "nyhet.pdf"),
    ("D:nyhet.docx", "nyhet.docx"),
    ("Växjö – skolan?.html", "Växjö _ skolan_.html"),
])
def test_safe_name_keeps_only_a_base_name(raw: str, name: str) -> None:
    assert safe_name(raw) == name


@pytest.mark.parametrize("raw", ["", "..", "../", "C:\\", ".env", "a\x00b.txt",
                                 "rad\nbrytning.txt", "dir/.hidden.txt"])
def test_safe_name_refuses_what_is_no_name(raw: str) -> None:
    with pytest.raises(ApiError) as info:
        safe_name(raw)
    assert info.value.status == 400 and "Filnamnet" in str(info.value)


def test_check_refuses_before_writing(tmp_path: Path) -> None:
    corpus = Corpus(tmp_path, "metadata.json", 10_000)
    cases = {("a.exe", TEXT): 422, ("a.txt", b"x" * 10_001): 413, ("a.txt", b"  \n"): 422,
             ("a.txt", bytes(range(256))): 422, ("a.pdf", b"%PDF-1.4 trasig"): 422}
    for (name, data), status in cases.items():
        with pytest.raises(ApiError) as info:
            corpus.check(name, data)
        assert info.value.status == status, (name, str(info.value))
    assert [p.name for p in tmp_path.iterdir()] == [".staging"]
    assert not list((tmp_path / ".staging").iterdir())
    checked = corpus.check("../ny.txt", TEXT)
    assert checked.name == "ny.txt" and "läxhjälp" in checked.loaded.text


def test_docx_bomb_is_refused_from_the_zip_directory_alone(tmp_path: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b" " * 10_000_000)
    with pytest.raises(LoadError, match="decompression bomb"):
        check_docx_zip(out.getvalue())
    # The ingest itself refuses it too (a bomb copied into the corpus folder by hand).
    (tmp_path / "bomb.docx").write_bytes(out.getvalue())
    with pytest.raises(LoadError, match="decompression bomb"):
        load_document(tmp_path / "bomb.docx")
    assert swedish_reason("docx decompression bomb: 1 bytes").startswith(
        "Word-filen packas upp till orimligt mycket data")


def test_metadata_is_written_atomically_and_kept(tmp_path: Path) -> None:
    (tmp_path / "metadata.json").write_text(json.dumps({"gammal.txt": {"title": "Gammal"}}),
                                            encoding="utf-8")
    corpus = Corpus(tmp_path, "metadata.json", 10_000)
    with corpus.lock:
        corpus.write("ny.txt", TEXT)
        corpus.set_meta("ny.txt", clean_meta({"municipality": " Göteborg ", "date": ""}))
    data = json.loads((tmp_path / "metadata.json").read_text(encoding="utf-8"))
    assert data["gammal.txt"] == {"title": "Gammal"}
    assert data["ny.txt"] == {"title": None, "municipality": "Göteborg", "date": None,
                              "url": None}
    assert (tmp_path / "ny.txt").read_bytes() == TEXT
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".upload-")]
    with corpus.lock:
        corpus.remove("ny.txt")
        corpus.set_meta("ny.txt", None)
    assert "ny.txt" not in json.loads((tmp_path / "metadata.json").read_text("utf-8"))


@pytest.mark.parametrize(("values", "message"), [
    ({"date": "9 november 2023"}, "ÅÅÅÅ-MM-DD"),
    ({"url": "javascript:alert(1)"}, "http"),
    ({"title": "x" * 501}, "för långt"),
])
def test_clean_meta_refuses_bad_fields(values: dict[str, str], message: str) -> None:
    with pytest.raises(ApiError) as info:
        clean_meta(values)
    assert info.value.status == 422 and message in str(info.value)


def test_document_paths_never_leave_the_folder(tmp_path: Path) -> None:
    corpus = Corpus(tmp_path, "metadata.json", 10_000)
    for doc_id in ("../x.txt", "/etc/passwd", "a/../../x.txt", ""):
        with pytest.raises(ApiError):
            corpus.path_of(doc_id)
