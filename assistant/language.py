"""Swedish language rules: one home for what retrieval, answering and citation checks
agree a word, a compound, a question word, a name or a back-pointing word is.

Why one module: what counts as "the same word" decides what BM25 finds, which sentences
the extractive answerer quotes and whether a citation is supported. When those rules
lived in several places they drifted apart (three different compound-tail limits, six
readings of a hyphen, four lists of question words); here each exists once:

- **tokens**: :func:`tokens` / :func:`words` (one pattern, :func:`token_pattern`; a
  figure reader joins "6,5" and "1.200" too, see :data:`FIGURE_JOINERS`);
- **terms**: :func:`analyse` (lower-case, drop :func:`stopwords`, Snowball-stem) and
  :func:`jaccard`;
- **compounds and hyphens**: :func:`extends` / :func:`compound_match` /
  :func:`term_match` on the open vocabulary (heads of ``min_prefix``, tails of
  ``min_suffix``), :func:`has_listed_tail` on hand-picked noun lists
  (``min_listed_suffix``), :func:`hyphen_parts` with ``min_prefix`` for parts
  matched as words and ``min_name_part`` for parts of a name;
- **language**: :func:`detect_language`;
- **questions**: :data:`QUESTION_WORDS`, :func:`question_words`, :data:`FRAME_WORDS` /
  :func:`frame_stems`, and the names a question gives (:func:`question_names`);
- **names in text**: :func:`capitalised_words`, :func:`person_names`;
- **back-pointing words**: :data:`POINTING_BACK` (:func:`points_back`, for follow-up
  questions) and :func:`opens_pointing_back` (for a sentence quoted with the one
  before it).

Stemmer and stopword list are loaded lazily: importing this module loads neither.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from collections.abc import Set as AbstractSet
from functools import lru_cache
from typing import Literal

from assistant.params import LanguageParams, tuning

__all__ = [
    "limits",
    "FIGURE_JOINERS",
    "FRAME_WORDS",
    "POINTING_BACK",
    "POSSESSIVE",
    "QUESTION_WORDS",
    "WORD_JOINERS",
    "Language",
    "analyse",
    "capitalised_words",
    "compound_match",
    "detect_language",
    "extends",
    "frame_stems",
    "has_listed_tail",
    "hyphen_parts",
    "jaccard",
    "opens_pointing_back",
    "person_names",
    "points_back",
    "question_names",
    "question_words",
    "stopwords",
    "term_match",
    "TermMatcher",
    "token_pattern",
    "tokens",
    "words",
]

Language = Literal["sv", "en"]

# --------------------------------------------------------------------------- limits

def limits() -> LanguageParams:
    """The word-length limits of the rules below (hand-set; :class:`LanguageParams` says
    why there are two tail limits and two part limits)."""
    return tuning().language

# --------------------------------------------------------------------------- tokens

WORD_JOINERS = "-:"
"""Characters that join word characters into one word: "14-kommunersnätverket",
"SKR:s" stay whole (a hyphenated word is split only by :func:`hyphen_parts`)."""

FIGURE_JOINERS = "-:/.,"
"""Word joiners plus what joins the parts of a figure: "6,5", "1.200", "2011/12" stay
one token where numbers are read (the slots' counts and role windows)."""


@lru_cache(maxsize=4)
def token_pattern(joiners: str = WORD_JOINERS) -> re.Pattern[str]:
    """Runs of word characters, joined by single ``joiners`` characters."""
    return re.compile(rf"\w+(?:[{re.escape(joiners)}]\w+)*", re.UNICODE)


def tokens(text: str) -> list[str]:
    """Word tokens as written (case kept): "Vad gör SKR:s 14-kommunersnätverk?" →
    ``["Vad", "gör", "SKR:s", "14-kommunersnätverk"]``."""
    return token_pattern().findall(text)


def words(text: str) -> list[str]:
    """Lower-cased word tokens; keeps "14-kommunersnätverket", "SKR:s" and numbers whole."""
    return [w.lower() for w in tokens(text)]


# --------------------------------------------------------------------------- questions

QUESTION_WORDS: dict[Language, frozenset[str]] = {
    "sv": frozenset(("vem", "vad", "när", "hur", "vilken", "vilket", "vilka", "vilkas", "var",
                     "varför")),
    "en": frozenset(("who", "whom", "what", "when", "how", "which", "where", "why")),
}
"""The words that ask. They frame a question (:data:`FRAME_WORDS`), count as function
words for :func:`detect_language`, and more than one of them in a question makes it a
question in parts (:func:`question_words`)."""

_QUESTION_WORD = re.compile(
    r"\b(" + "|".join(sorted(QUESTION_WORDS["sv"] | QUESTION_WORDS["en"])) + r")\b",
    re.IGNORECASE)

FRAME_WORDS = " ".join(sorted(QUESTION_WORDS["sv"] | QUESTION_WORDS["en"])) + (
    " många mycket år fick får går gör göra ska står kom finns hölls hålls heter sa sade "
    "säger varit blev blir kan ge enligt artiklarna artikeln nämns nämner "
    "many much year does did do will were was is are be been have has had the of "
    "according article articles mentioned"
)
"""Words that frame a question rather than name what it asks about (stemmed on use,
:func:`frame_stems`): the question words, auxiliaries, "enligt artiklarna"."""


def question_words(text: str) -> list[str]:
    """The question words of ``text`` in order: ``"vem leder … och vem är …"`` gives
    two, a question in two parts."""
    return _QUESTION_WORD.findall(text)


@lru_cache(maxsize=1)
def frame_stems() -> frozenset[str]:
    return frozenset(analyse(FRAME_WORDS))


# --------------------------------------------------------------------------- terms

# English function words that are never content: the question words a question
# typically opens with ("what", "who", "how") and auxiliaries/articles. (Every Swedish
# question word is already in the Swedish list.) "which", "when", "where", "why" and
# "whom" stay terms: retrieval and refusal were calibrated with them.
_ENGLISH_STOPWORDS = frozenset(("the", "a", "an", "of", "in", "what", "who", "how", "did",
                                "does", "is", "are", "was", "to", "and"))


@lru_cache(maxsize=1)
def _stemmer() -> object:
    import Stemmer

    return Stemmer.Stemmer("swedish")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_SWEDISH

    # Question words are noise for matching but the list keeps "mot", "inom" etc.
    return frozenset(STOPWORDS_SWEDISH) | QUESTION_WORDS["sv"] | _ENGLISH_STOPWORDS


def analyse(text: str) -> list[str]:
    """Lower-case, drop stopwords, Snowball-stem. Short content words ("SKR", "Lund") stay."""
    kept = [w for w in words(text) if w not in stopwords()]
    return list(_stemmer().stemWords(kept))  # type: ignore[attr-defined]


def jaccard(a: AbstractSet[str], b: AbstractSet[str]) -> float:
    """|a ∩ b| / |a ∪ b| of two word sets; 0 when either is empty."""
    return len(a & b) / len(a | b) if a and b else 0.0


# --------------------------------------------------------------------------- compounds

def hyphen_parts(word: str, min_length: int) -> list[str]:
    """The parts of a hyphenated word at least ``min_length`` long; ``[]`` without a
    hyphen. ``min_prefix`` where a part is matched as a word ("skr-nätverket" →
    "nätverket"), ``min_name_part`` where it is part of a name ("ROT-avdrag" →
    "rot", "avdrag")."""
    if "-" not in word:
        return []
    return [part for part in word.split("-") if part and len(part) >= min_length]


def _has_head(word: str, head: str) -> bool:
    return len(head) >= limits().min_prefix and word.startswith(head)


def _has_tail(word: str, tail: str, min_tail: int) -> bool:
    return len(tail) >= min_tail and word.endswith(tail)


def extends(part: str, word: str) -> bool:
    """``word`` is built on ``part``: it begins with it (a compound head or an inflection,
    ``part`` at least ``min_prefix`` long) or ends with it (a compound tail, at least
    ``min_suffix`` long). "segregation" → "skolsegregation", "lund" → "lundalärare"."""
    return word != part and (_has_head(word, part) or _has_tail(word, part, limits().min_suffix))


def has_listed_tail(word: str, nouns: Iterable[str]) -> bool:
    """``word`` is one of the hand-picked head ``nouns`` or a compound ending in one
    ("förbundsordförande", "meritvärde"), tails of ``min_listed_suffix`` or more."""
    return any(_has_tail(word, noun, limits().min_listed_suffix) for noun in nouns)


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
    if term == token or extends(term, token) or _has_head(term, token):
        return True
    return any(compound_match(p, token) for p in hyphen_parts(term, limits().min_prefix))


def term_match(term: str, bag: Collection[str]) -> float:
    """1 for the exact stem, ``expanded_match`` for a compound/inflection, else 0."""
    if term in bag:
        return 1.0
    if any(compound_match(term, token) for token in bag):
        return limits().expanded_match
    return 0.0


class TermMatcher:
    """:func:`term_match` for a few terms against many bags drawn from one vocabulary.

    Scoring a question's sentences asks the same terms of a hundred bags that share most
    of their words (a passage's title, heading and neighbours are in each sentence's
    context). Which vocabulary words extend each term is found once, and a bag then
    matches by one set intersection in C. A bag with a word outside ``vocabulary`` is
    answered by :func:`term_match` itself, so the answers are always the same.
    """

    def __init__(self, terms: Iterable[str], vocabulary: Iterable[str]) -> None:
        self._vocabulary = frozenset(vocabulary)
        self._extending = {t: self._words_extending(t) for t in set(terms)}

    def _words_extending(self, term: str) -> frozenset[str]:
        # compound_match(term, w) needs one of the words to begin or end with the other,
        # unless a part of a hyphenated term matches: a cheap test first, then the rule.
        if hyphen_parts(term, limits().min_prefix):
            return frozenset(w for w in self._vocabulary
                             if w != term and compound_match(term, w))
        return frozenset(w for w in self._vocabulary
                         if w != term and (w.startswith(term) or w.endswith(term)
                                           or term.startswith(w))
                         and compound_match(term, w))

    def __call__(self, term: str, bag: Collection[str]) -> float:
        if term in bag:
            return 1.0
        extending = self._extending.get(term)
        if extending is None or not self._vocabulary.issuperset(bag):
            return term_match(term, bag)
        return 0.0 if extending.isdisjoint(bag) else limits().expanded_match


# --------------------------------------------------------------------------- language

_SV_WORDS = QUESTION_WORDS["sv"] | frozenset((
    "och", "att", "det", "som", "är", "av", "för", "med", "på", "till", "gjorde", "gör",
    "har", "hade", "inte", "om", "jag", "vi", "de", "den", "ett", "en", "kan", "ska",
    "skulle", "finns", "fanns", "blev", "eller", "men", "också", "från", "mot", "hos",
    "efter", "sina", "sitt", "sin", "deras", "vår", "våra", "här", "där", "något",
))
_EN_WORDS = QUESTION_WORDS["en"] | frozenset((
    "the", "and", "did", "does", "do", "is", "are", "was", "were", "has", "have", "had",
    "not", "about", "with", "from", "against", "for", "of", "to", "in", "on", "at", "this",
    "that", "these", "those", "their", "its", "can", "could", "should", "would", "there",
    "any", "some", "into", "by", "an",
))
_SV_LETTERS = re.compile(r"[åäö]")


def detect_language(text: str) -> Language:
    """``"en"`` or ``"sv"`` from function words, cheaply and offline.

    Each known Swedish or English function word (question words included) scores one
    point for its language; a lower-case word with å/ä/ö scores for Swedish (capitalised
    words are skipped: names like "Trollhättan" appear in English questions too). Ties go
    to Swedish, the default.
    """
    sv = en = 0
    for raw in tokens(text):
        word = raw.lower()
        if word in _SV_WORDS:
            sv += 1
        elif word in _EN_WORDS:
            en += 1
        elif raw[0].islower() and _SV_LETTERS.search(word):
            sv += 1
    return "en" if en > sv else "sv"


# --------------------------------------------------------------------------- names

POSSESSIVE = re.compile(r"(?:'s|:s|’s)$", re.IGNORECASE)
"""A possessive ending a name: "SKL:s", "Söderhamn's" are SKL and Söderhamn."""

# A capitalised word that does not open the text or a sentence.
_CAPITALISED = re.compile(r"(?<![.!?:]\s)(?<!^)\b[A-ZÅÄÖ][\w-]+")
# A first and last name, either of them double ("Anna-Karin Ek", "Matz Nilsson").
_PERSON_NAME = re.compile(r"\b[A-ZÅÄÖ][a-zåäöéüø]+(?:-[A-ZÅÄÖ][a-zåäöéüø]+)?\s+"
                          r"[A-ZÅÄÖ][a-zåäöéüø]+(?:-[A-ZÅÄÖ][a-zåäöéüø]+)?\b")


def question_names(question: str) -> list[str]:
    """Stems of the capitalised words after the first: the entities a question names.

    "SKL:s" and "Söderhamn's" lose their possessive, so they match "SKL" and
    "Söderhamn" in the articles; frame words ("Vad", "What") are no names.
    """
    stems: list[str] = []
    for token in tokens(question)[1:]:
        if token[0].isupper():
            stems.extend(analyse(POSSESSIVE.sub("", token)))
    frame = frame_stems()
    return [s for s in dict.fromkeys(stems) if s not in frame]


def capitalised_words(text: str) -> list[str]:
    """Capitalised words inside a sentence (not its first word): the names it may give."""
    return _CAPITALISED.findall(text)


def person_names(text: str) -> list[tuple[int, str]]:
    """Each person's name in ``text`` ("Matz Nilsson", "Anna-Karin Ek") and where it
    starts."""
    return [(m.start(), m.group()) for m in _PERSON_NAME.finditer(text)]


# --------------------------------------------------------------------------- pointing back

POINTING_BACK = frozenset((
    "det", "den", "de", "dem", "deras", "dess", "där", "dit", "då", "hon", "han", "hen",
    "henne", "honom", "hans", "hennes", "detta", "denna", "dessa", "samma", "it", "they",
    "them", "their", "there", "that", "this", "these", "those", "he", "she", "his", "her",
    "its",
))
"""Words that point back at something said before ("hon", "dessa", "där", "their"). A
follow-up question using one is never standalone (:func:`points_back`)."""

_ALSO_POINTING_NOWHERE = frozenset(("det", "den", "de", "där", "dit", "då", "it", "there",
                                    "that"))
"""Back-pointing words that also open sentences pointing nowhere: a dummy subject
("Det finns", "It is", "There are"), an article ("Den nya skolan", "De flesta") or a
place or time adverb ("Där ligger", "Då"). They do not make a sentence lean on the one
before it, except in "det här …" and "det/den är en av …"."""

_OPENS_POINTING_BACK = re.compile(
    r"^\W*(" + "|".join(sorted(POINTING_BACK - _ALSO_POINTING_NOWHERE))
    + r"|därför|therefore|det här|(det|den) (är|var) (en|ett) av"
    + r"|(det|så) (säger|sa|sade|menar|berättar|konstaterar|förklarar|skriver|tycker"
    + r"|anser|framhåller|betonar))\b",
    re.IGNORECASE)


def points_back(question: str) -> bool:
    """The question uses a word that points back into the conversation ("det arbetet")."""
    return any(w in POINTING_BACK for w in words(question))


def opens_pointing_back(sentence: str) -> bool:
    """The sentence opens by pointing at the one before it ("Därför …", "Hon leder …",
    "Det är en av …", or attributes the quote before it: "Det säger Karin Falck, …"),
    so it says little when quoted alone."""
    return bool(_OPENS_POINTING_BACK.match(sentence))
