"""Swedish language analysis: one set of rules for retrieval, answering and citation checks.

Why one module: what counts as "the same word" decides what BM25 finds, which sentences
the extractive answerer quotes and whether a citation is supported. When those rules
lived in three places they drifted apart; here each exists once:

- :func:`analyse`: lower-case, drop stopwords, Snowball-stem;
- :func:`extends` / :func:`compound_match`: compounds and inflections. Swedish writes
  compounds as one word ("skolsegregationen", "kunskapslyftet") and the stemmer leaves
  them whole, so a term also matches the words that begin with it (a head, at least
  :data:`MIN_PREFIX` characters) or end with it (a tail, at least :data:`MIN_SUFFIX`);
- :func:`term_match`: exact stems count 1, compound/inflection matches
  :data:`EXPANDED_MATCH`;
- :func:`jaccard`: set overlap, for near-duplicate passages and redundant quotes;
- :func:`detect_language`: Swedish or English question, offline.

Stemmer and stopword list are loaded lazily: importing this module loads neither.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from collections.abc import Set as AbstractSet
from functools import lru_cache
from typing import Literal

from assistant.text import words

__all__ = [
    "EXPANDED_MATCH",
    "MIN_PREFIX",
    "MIN_SUFFIX",
    "Language",
    "analyse",
    "compound_match",
    "detect_language",
    "extends",
    "jaccard",
    "stopwords",
    "term_match",
]

Language = Literal["sv", "en"]

MIN_PREFIX = 4  # "lund" → "lundalärare"; shorter stems match too much
MIN_SUFFIX = 6  # "segregation" → "skolsegregation"; short tails are often accidental
EXPANDED_MATCH = 0.5  # a compound/inflection match counts half an exact one


@lru_cache(maxsize=1)
def _stemmer() -> object:
    import Stemmer

    return Stemmer.Stemmer("swedish")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_SWEDISH

    # Question words are noise for matching but the list keeps "mot", "inom" etc.
    return frozenset(STOPWORDS_SWEDISH) | {"vilket", "vilka", "hur", "vad", "vem", "när",
                                           "the", "a", "an", "of", "in", "what", "who", "how",
                                           "did", "does", "is", "are", "was", "to", "and"}


def analyse(text: str) -> list[str]:
    """Lower-case, drop stopwords, Snowball-stem. Short content words ("SKR", "Lund") stay."""
    kept = [w for w in words(text) if w not in stopwords()]
    return list(_stemmer().stemWords(kept))  # type: ignore[attr-defined]


def extends(part: str, word: str) -> bool:
    """``word`` is built on ``part``: it begins with it (a compound head or an inflection,
    ``part`` at least MIN_PREFIX long) or ends with it (a compound tail, at least
    MIN_SUFFIX long). "segregation" → "skolsegregation", "lund" → "lundalärare"."""
    return word != part and (
        (len(part) >= MIN_PREFIX and word.startswith(part))
        or (len(part) >= MIN_SUFFIX and word.endswith(part))
    )


@lru_cache(maxsize=65536)  # pure, and called for every (question term, sentence word) pair
def compound_match(term: str, token: str) -> bool:
    """``token`` is a compound or inflection of ``term``, or ``term`` an inflection of
    ``token``.

    "kunskapslyft" ~ "kunskapslyftet", "segregation" ~ "skolsegregationen",
    "fokuser" ~ "fokus"; hyphenated terms match on any long part
    ("skr-nätverket" ~ "nätverket"). Not symmetric on purpose: a compound term does not
    match its bare tail ("skolsegregation" is not supported by "segregation"), because the
    compound asks for something more specific.
    """
    if term == token or extends(term, token):
        return True
    if len(token) >= MIN_PREFIX and term.startswith(token):
        return True
    if "-" in term:
        return any(len(p) >= MIN_PREFIX and compound_match(p, token)
                   for p in term.split("-"))
    return False


def term_match(term: str, bag: Collection[str]) -> float:
    """1 for the exact stem, EXPANDED_MATCH for a compound/inflection, else 0."""
    if term in bag:
        return 1.0
    if any(compound_match(term, token) for token in bag):
        return EXPANDED_MATCH
    return 0.0


def jaccard(a: AbstractSet[str], b: AbstractSet[str]) -> float:
    """|a ∩ b| / |a ∪ b| of two word sets; 0 when either is empty."""
    return len(a & b) / len(a | b) if a and b else 0.0


_SV_WORDS = frozenset((
    "och", "att", "det", "som", "är", "av", "för", "med", "på", "till", "vad", "hur", "vem",
    "vilka", "vilken", "vilket", "när", "varför", "var", "gjorde", "gör", "har", "hade", "inte",
    "om", "jag", "vi", "de", "den", "ett", "en", "kan", "ska", "skulle", "finns", "fanns",
    "blev", "eller", "men", "också", "från", "mot", "hos", "efter", "sina", "sitt", "sin",
    "deras", "vår", "våra", "här", "där", "något",
))
_EN_WORDS = frozenset((
    "the", "and", "what", "how", "who", "which", "whom", "when", "why", "where", "did", "does",
    "do", "is", "are", "was", "were", "has", "have", "had", "not", "about", "with", "from",
    "against", "for", "of", "to", "in", "on", "at", "this", "that", "these", "those", "their",
    "its", "can", "could", "should", "would", "there", "any", "some", "into", "by", "an",
))
_SV_LETTERS = re.compile(r"[åäö]")


def detect_language(text: str) -> Language:
    """``"en"`` or ``"sv"`` from function words, cheaply and offline.

    Each known Swedish or English function word scores one point for its language; a
    lower-case word with å/ä/ö scores for Swedish (capitalised words are skipped: names like
    "Trollhättan" appear in English questions too). Ties go to Swedish, the default.
    """
    sv = en = 0
    for raw in re.findall(r"\w+", text, re.UNICODE):
        word = raw.lower()
        if word in _SV_WORDS:
            sv += 1
        elif word in _EN_WORDS:
            en += 1
        elif raw[0].islower() and _SV_LETTERS.search(word):
            sv += 1
    return "en" if en > sv else "sv"
