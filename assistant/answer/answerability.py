"""Measuring whether the chosen evidence covers what a question *asks*, not only its topic.

A near-miss question ("Hur många besökare kom till Landskronas seminarier?") is about
an entity the corpus covers and retrieves perfectly; what it asks for (a head count)
is not stated. Similarity to the question cannot tell the two apart, because the
entity dominates both. So the question's terms are split:

* **frame** words (question words, "enligt artiklarna", auxiliaries) say nothing
  about content and are dropped;
* **names** (capitalised words after the first) are the entity the retriever
  matched: they may be covered anywhere in the passage a chosen sentence comes from
  (with its title and municipality), but a name the corpus knows that none of those
  passages mentions means the evidence is about a neighbour (same attribute, other
  municipality);
* the rest are the **asked attribute**: it must be matched (stem or compound) in
  the text of a chosen sentence itself; for a "how many"/"when" question in the
  sentence that carries the number/date.

Everything here is measured once per question and becomes an
:class:`~assistant.answer.policy.Evidence`; the thresholds live in the policy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache

from assistant.answer import extractive
from assistant.answer.policy import Evidence
from assistant.language import Language, analyse, term_match
from assistant.retrieval.lexical import LexicalIndex
from assistant.types import Chunk

__all__ = ["FRAME_WORDS", "attribute_terms", "evidence", "question_names"]

# Words that frame a question rather than name what it asks about (stemmed on use).
FRAME_WORDS = (
    "många mycket år vilket vilken vilka vem vad när hur var varför "
    "fick får går gör göra ska står kom finns hölls hålls heter sa sade säger "
    "varit blev blir kan ge enligt artiklarna artikeln nämns nämner "
    "how many much which who whom what when where why year does did do will were was "
    "is are be been have has had the of according article articles mentioned"
)
_TOKEN = re.compile(r"\w+(?:[-:]\w+)*")
_POSSESSIVE = re.compile(r"(?:'s|:s|’s)$", re.IGNORECASE)


@lru_cache(maxsize=1)
def _frame() -> frozenset[str]:
    return frozenset(analyse(FRAME_WORDS))


@lru_cache(maxsize=16384)
def _bag(text: str) -> frozenset[str]:
    return frozenset(analyse(text))


@lru_cache(maxsize=4096)
def _passage_bag(chunk: Chunk) -> frozenset[str]:
    """Stems of a passage with its title and municipality; hyphenated words also count
    by their parts ("SKR-nätverk" mentions SKR)."""
    stems = set(analyse(f"{chunk.title} {chunk.municipality or ''} {chunk.text}"))
    stems |= {part for stem in stems if "-" in stem for part in stem.split("-") if part}
    return frozenset(stems)


def _parts(term: str) -> list[str]:
    return [part for part in term.split("-") if part]


def _known(lexical: LexicalIndex, term: str) -> bool:
    """The corpus has the term, or (hyphenated: "RUT-taket") every one of its parts."""
    return lexical.knows(term) or ("-" in term and all(lexical.knows(p) for p in _parts(term)))


def _mentions(bag: frozenset[str], name: str) -> bool:
    """A passage mentions a name by its stem or compound, or a hyphenated name by one of
    its parts exactly: "ROT-avdrag" is mentioned by "ROT på arbetskostnaden"."""
    if term_match(name, bag) > 0:
        return True
    return "-" in name and any(part in bag for part in _parts(name))


def question_names(question: str) -> list[str]:
    """Stems of the capitalised words after the first: the entities a question names.

    "SKL:s" and "Söderhamn's" lose their possessive, so they match "SKL" and
    "Söderhamn" in the articles.
    """
    tokens = _TOKEN.findall(question)[1:]
    stems: list[str] = []
    for token in tokens:
        if token[0].isupper():
            stems.extend(analyse(_POSSESSIVE.sub("", token)))
    frame = _frame()
    return [s for s in dict.fromkeys(stems) if s not in frame]


def attribute_terms(terms: Sequence[str], names: Sequence[str]) -> list[str]:
    """The question's content terms minus frame words and names: what it asks for."""
    frame = _frame()
    named = set(names)
    return [t for t in terms if t not in frame and t not in named
            and _POSSESSIVE.sub("", t) not in named]


def _coverage(attribute: Sequence[str], weights: dict[str, float], text: str) -> float:
    """IDF-weighted share of the attribute terms matched in ``text`` itself."""
    if not attribute:
        return 1.0
    own = _bag(text)
    total = sum(weights.get(t, 1.0) for t in attribute)
    return sum(weights.get(t, 1.0) * term_match(t, set(own)) for t in attribute) / total


def evidence(
    question: str,
    language: Language,
    extract: extractive.Extract,
    best_passage: float | None,
    lexical: LexicalIndex,
    passages: Sequence[Chunk] = (),
    standout: Callable[[], float] | None = None,
) -> Evidence:
    """Everything the refusal policy needs about one question and its chosen sentences.

    ``standout`` is only called for English questions (it costs a matrix product).
    """
    terms = lexical.terms(question).exact
    names = question_names(question)
    chosen = extract.sentences
    weights = chosen[0].weights if chosen else {}

    unknown = [t for t in terms if not _known(lexical, t)]
    unknown_names = [n for n in names if not _known(lexical, n)]
    # A known name must be mentioned by the passage (text, title, municipality) of a
    # chosen sentence: otherwise the quotes are about a neighbour of what was asked.
    known_names = [n for n in names if n not in unknown_names]
    bags = [_passage_bag(passages[c.n - 1]) for c in chosen if 0 < c.n <= len(passages)]
    missing = [n for n in known_names if not any(_mentions(bag, n) for bag in bags)]

    attribute = attribute_terms(terms, names)
    attribute_cov = max((_coverage(attribute, weights, c.text) for c in chosen), default=0.0)
    kind = extractive.answer_type(question)
    typed_cov: float | None = None
    if kind:
        typed_cov = max((_coverage(attribute, weights, c.text) for c in chosen
                         if extractive.has_type(c.text, kind)), default=0.0)
    return Evidence(
        language=language,
        best_passage=best_passage,
        best_lexical=extract.best_lexical,
        best_sentence=extract.best_dense,
        standout=standout() if language == "en" and standout is not None else None,
        content_terms=len(terms),
        unknown_terms=len(unknown),
        unknown_names=tuple(unknown_names),
        known_names=len(known_names),
        missing_names=tuple(missing),
        answer_type=kind,
        typed=extract.typed,
        typed_coverage=typed_cov,
        attribute_coverage=attribute_cov if attribute else None,
    )
