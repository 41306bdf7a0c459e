"""Cleaning removes exactly the chrome and duplicates, never content."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant.ingest.cleaning import (
    DEFAULT_PATTERNS_FILE,
    CleanResult,
    clean_text,
    load_patterns,
)

ARTICLES = Path(__file__).resolve().parents[2] / "data" / "articles"


def article(prefix: str) -> str:
    (path,) = ARTICLES.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


LEAD_001 = (
    "Landskrona lyfts fram som ett gott exempel när det gäller skolutveckling "
    "i en rapport från SKL."
)

EXPECTED_REMOVED: dict[str, list[str]] = {
    "000": [
        "Skicka en kommentar om webbsidan till webbredaktionen. Har du en kommentar om "
        "bemötande eller om någon kommunal service skickar du istället en synpunkt.",
        "Senast uppdaterad av Johan Alsén",
    ],
    "001": [LEAD_001, LEAD_001, "Till arkivet"],
    "002": ["Skip to main content"],
    "003": [
        "Söderhamns kommuns startsida Söderhamns kommuns startsida",
        "826 80 Söderhamn",
        "Tel 0270-750 00",
        "Fax 0270-411 60",
        "E-post",
        "Söderhamn - en kommun i Hälsingland: Bollnäslänk till annan webbplats, "
        "Hudiksvalllänk till annan webbplats, Ovanåkerlänk till annan webbplats, "
        "Ljusdallänk till annan webbplats, Nordanstiglänk till annan webbplats",
        "Söderhamns kommun, 826 80 Söderhamn Tel 0270-750 00, Fax 0270-411 60, "
        "E-post - Ytterligare kontaktuppgifter",
    ],
    "004": [
        "Kontaktcenter - en väg in",
        "Öppettider",
        "Måndag–fredag: 8:00–16:30",
        "Vad kan kontaktcenter hjälpa mig med?",
        "Besök oss",
        "Gärdhemsvägen 9 461 83 Trollhättan",
    ],
}

KEPT: dict[str, list[str]] = {
    "000": [
        "Landskrona uppmärksammades för sina seminarium i Almedalen",
        "säger Annette Lindberg Mohlin, chef för individ- och familjeförvaltningen.",
        "hamnar Landskrona som nummer två bland kommuner med fler än 20 elever i gruppen.",
    ],
    "001": [
        "Ett gott exempel när det gäller skolutveckling",
        LEAD_001 + "\nGrundskolorna i Landskrona rankas högre än någonsin.",
        "säger Anders Grundberg, förvaltningschef på utbildningsförvaltningen.",
    ],
    "002": [
        "Utbyte mellan kommuner stärker skolans måluppfyllelse",
        "Pressmeddelande • Okt 10, 2012 08:30 CEST",
        "För mer information kontakta:\n"
        "Stefan Norrestam, direktör Utbildningsförvaltningen, Lunds kommun, 046-35 70 43",
        "Den 11-12 oktober 2012 träffas ett 50-tal förvaltningschefer",
        "Deltagande kommuner i årets 14-kommunersnätverksträff är: Sundsvall,",
    ],
    "003": [
        "Kommunalt kunskapslyft",
        "Kommunfullmäktige har beviljat 6,5 miljoner kronor per år",
        "Lyftet anslår 0,5 - 1 miljon kronor av potten",
        "Essunga kommun\nHaninge kommun\nHögskolan i Jönköping",
        "Granskad/Uppdaterad: 2012-11-20",
    ],
    "004": [
        "Två föreläsare på scen, vy från publikstol",
        "SKR-nätverk mot segregation besöker Trollhättans skolor",
        "Bildtext: Katarina Nyman till vänster och Karin Falck till höger",
        "Värd för SKR:s besök i Trollhättan var Katarina Nyman",
        "Det var ca 30 deltagare från hela landet",
        "Senast granskad 2023-11-09 av KLALIW",
    ],
}


@pytest.mark.parametrize("prefix", sorted(EXPECTED_REMOVED))
def test_sample_article_removed_exactly(prefix: str) -> None:
    result = clean_text(article(prefix))
    assert list(result.removed) == EXPECTED_REMOVED[prefix]


@pytest.mark.parametrize("prefix", sorted(KEPT))
def test_sample_article_keeps_content(prefix: str) -> None:
    result = clean_text(article(prefix))
    for fragment in KEPT[prefix]:
        assert fragment in result.text


@pytest.mark.parametrize("prefix", sorted(KEPT))
def test_sample_article_only_loses_removed_lines(prefix: str) -> None:
    """Every raw line is either in the cleaned text or listed in ``removed``."""
    raw = article(prefix)
    result = clean_text(raw)
    kept_lines = set(result.text.split("\n"))
    removed = list(result.removed)
    for line in raw.split("\n"):
        line = " ".join(line.replace("\u00a0", " ").split())
        if not line:
            continue
        if line in kept_lines and line not in removed:
            continue
        assert line in removed, line
        removed.remove(line)
    assert removed == []


@pytest.mark.parametrize("prefix", sorted(KEPT))
def test_sample_article_output_is_normalised(prefix: str) -> None:
    text = clean_text(article(prefix)).text
    assert "\n\n\n" not in text
    assert "\u00a0" not in text
    assert "  " not in text
    assert all(line == line.strip() for line in text.split("\n"))
    assert clean_text(text).text == text  # idempotent
    assert clean_text(text).removed == ()


def test_lead_sentence_kept_once() -> None:
    assert clean_text(article("001")).text.count(LEAD_001) == 1


# --------------------------------------------------------------------------- units


def test_whitespace_normalisation() -> None:
    raw = (
        "  Rubrik\u00a0med\u202fNBSP \r\n\r\n\r\n\tFörsta  rad\t\tmed tabbar \r\n"
        "Andra\u00adrad\n   \n\n"
    )
    result = clean_text(raw, patterns=())
    assert result == CleanResult(text="Rubrik med NBSP\n\nFörsta rad med tabbar\nAndrarad",
                                 removed=())


def test_duplicate_lines_and_paragraphs_keep_first() -> None:
    para = "Ett stycke som upprepas av skrapan.\nMed två rader i sig."
    raw = f"{para}\n\nMellan.\n\n{para.replace(' ', '  ')}\n\nSlut med  Ett stycke som."
    result = clean_text(raw, patterns=())
    assert result.text == f"{para}\n\nMellan.\n\nSlut med Ett stycke som."
    assert result.removed == (para,)


def test_short_repeated_lines_are_kept() -> None:
    raw = "Fakta:\nA är bra.\n\nFakta:\nB är också bra."
    assert clean_text(raw, patterns=()).text == raw


def test_patterns_match_whole_line_only_case_insensitive() -> None:
    patterns = (re.compile("till arkivet", re.IGNORECASE),)
    raw = "TILL ARKIVET\n\nGå till arkivet för fler nyheter.\n\nTill arkivet"
    result = clean_text(raw, patterns)
    assert result.text == "Gå till arkivet för fler nyheter."
    assert result.removed == ("TILL ARKIVET", "Till arkivet")


def test_default_patterns_keep_dated_lines_and_content() -> None:
    keep = [
        "Granskad/Uppdaterad: 2012-11-20",
        "Senast granskad 2023-11-09 av KLALIW",
        "Senast uppdaterad 2021-03-04",
        "Bildtext: Katarina Nyman till vänster och Karin Falck till höger",
        "Kontakter och samarbetspartners",
        "Essunga kommun",
        "Cirka 100 pedagoger utbildas i entreprenöriellt förhållningssätt av Umeå Universitet.",
        "Tel: Stefan Norrestam svarar på frågor om 6,5 miljoner kronor.",
        "Skolan har öppet måndag–fredag för alla elever.",
    ]
    result = clean_text("\n\n".join(keep))
    assert result.removed == ()


def test_default_patterns_cover_common_chrome() -> None:
    chrome = [
        "Hoppa till huvudinnehållet",
        "Till startsidan",
        "Meny Meny",
        "Telefon: 08-123 456 78",
        "E-post: info@kommun.se",
        "Mån–fre kl. 8–17",
        "Sidansvarig: Anna Andersson",
    ]
    assert clean_text("\n\n".join(chrome)).removed == tuple(chrome)


def test_default_file_loads() -> None:
    patterns = load_patterns()
    assert DEFAULT_PATTERNS_FILE.name == "chrome_patterns.txt"
    assert DEFAULT_PATTERNS_FILE.parent == Path(__file__).resolve().parents[2] / "assistant" / (
        "ingest"
    )
    assert patterns and all(p.flags & re.IGNORECASE for p in patterns)
    assert load_patterns(None) == patterns


def test_custom_patterns_file(tmp_path: Path) -> None:
    path = tmp_path / "chrome.txt"
    path.write_text("# kommentar\n\nDela på Facebook\n  Läs mer  \n\\#hashtag\n", "utf-8")
    patterns = load_patterns(path)
    assert [p.pattern for p in patterns] == ["Dela på Facebook", "Läs mer", "\\#hashtag"]
    result = clean_text("dela på facebook\nLäs mer\n#hashtag\nTill arkivet", patterns)
    assert result.text == "Till arkivet"  # the default patterns are not used


def test_bad_regex_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "chrome.txt"
    path.write_text("# ok\nSkip to main content\nTel (\\d+\n", "utf-8")
    with pytest.raises(ValueError, match=r"chrome\.txt:3: invalid regular expression") as info:
        load_patterns(path)
    assert str(path) in str(info.value)


def test_empty_text() -> None:
    assert clean_text("") == CleanResult(text="", removed=())
    assert clean_text(" \n\u00a0\n") == CleanResult(text="", removed=())
