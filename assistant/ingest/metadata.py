"""What a citation shows about an article: title, municipality, date, link.

Curated values in the sidecar (``metadata.json`` in the corpus folder) always win
because a person checked them. Everything else is derived from the text, and the
derivations are deliberately cautious: a missing date is shown as unknown, while a
wrong one (a meeting date picked from running text) would mislead the reader.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from assistant.ingest.cleaning import load_patterns, normalise_whitespace
from assistant.types import DocumentMeta

SIDECAR_NAME = "metadata.json"

_MAX_TITLE_WORDS = 15
_MAX_TITLE_CHARS = 160

# --------------------------------------------------------------------------- sidecar


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _normalise_doc_id(doc_id: str) -> str:
    doc_id = doc_id.strip().replace("\\", "/")
    return str(PurePosixPath(doc_id)) if doc_id else doc_id


def read_sidecar(corpus_dir: Path, name: str = SIDECAR_NAME) -> dict[str, dict[str, str | None]]:
    """Curated metadata keyed by document id; a missing file simply means "none".

    A malformed file is an error rather than ``{}``: silently ignoring it would ship
    citations without the municipality and date someone took the trouble to curate.
    """
    path = Path(corpus_dir) / name
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    if not isinstance(data, dict):
        raise ValueError(
            f"{path}: expected an object mapping document ids to objects, got {_json_type(data)}"
        )
    result: dict[str, dict[str, str | None]] = {}
    for doc_id, entry in data.items():
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: entry {doc_id!r} must be an object, got {_json_type(entry)}")
        fields: dict[str, str | None] = {}
        for key, value in entry.items():
            if value is not None and not isinstance(value, str):
                raise ValueError(
                    f"{path}: {doc_id!r} field {key!r} must be a string or null, "
                    f"got {_json_type(value)}"
                )
            fields[str(key)] = value
        result[_normalise_doc_id(str(doc_id))] = fields
    return result


# --------------------------------------------------------------------------- title

# Words that describe a picture rather than announce a story. Alone they are weak
# evidence (a headline may say "läser"), so they only count together with position:
# see _is_caption.
_CAPTION_CUES = re.compile(
    r"\b(?:vy från|vy över|till vänster|till höger|i mitten|på scen|i bakgrunden|"
    r"i förgrunden|närbild|porträtt|porträttbild|bild|bilden|foto|fotograf|läser|"
    r"poserar|ler mot kameran|tittar in i kameran)\b",
    re.IGNORECASE,
)
_CAPTION_PREFIX = re.compile(r"^(?:bildtext|bild|foto|fotograf|photo|image)\s*:", re.IGNORECASE)
_STARTPAGE = re.compile(r"startsida[n]?$", re.IGNORECASE)
_QUOTE_START = re.compile(r"^[-–—”\"]")


def _single_line_paragraphs(text: str) -> list[str]:
    """Paragraphs that are one line, i.e. a line with blank lines (or the start) around it."""
    return [p for p in normalise_whitespace(text).split("\n\n") if p and "\n" not in p]


def _is_headline_like(line: str) -> bool:
    words = line.split()
    return (
        0 < len(words) <= _MAX_TITLE_WORDS
        and len(line) <= _MAX_TITLE_CHARS
        and not line.endswith((".", ":", ";", ",", "…"))
        and not _QUOTE_START.match(line)
        and any(ch.isalpha() for ch in line)
    )


def _is_noise(line: str, patterns: Sequence[re.Pattern[str]]) -> bool:
    """Lines that are never a title: chrome, start-page links, datelines, labelled captions."""
    return bool(
        any(p.fullmatch(line) for p in patterns)
        or _STARTPAGE.search(line)
        or _CAPTION_PREFIX.match(line)
        or _date_in_line(line) is not None
    )


def _is_caption(line: str, following: str | None) -> bool:
    """An image caption/alt text scraped above the headline.

    Heuristic: the line contains a picture-describing cue ("vy från", "på scen",
    "till vänster", "läser", "bild", "foto", ...) *and* the next meaningful line is
    itself headline-like. A real headline is followed by body text (a long sentence),
    whereas an alt text that a scraper put first is followed by the real headline.
    Both conditions are required so a headline that happens to say "läser" survives.
    """
    return bool(_CAPTION_CUES.search(line)) and following is not None and _is_headline_like(
        following
    )


def derive_title(
    text: str, title_hint: str | None = None, patterns: Sequence[re.Pattern[str]] | None = None
) -> str:
    """The first headline-like line that is not chrome, a dateline or a picture caption.

    Headline-like: a line on its own (blank line after it), at most 15 words, not
    ending in a period/colon and not a quote. ``title_hint`` (from HTML ``<h1>``, DOCX
    properties, PDF metadata or a Markdown heading) wins because the format said so.
    Falls back to the first meaningful line, shortened; returns ``""`` for empty text.
    ``patterns`` are the chrome patterns cleaning uses (default: the built-in ones), so
    a line the cleaner removes can never become the title.
    """
    if title_hint and title_hint.strip():
        return " ".join(title_hint.split())
    patterns = load_patterns() if patterns is None else patterns
    candidates = [p for p in _single_line_paragraphs(text) if not _is_noise(p, patterns)]
    for index, line in enumerate(candidates):
        if not _is_headline_like(line):
            continue
        following = candidates[index + 1] if index + 1 < len(candidates) else None
        if _is_caption(line, following):
            continue
        return line
    for line in normalise_whitespace(text).split("\n"):
        if line and not _is_noise(line, patterns):
            return _shorten(line)
    return ""


def _shorten(line: str) -> str:
    words = line.split()
    if len(words) <= _MAX_TITLE_WORDS:
        return line.rstrip(".:;,")
    return " ".join(words[:_MAX_TITLE_WORDS]).rstrip(".:;,") + " …"


# --------------------------------------------------------------------------- date

_MONTHS = {
    "januari": 1, "january": 1, "februari": 2, "february": 2, "mars": 3, "march": 3,
    "april": 4, "maj": 5, "may": 5, "juni": 6, "june": 6, "juli": 7, "july": 7,
    "augusti": 8, "august": 8, "september": 9, "oktober": 10, "october": 10,
    "november": 11, "december": 12,
}
_MONTH = r"[a-zåäö]{3,9}\.?"
_ISO = re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?!\d)")
_MDY = re.compile(rf"(?P<mon>{_MONTH})\s+(?P<d>\d{{1,2}}),?\s+(?P<y>\d{{4}})(?!\d)", re.I)
_DMY = re.compile(rf"(?P<d>\d{{1,2}})\.?\s+(?P<mon>{_MONTH})\s+(?P<y>\d{{4}})(?!\d)", re.I)
_TIME_TAIL = r"(?:,?\s+(?:kl\.?\s*)?\d{1,2}[:.]\d{2}(?:\s*[a-z]{2,5})?)?"

# Label then separators then the date, with nothing else in between: "Datum för
# träffen är 10 oktober" must not count as a publication date.
_PUBLISHED = re.compile(
    r"^(?:publicerad|publicerat|publicerades|published|posted|pressmeddelande|nyhet|datum|date)"
    r"[\s:•|·\-–—,]*(?:den\s+|on\s+)?",
    re.I,
)
_REVIEWED = re.compile(
    r"^(?:(?:senast\s+)?(?:granskad|uppdaterad|ändrad|reviderad)"
    r"(?:\s*/\s*(?:granskad|uppdaterad|ändrad|reviderad))?|last\s+(?:updated|modified|reviewed)|"
    r"updated|modified|reviewed)[\s:•|·\-–—,]*(?:den\s+|on\s+)?",
    re.I,
)


def _month_number(token: str) -> int | None:
    token = token.rstrip(".").lower()
    if len(token) < 3:
        return None
    for name, number in _MONTHS.items():
        if name.startswith(token):
            return number
    return None


def _date_at(text: str, whole: bool = False) -> str | None:
    """A valid date at the start of ``text`` (or spanning all of it), as ISO."""
    for pattern in (_ISO, _MDY, _DMY):
        match = pattern.match(text)
        if not match or (whole and match.end() != len(text)):
            continue
        parts = match.groupdict()
        month = int(parts["m"]) if "m" in parts else _month_number(parts["mon"])
        if month is None:
            continue
        try:
            return dt.date(int(parts["y"]), month, int(parts["d"])).isoformat()
        except ValueError:
            continue
    return None


_BARE_DATE = re.compile(rf"(?:den\s+)?(.+?){_TIME_TAIL}", re.I)


def _date_in_line(line: str) -> tuple[int, str] | None:
    """(rank, date) when the line is a labelled or stand-alone dateline; rank 0 is best."""
    line = line.lstrip("•·*- ").strip()
    for rank, label in enumerate((_PUBLISHED, _REVIEWED)):
        match = label.match(line)
        if match:
            found = _date_at(line[match.end() :])
            if found:
                return rank, found
    bare = _BARE_DATE.fullmatch(line)
    if bare:
        found = _date_at(bare.group(1), whole=True)
        if found:
            return 2, found
    return None


def derive_date(text: str) -> str | None:
    """The article's publication date, else its review/update date, as ``yyyy-mm-dd``.

    Only datelines count: a line that starts with a label ("Publicerad",
    "Pressmeddelande •", "Senast granskad", "Granskad/Uppdaterad:") immediately followed
    by a date, or a line that is nothing but a date. Dates in running text ("från och med
    1 juli 2012") are events, not the article's date.
    """
    best: tuple[int, str] | None = None
    for line in normalise_whitespace(text).split("\n"):
        if not line or len(line) > 120:
            continue
        found = _date_in_line(line)
        if found is not None and (best is None or found[0] < best[0]):
            best = found
            if best[0] == 0:
                break
    return best[1] if best else None


# --------------------------------------------------------------------------- meta


def _present(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def document_meta(
    doc_id: str,
    text: str,
    sidecar: dict[str, dict[str, str | None]],
    title_hint: str | None = None,
    patterns: Sequence[re.Pattern[str]] | None = None,
) -> DocumentMeta:
    """Merge curated and derived metadata; a sidecar null or "" means "derive it"."""
    entry = sidecar.get(doc_id) or sidecar.get(_normalise_doc_id(doc_id)) or {}
    title = (
        _present(entry.get("title"))
        or derive_title(text, title_hint, patterns)
        or PurePosixPath(_normalise_doc_id(doc_id)).stem
        or doc_id
    )
    return DocumentMeta(
        doc_id=doc_id,
        title=title,
        municipality=_present(entry.get("municipality")),
        date=_present(entry.get("date")) or derive_date(text),
        url=_present(entry.get("url")),
    )
