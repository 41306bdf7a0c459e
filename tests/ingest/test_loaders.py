"""Loaders: every supported format becomes paragraphs; every bad file a short reason."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from assistant.errors import LoadError
from assistant.ingest.loaders import (
    SUPPORTED_SUFFIXES,
    LoadedDocument,
    decode_text,
    load_document,
)

SWEDISH = "Skolförvaltningen i Västerås och Örebro"


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(lines: list[str], title: str | None = None, compress: bool = False) -> bytes:
    """A minimal but valid PDF, written by hand: pypdf can read PDFs but not typeset text.

    Helvetica with WinAnsiEncoding so that å/ä/ö (cp1252 bytes) round-trip.
    """
    ops = ["BT", "/F1 12 Tf", "72 720 Td", "14 TL"]
    for line in lines:
        ops.append(f"({_pdf_escape(line)}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("cp1252")
    stream_dict = f"<< /Length {{n}}{' /Filter /FlateDecode' if compress else ''} >>"
    if compress:
        stream = zlib.compress(stream)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        stream_dict.format(n=len(stream)).encode() + b"\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    if title is not None:
        objects.append(f"<< /Title ({_pdf_escape(title)}) >>".encode("cp1252"))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    info = f" /Info {len(objects)} 0 R" if title is not None else ""
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\n"
        f"startxref\n{xref_at}\n%%EOF\n"
    ).encode()
    return bytes(out)


# --------------------------------------------------------------------------- decoding


def test_supported_suffixes() -> None:
    assert {".txt", ".md", ".html", ".htm", ".pdf", ".docx"} == SUPPORTED_SUFFIXES


def test_utf8_text(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.txt", f"{SWEDISH}\n\nAndra stycket.\n".encode())
    doc = load_document(path)
    assert doc == LoadedDocument(f"{SWEDISH}\n\nAndra stycket.\n", "txt", None)


def test_utf8_with_bom_strips_bom(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.txt", b"\xef\xbb\xbf" + SWEDISH.encode())
    assert load_document(path).text == SWEDISH


def test_cp1252_keeps_swedish_letters(tmp_path: Path) -> None:
    data = f"{SWEDISH} – “citat” för 100 €".encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    path = _write(tmp_path, "a.TXT", data)
    assert load_document(path).text == f"{SWEDISH} – “citat” för 100 €"


def test_crlf_becomes_lf() -> None:
    assert decode_text(b"Rad ett\r\n\r\nRad tv\xc3\xa5\r\n") == "Rad ett\n\nRad två\n"


def test_utf16_with_bom_is_text_not_binary() -> None:
    assert decode_text(SWEDISH.encode("utf-16")) == SWEDISH


@pytest.mark.parametrize("data", [b"", b"   \n\t\r\n ", b"\xef\xbb\xbf \n"])
def test_empty_file(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(LoadError, match="empty") as info:
        load_document(_write(tmp_path, "empty.txt", data))
    assert info.value.reason == str(info.value)


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
        bytes(range(256)) * 4,
        b"text\x00with\x00nuls",
        bytes([1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 17]) * 20 + b"lite text",
    ],
)
def test_binary_file(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(LoadError, match="binary"):
        load_document(_write(tmp_path, "bild.txt", data))


def test_unsupported_suffix(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match=r"unsupported file type \.xyz"):
        load_document(_write(tmp_path, "data.xyz", b"hej"))
    with pytest.raises(LoadError, match="unsupported"):
        load_document(_write(tmp_path, "README", b"hej"))


# --------------------------------------------------------------------------- markdown


def test_markdown_heading_becomes_title_hint(tmp_path: Path) -> None:
    md = (
        "# Kommunalt kunskapslyft\n"
        "Ingress med **fetstil** och en [länk](https://example.se/x).\n\n"
        "## Synvända\n\n"
        "* punkt ett med `kod`\n"
        "* punkt _två_\n\n"
        "![Bild på skola](skola.png)\n"
    )
    doc = load_document(_write(tmp_path, "a.md", md.encode()))
    assert doc.format == "md"
    assert doc.title_hint == "Kommunalt kunskapslyft"
    assert doc.text == (
        "Kommunalt kunskapslyft\n\n"
        "Ingress med fetstil och en länk.\n\n"
        "Synvända\n\n"
        "- punkt ett med kod\n- punkt två\n\n"
        "Bild på skola"
    )


def test_markdown_without_h1_has_no_title(tmp_path: Path) -> None:
    doc = load_document(_write(tmp_path, "a.md", b"## Bara en underrubrik\n\nText."))
    assert doc.title_hint is None
    assert doc.text == "Bara en underrubrik\n\nText."


def test_markdown_snake_case_is_not_emphasis(tmp_path: Path) -> None:
    doc = load_document(_write(tmp_path, "a.md", b"Filen heter doc_id_map.json."))
    assert doc.text == "Filen heter doc_id_map.json."


# --------------------------------------------------------------------------- HTML

PAGE = """<!DOCTYPE html>
<html lang="sv"><head><meta charset="utf-8"><title>Kunskapslyft - Söderhamns kommun</title>
<style>body {{ color: red }}</style><script>var tracking = "spion";</script></head>
<body>
<a href="#main">Hoppa till innehållet</a>
<header><a href="/">Söderhamns kommuns startsida</a></header>
<nav><ul><li><a href="/skola">Skola</a></li><li><a href="/omsorg">Omsorg</a></li></ul></nav>
{main}
<aside>Relaterat: annat innehåll</aside>
<div role="contentinfo">Söderhamns kommun, 826 80 Söderhamn</div>
<footer>Tel 0270-750 00<br>E-post</footer>
<noscript>Aktivera JavaScript</noscript>
</body></html>
"""

MAIN = """<main id="main">
<h1>Kommunalt   kunskapslyft</h1>
<p>Kommunfullmäktige har beviljat <b>6,5 miljoner</b> kronor
   per år.</p>
