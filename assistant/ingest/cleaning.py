"""Conservative removal of page chrome and scraper duplicates.

Why conservative: anything removed here can never be retrieved or cited, while a
stray "Öppettider" line left in costs almost nothing. So a line is only dropped when
it *entirely* matches a chrome pattern, or when it is an exact repeat of an earlier
line. Everything removed is returned in :attr:`CleanResult.removed` so that reports and
tests can show precisely what was lost.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DEFAULT_PATTERNS_FILE: Path = Path(__file__).with_name("chrome_patterns.txt")

# Short lines ("Fakta:", "Bakgrund", a list item) legitimately recur in one article;
# only longer repeats are scraper artefacts (a lead sentence copied three times).
_MIN_DUPLICATE_CHARS = 20

_LINE_BREAKS = re.compile(r"\r\n|[\r\f\v\x85\u2028\u2029]")
_INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff]")
_INLINE_SPACE = re.compile(r"[^\S\n]+")  # every Unicode space (NBSP, thin space...) but \n
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")


@dataclass(frozen=True)
class CleanResult:
    """Cleaned text plus an audit trail of what was dropped, in document order."""

    text: str
    removed: tuple[str, ...]


def load_patterns(path: Path | None = None) -> tuple[re.Pattern[str], ...]:
    """Read a chrome-pattern file; a bad line fails loudly instead of silently not matching.

    Format: one regex per line, matched case-insensitively against a whole line;
    blank lines and lines starting with ``#`` are ignored.
    """
    if path is None:
        return _default_patterns()
    return _read_patterns(Path(path))


@lru_cache(maxsize=1)
def _default_patterns() -> tuple[re.Pattern[str], ...]:
    return _read_patterns(DEFAULT_PATTERNS_FILE)


def _read_patterns(path: Path) -> tuple[re.Pattern[str], ...]:
    patterns: list[re.Pattern[str]] = []
    text = path.read_text(encoding="utf-8-sig")
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            patterns.append(re.compile(line, re.IGNORECASE))
        except re.error as exc:
            raise ValueError(
                f"{path}:{lineno}: invalid regular expression {line!r}: {exc.msg}"
            ) from exc
    return tuple(patterns)


def normalise_whitespace(text: str) -> str:
    """One space between words, stripped lines, one blank line between paragraphs.

    Chunk offsets and duplicate detection both depend on a single canonical form, so
    NBSP from web pages and \\r\\n from Windows exports must not survive.
    """
    text = _LINE_BREAKS.sub("\n", text)
    text = _INVISIBLE.sub("", text)
    paragraphs: list[str] = []
    for block in _PARAGRAPH_BREAK.split(text):
        lines = [_INLINE_SPACE.sub(" ", line).strip() for line in block.split("\n")]
        paragraph = "\n".join(line for line in lines if line)
        if paragraph:
            paragraphs.append(paragraph)
    return "\n\n".join(paragraphs)


def _is_chrome(line: str, patterns: Sequence[re.Pattern[str]]) -> bool:
    return any(p.fullmatch(line) for p in patterns)


def clean_text(text: str, patterns: Sequence[re.Pattern[str]] | None = None) -> CleanResult:
    """Normalise whitespace, drop chrome lines and repeated lines/paragraphs.

    Duplicates are compared after whitespace normalisation and the first occurrence
    is kept, because that is where the author put it; later copies come from
    scrapers concatenating lead, teaser and body.
    """
    if patterns is None:
        patterns = load_patterns()
    removed: list[str] = []
    seen_paragraphs: set[str] = set()
    seen_lines: set[str] = set()
    kept_paragraphs: list[str] = []
    for paragraph in normalise_whitespace(text).split("\n\n"):
        if not paragraph:
            continue
        if len(paragraph) >= _MIN_DUPLICATE_CHARS and paragraph in seen_paragraphs:
            removed.append(paragraph)
            continue
        seen_paragraphs.add(paragraph)
        kept_lines: list[str] = []
        for line in paragraph.split("\n"):
            repeated = len(line) >= _MIN_DUPLICATE_CHARS and line in seen_lines
            if repeated or _is_chrome(line, patterns):
                removed.append(line)
            else:
                seen_lines.add(line)
                kept_lines.append(line)
        if kept_lines:
            kept_paragraphs.append("\n".join(kept_lines))
    return CleanResult(text="\n\n".join(kept_paragraphs), removed=tuple(removed))
