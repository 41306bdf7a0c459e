"""Turn files of any supported format into plain text with paragraph structure.

Every loader returns paragraphs separated by blank lines because chunking and
citations work on paragraphs; every failure is a :class:`LoadError` with a short
reason so ingest can skip one bad file, report why, and carry on with the rest.
Filesystem errors (``OSError``) are deliberately *not* wrapped: the caller reports
them separately ("unreadable") since they are usually permissions, not content.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import LoadError

SUPPORTED_SUFFIXES: frozenset[str] = frozenset({".txt", ".md", ".html", ".htm", ".pdf", ".docx"})

# More than this share of control characters means the bytes are not prose, even if
# they happen to decode (cp1252 decodes almost anything).
_MAX_CONTROL_SHARE = 0.05
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")
# Unicode category Cc is exactly U+0000-U+001F and U+007F-U+009F; minus the allowed
# whitespace controls. One regex pass instead of a Python call per character (2 ms per
# article, most of an unchanged re-ingest).
_CONTROLS = re.compile("[" + "".join(
    re.escape(chr(c)) for c in [*range(0x20), *range(0x7F, 0xA0)]
    if chr(c) not in _ALLOWED_CONTROLS) + "]")


@dataclass(frozen=True)
class LoadedDocument:
    """Text plus the format's own idea of a title, which beats any guess from the text."""

    text: str
    format: str
    title_hint: str | None


# --------------------------------------------------------------------------- decoding


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _check_text(text: str) -> str:
    """Reject what decoded but is not prose: nothing at all, or mostly control bytes."""
    if not text.strip():
        raise LoadError("empty file")
    sample = text[:20000]
    controls = len(_CONTROLS.findall(sample))
    if controls / len(sample) > _MAX_CONTROL_SHARE:
        raise LoadError("binary file (not text)")
    return _normalise_newlines(text)


def _reject_non_text(data: bytes) -> None:
    """Without a UTF-16 BOM, a NUL byte means binary data: the 8-bit codecs tried
    afterwards would decode it without complaint."""
    if not data.strip():
        raise LoadError("empty file")
    if b"\x00" in data:
        raise LoadError("binary file (not text)")


def decode_text(data: bytes) -> str:
    """Decode bytes of unknown encoding without ever mangling å/ä/ö.

    Swedish municipal exports are either UTF-8 (often with a BOM from Windows tools)
    or Windows-1252. UTF-8 is tried strictly first because cp1252 accepts almost any
    byte sequence and would silently turn UTF-8 "ö" into "Ã¶".
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # UTF-16 contains NUL bytes by design; only a BOM makes it safe to accept.
        try:
            return _check_text(data.decode("utf-16"))
        except UnicodeDecodeError as exc:
            raise LoadError("binary file (not text)") from exc
    _reject_non_text(data)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            # The five bytes cp1252 leaves undefined; latin-1 maps every byte.
            text = data.decode("latin-1")
    return _check_text(text)


# --------------------------------------------------------------------------- markdown

_MD_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n(?:---|\.\.\.)\n", re.DOTALL)
_MD_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_MD_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_MD_HR = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_MD_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_MD_REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s+\S+.*$")
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_MD_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_MD_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_EM_STAR = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_MD_EM_UNDERSCORE = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_MD_CODE = re.compile(r"`([^`\n]+)`")
_MD_BULLET = re.compile(r"^([ \t]*)[*+][ \t]+")
_MD_QUOTE = re.compile(r"^ {0,3}>[ \t]?")


def _md_inline(line: str) -> str:
    line = _MD_IMAGE.sub(r"\1", line)
    line = _MD_LINK.sub(r"\1", line)
    line = _MD_REF_LINK.sub(r"\1", line)
    line = _MD_AUTOLINK.sub(r"\1", line)
    line = _MD_CODE.sub(r"\1", line)
    line = _MD_STRONG.sub(r"\2", line)
    line = _MD_EM_STAR.sub(r"\1", line)
    return _MD_EM_UNDERSCORE.sub(r"\1", line)


def _markdown_to_text(text: str) -> tuple[str, str | None]:
    """Strip the markup a reader does not see; keep every word they do."""
    title: str | None = None
    front = _MD_FRONT_MATTER.match(text)
    if front:
        text = text[front.end() :]
        for line in front.group(1).splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "title" and value.strip():
                title = value.strip().strip("\"'")
    out: list[str] = []
    in_fence = False
    for line in text.split("\n"):
        if _MD_FENCE.match(line):
            in_fence = not in_fence
            out.append("")
            continue
        if in_fence:
            out.append(line)
            continue
        atx = _MD_ATX.match(line)
        if atx:
            heading = _md_inline(atx.group(2)).strip()
            if title is None and len(atx.group(1)) == 1 and heading:
                title = heading
            # A heading is its own paragraph even when the author put no blank line.
            out.extend(["", heading, ""])
            continue
        if _MD_SETEXT.match(line) and out and out[-1].strip():
            if title is None and line.strip().startswith("="):
                title = out[-1].strip()
            out.append("")
            continue
        if _MD_HR.match(line) or _MD_REF_DEF.match(line):
            out.append("")
            continue
        line = _MD_QUOTE.sub("", line)
        line = _MD_BULLET.sub(r"\1- ", line)
        out.append(_md_inline(line))
    return _join_paragraphs(out), title


def _join_paragraphs(lines: list[str]) -> str:
    """Collapse runs of blank lines so paragraphs are separated by exactly one."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.rstrip())
        elif current:
            paragraphs.append("\n".join(current))
            current = []
    if current:
        paragraphs.append("\n".join(current))
    return "\n\n".join(paragraphs)