<ul class="related"><li><a href="/a">Läs mer</a></li><li><a href="/b">Mer om skolan</a></li></ul>
<h2>Synvända</h2>
<div>Barn och elever har rätt till god kunskap.<br>Ny rad i samma stycke.</div>
<ul><li>Essunga kommun</li><li>Umeå universitet</li></ul>
<form><input name="q"><button>Sök</button></form>
</main>"""


def test_html_keeps_only_main_text(tmp_path: Path) -> None:
    doc = load_document(_write(tmp_path, "a.html", PAGE.format(main=MAIN).encode()))
    assert doc.format == "html"
    assert doc.title_hint == "Kommunalt kunskapslyft"
    assert doc.text == (
        "Kommunalt kunskapslyft\n\n"
        "Kommunfullmäktige har beviljat 6,5 miljoner kronor per år.\n\n"
        "Synvända\n\n"
        "Barn och elever har rätt till god kunskap.\nNy rad i samma stycke.\n\n"
        "Essunga kommun\n\nUmeå universitet"
    )


def test_html_without_main_drops_chrome_and_uses_title(tmp_path: Path) -> None:
    body = "<p>Det är Lunds kommun som är värd.</p><p>Andra stycket.</p>"
    doc = load_document(_write(tmp_path, "a.htm", PAGE.format(main=body).encode()))
    assert doc.text == "Det är Lunds kommun som är värd.\n\nAndra stycket."
    assert doc.title_hint == "Kunskapslyft - Söderhamns kommun"


def test_html_prefers_article(tmp_path: Path) -> None:
    html = (
        "<html><body><div>Sidhuvud utan semantik</div>"
        "<article><header><h1>Rubrik</h1></header><p>Brödtext.</p>"
        "<footer>Publicerad 2020-01-02</footer></article></body></html>"
    )
    doc = load_document(_write(tmp_path, "a.html", html.encode()))
    assert doc.text == "Rubrik\n\nBrödtext.\n\nPublicerad 2020-01-02"
    assert doc.title_hint == "Rubrik"


def test_html_with_only_navigation_is_an_error(tmp_path: Path) -> None:
    html = PAGE.format(main="").encode()
    with pytest.raises(LoadError, match="no main text found in HTML"):
        load_document(_write(tmp_path, "nav.html", html))


def test_html_respects_meta_charset(tmp_path: Path) -> None:
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
        f"</head><body><p>{SWEDISH} – bra</p></body></html>"
    ).encode("cp1252")
    assert load_document(_write(tmp_path, "a.html", html)).text == f"{SWEDISH} – bra"


def test_html_binary_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="binary"):
        load_document(_write(tmp_path, "a.html", b"<html>\x00\x00\x00\x01\x02"))


# --------------------------------------------------------------------------- PDF


@pytest.mark.parametrize("compress", [False, True])
def test_pdf_text_and_title(tmp_path: Path, compress: bool) -> None:
    data = make_pdf(
        ["Kommunalt kunskapslyft", "Kommunfullmäktige har beviljat 6,5 miljoner kronor."],
        title="Kunskapslyftet (rapport)",
        compress=compress,
    )
    doc = load_document(_write(tmp_path, "a.pdf", data))
    assert doc.format == "pdf"
    assert "Kommunalt kunskapslyft" in doc.text
    assert "Kommunfullmäktige har beviljat 6,5 miljoner kronor." in doc.text
    assert doc.title_hint == "Kunskapslyftet (rapport)"


def test_pdf_without_title_metadata(tmp_path: Path) -> None:
    doc = load_document(_write(tmp_path, "a.pdf", make_pdf(["Hej Västerås"])))
    assert doc.text.strip() == "Hej Västerås"
    assert doc.title_hint is None


def test_truncated_pdf_is_corrupt(tmp_path: Path) -> None:
    data = make_pdf(["Kommunalt kunskapslyft", "Mer text här."])
    with pytest.raises(LoadError, match="corrupt or truncated PDF"):
        load_document(_write(tmp_path, "half.pdf", data[: len(data) // 2]))


def test_pdf_that_is_not_a_pdf(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="corrupt or truncated PDF"):
        load_document(_write(tmp_path, "fake.pdf", b"just some text, no pdf here"))


def test_pdf_without_text_layer(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="no text in PDF"):
        load_document(_write(tmp_path, "scan.pdf", make_pdf([])))


# --------------------------------------------------------------------------- DOCX


def test_docx_paragraphs_tables_and_title(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = "Kommunalt kunskapslyft"
    document.add_heading("Kommunalt kunskapslyft", level=1)
    document.add_paragraph(f"{SWEDISH} har beviljat 6,5 miljoner kronor.")
    document.add_paragraph("")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Umeå universitet"
    table.rows[0].cells[1].text = "Forskning"
    document.add_paragraph("Sista stycket.")
    path = tmp_path / "a.docx"
    document.save(str(path))

    doc = load_document(path)
    assert doc.format == "docx"
    assert doc.title_hint == "Kommunalt kunskapslyft"
    assert doc.text == (
        "Kommunalt kunskapslyft\n\n"
        f"{SWEDISH} har beviljat 6,5 miljoner kronor.\n\n"
        "Umeå universitet | Forskning\n\n"
        "Sista stycket."
    )


def test_docx_without_title(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("Bara text.")
    path = tmp_path / "a.docx"
    document.save(str(path))
    assert load_document(path) == LoadedDocument("Bara text.", "docx", None)


def test_corrupt_docx(tmp_path: Path) -> None:
    data = bytes((i * 37 + 11) % 256 for i in range(2000))
    with pytest.raises(LoadError, match="corrupt DOCX"):
        load_document(_write(tmp_path, "trasig.docx", data))


def test_zip_that_is_not_docx(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "arkiv.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hej.txt", "inte word")
    with pytest.raises(LoadError, match="corrupt DOCX"):
        load_document(path)


def test_empty_docx(tmp_path: Path) -> None:
    import docx

    path = tmp_path / "tom.docx"
    docx.Document().save(str(path))
    with pytest.raises(LoadError, match="empty"):
        load_document(path)