# --------------------------------------------------------------------------- HTML

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]+)""", re.I)
# Per WHATWG, pages that declare latin-1 are really Windows-1252.
_CHARSET_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
                    "us-ascii": "cp1252", "ascii": "cp1252", "windows-1252": "cp1252"}
_DROP_TAGS = ("script", "style", "nav", "aside", "form", "noscript", "template", "iframe",
              "svg", "button", "select", "object", "embed", "canvas", "dialog")
_CHROME_ROLES = re.compile(r"^(navigation|banner|contentinfo|search|complementary|dialog)$", re.I)
_BLOCK_TAGS = ("p", "div", "section", "article", "main", "h1", "h2", "h3", "h4", "h5", "h6",
               "li", "ul", "ol", "dl", "dt", "dd", "blockquote", "pre", "table", "tr",
               "figure", "figcaption", "address", "details", "summary", "hr", "header",
               "footer", "caption", "tbody", "thead")
_SKIP_LINK = re.compile(
    r"skip|hoppa|gå till|till (?:huvud)?innehåll|main content|jump to", re.IGNORECASE
)
_BLOCK = "\ue000"  # private-use sentinels survive get_text() and never occur in real text
_BREAK = "\ue001"


def _decode_html(data: bytes) -> str:
    """Honour ``<meta charset>`` when it names something other than UTF-8."""
    match = _META_CHARSET.search(data[:4096])
    if match and not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        declared = match.group(1).decode("ascii").lower()
        codec = _CHARSET_ALIASES.get(declared, declared)
        if codec.replace("_", "-") not in ("utf-8", "utf8"):
            _reject_non_text(data)
            try:
                return _check_text(data.decode(codec))
            except (LookupError, UnicodeDecodeError):
                pass  # a lying or unknown declaration: fall back to sniffing
    return decode_text(data)


def _text_len(node: Any) -> int:
    return len(node.get_text(" ", strip=True))


def _is_link_list(node: Any) -> bool:
    """Lists (or rows) that are nothing but links are menus, not article text."""
    links = node.find_all("a")
    if len(links) < 2:
        return False
    if node.name in ("ul", "ol", "menu"):
        items = [li for li in node.find_all("li") if li.get_text(strip=True)]
        return bool(items) and all(
            len(" ".join(a.get_text(" ", strip=True) for a in li.find_all("a")))
            >= 0.9 * len(li.get_text(" ", strip=True))
            for li in items
        )
    if len(links) < 3:
        return False
    link_chars = sum(len(a.get_text("", strip=True)) for a in links)
    all_chars = len(re.sub(r"[\s|·•,/–-]+", "", node.get_text("", strip=True)))
    return all_chars > 0 and link_chars >= 0.9 * all_chars


def _drop(tags: Any) -> None:
    for tag in tags:
        if not tag.decomposed:  # a parent may already have taken it along
            tag.decompose()


def _strip_chrome(root: Any) -> None:
    _drop(root.find_all(_DROP_TAGS))
    _drop(root.find_all(attrs={"role": _CHROME_ROLES}))
    _drop(root.find_all(attrs={"hidden": True}))
    _drop(root.find_all(attrs={"aria-hidden": "true"}))
    _drop(a for a in root.find_all("a", href=re.compile(r"^#"))
          if _SKIP_LINK.search(a.get_text(" ", strip=True) + " " + " ".join(a.get("class") or [])))
    # Inside an <article>/<main> a header holds the headline and a footer the byline and
    # date; only the page-level ones are site chrome.
    _drop(t for t in root.find_all(("header", "footer"))
          if t.find_parent(("article", "main")) is None)
    for tag in root.find_all(("ul", "ol", "menu", "p", "div")):
        if not tag.decomposed and _is_link_list(tag):
            tag.decompose()


def _pick_root(soup: Any) -> Any:
    main = soup.find("main") or soup.find(attrs={"role": "main"})
    if main is not None and main.get_text(strip=True):
        return main
    articles = [a for a in soup.find_all("article") if a.get_text(strip=True)]
    if articles:
        return max(articles, key=_text_len)
    return soup.body or soup


def _html_blocks(root: Any) -> str:
    for pre in root.find_all("pre"):
        for piece in pre.find_all(string=True):
            piece.replace_with(piece.replace("\n", _BREAK))
    for br in root.find_all("br"):
        br.replace_with(_BREAK)
    for cell in root.find_all(("td", "th")):
        cell.insert_after(" ")
    for tag in root.find_all(_BLOCK_TAGS):
        tag.insert_before(_BLOCK)
        tag.insert_after(_BLOCK)
    raw = root.get_text()
    raw = re.sub(r"\s+", " ", raw)  # source line breaks are not structure in HTML
    paragraphs: list[str] = []
    for block in raw.split(_BLOCK):
        lines = [" ".join(part.split()) for part in block.split(_BREAK)]
        text = "\n".join(line for line in lines if line)
        if text:
            paragraphs.append(text)
    return "\n\n".join(paragraphs)


def _html_to_text(data: bytes) -> tuple[str, str | None]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode_html(data), "html.parser")
    _strip_chrome(soup)
    root = _pick_root(soup)
    h1 = root.find("h1")
    title_tag = soup.find("title")
    title: str | None = None
    for candidate in (h1, title_tag):
        if candidate is not None and candidate.get_text(strip=True):
            title = " ".join(candidate.get_text(" ", strip=True).split())
            break
    if title_tag is not None:
        title_tag.decompose()  # <title> is metadata, never body text
    text = _html_blocks(root)
    if not text.strip():
        raise LoadError("no main text found in HTML")
    return text, title


# --------------------------------------------------------------------------- PDF and DOCX


def _pdf_to_text(data: bytes) -> tuple[str, str | None]:
    from pypdf import PdfReader

    # pypdf raises a zoo of exception types on damaged files (PdfReadError, KeyError,
    # ValueError, struct errors...); to the user they all mean the same thing.
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("encrypted PDF (password protected)")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    except LoadError:
        raise
    except Exception as exc:
        raise LoadError(f"corrupt or truncated PDF: {_short(exc)}") from exc
    text = _normalise_newlines("\n\n".join(page for page in pages if page))
    if not text.strip():
        raise LoadError("no text in PDF (scanned image without a text layer?)")
    title: str | None = None
    try:
        meta = reader.metadata
        if meta is not None and meta.title and str(meta.title).strip():
            title = " ".join(str(meta.title).split())
    except Exception:
        title = None  # broken metadata must not cost us a readable document
    return text, title


# A docx is a zip: refused when its parts would unpack to more than this, or at a
# higher ratio than this (a decompression bomb), before any XML is parsed.
DOCX_MAX_UNCOMPRESSED = 50_000_000
DOCX_MAX_RATIO = 100
DOCX_MAX_MEMBERS = 2_000


def check_docx_zip(data: bytes) -> None:
    """Refuse a docx whose parts unpack to too much (:class:`LoadError`), reading only
    the zip's directory: a 40 kB file that inflates to gigabytes is never parsed, by
    the ingest or by an upload's check."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise LoadError(f"corrupt DOCX (not a valid Word file): {_short(exc)}") from exc
    total = sum(i.file_size for i in infos)
    packed = max(1, sum(i.compress_size for i in infos))
    if len(infos) > DOCX_MAX_MEMBERS or total > DOCX_MAX_UNCOMPRESSED \
            or total / packed > DOCX_MAX_RATIO:
        raise LoadError(f"docx decompression bomb: {total} bytes from {packed} "
                        f"in {len(infos)} parts")


def _docx_to_text(data: bytes) -> tuple[str, str | None]:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    check_docx_zip(data)
    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[str] = []
        for item in document.iter_inner_content():
            if isinstance(item, Paragraph):
                blocks.append(item.text)
            elif isinstance(item, Table):
                for row in item.rows:
                    cells: list[str] = []
                    for cell in row.cells:
                        value = " ".join(cell.text.split())
                        if value and (not cells or cells[-1] != value):  # merged cells repeat
                            cells.append(value)
                    blocks.append(" | ".join(cells))
        title = (document.core_properties.title or "").strip() or None
    except Exception as exc:
        # Not a zip, a zip without word/document.xml, or broken XML: all "corrupt".
        raise LoadError(f"corrupt DOCX (not a valid Word file): {_short(exc)}") from exc
    paragraphs = [_normalise_newlines(b).strip() for b in blocks]
    text = "\n\n".join(p for p in paragraphs if p)
    if not text:
        raise LoadError("empty document (no text in DOCX)")
    return text, title


def _short(exc: BaseException) -> str:
    message = " ".join(str(exc).split()) or type(exc).__name__
    return message if len(message) <= 120 else message[:117] + "..."


# --------------------------------------------------------------------------- dispatch


def load_document(path: Path) -> LoadedDocument:
    """Load one file by its suffix; :class:`LoadError` explains why a file was skipped."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"unsupported file type {suffix or '(no suffix)'}")
    data = path.read_bytes()
    if not data.strip():
        raise LoadError("empty file")
    if suffix == ".txt":
        return LoadedDocument(decode_text(data), "txt", None)
    if suffix == ".md":
        text, title = _markdown_to_text(decode_text(data))
        if not text.strip():
            raise LoadError("empty file")
        return LoadedDocument(text, "md", title)
    if suffix in (".html", ".htm"):
        text, title = _html_to_text(data)
        return LoadedDocument(text, "html", title)
    if suffix == ".pdf":
        text, title = _pdf_to_text(data)
        return LoadedDocument(text, "pdf", title)
    text, title = _docx_to_text(data)
    return LoadedDocument(text, "docx", title)
