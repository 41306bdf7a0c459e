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
  the text of a chosen sentence itself;
* the **slot** (:mod:`assistant.answer.slots`): a "how many"/"when"/"who is the
  chair" question needs a sentence holding a count, a date or a name, in a passage
  about the entities asked, scoring close to the best sentence.

Everything here is measured once per question and becomes an
:class:`~assistant.answer.policy.Evidence`; the thresholds live in the policy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

from assistant.answer import extractive
from assistant.answer.policy import Evidence
from assistant.answer.slots import numbers
from assistant.language import (
    POSSESSIVE,
    Language,
    analyse,
    frame_stems,
    hyphen_parts,
    limits,
    question_names,
    question_words,
    term_match,
)
from assistant.params import tuning
from assistant.retrieval.lexical import LexicalIndex
from assistant.types import Chunk

__all__ = ["anchor_passages", "attribute_terms", "complementing_passages", "distinctive_passages",
           "evidence", "slot_gap"]


@lru_cache(maxsize=16384)
def _bag(text: str) -> frozenset[str]:
    return frozenset(analyse(text))


@lru_cache(maxsize=4096)
def _passage_bag(chunk: Chunk) -> frozenset[str]:
    """Stems of a passage with its title and municipality; hyphenated words also count
    by their parts ("SKR-nätverk" mentions SKR)."""
    stems = set(analyse(f"{chunk.title} {chunk.municipality or ''} {chunk.text}"))
    stems |= {part for stem in stems for part in hyphen_parts(stem, limits().min_name_part)}
    return frozenset(stems)


def _known(lexical: LexicalIndex, term: str) -> bool:
    """The corpus has the term, or (hyphenated: "RUT-taket") every one of its parts."""
    parts = hyphen_parts(term, limits().min_name_part)
    return lexical.knows(term) or (bool(parts) and all(lexical.knows(p) for p in parts))


def _mentions(bag: frozenset[str], name: str) -> bool:
    """A passage mentions a name by its stem or compound, or a hyphenated name by one of
    its parts exactly: "ROT-avdrag" is mentioned by "ROT på arbetskostnaden"."""
    if term_match(name, bag) > 0:
        return True
    return any(part in bag for part in hyphen_parts(name, limits().min_name_part))


def attribute_terms(terms: Sequence[str], names: Sequence[str]) -> list[str]:
    """The question's content terms minus frame words and names: what it asks for."""
    frame = frame_stems()
    named = set(names)
    return [t for t in terms if t not in frame and t not in named
            and POSSESSIVE.sub("", t) not in named]


def _coverage(attribute: Sequence[str], weights: dict[str, float], text: str) -> float:
    """IDF-weighted share of the attribute terms matched in ``text`` itself."""
    if not attribute:
        return 1.0
    own = _bag(text)
    total = sum(weights.get(t, 1.0) for t in attribute)
    return sum(weights.get(t, 1.0) * term_match(t, set(own)) for t in attribute) / total


def slot_gap(ranked: Sequence[extractive.Candidate], passages: Sequence[Chunk],
             names: Sequence[str], attribute: Sequence[str], question: str) -> float:
    """How far below the best sentence the best one that fills the asked slot scores.

    A filler counts only if it is about what was asked:

    * its passage mentions every name (and number) of the question: "fler än 20 elever"
      in the Landskrona article does not say how many pupils a Trollhättan school has.
      A question in two parts ("vem leder … i Söderhamn och vem är … i Lund") is
      answered part by part, so one of its names is enough;
    * its own text matches at least one of the asked attribute's terms that the
      retrieved texts use at all (in a sentence or its heading and title): "fler än 20
      elever" does not count the pupils of the "modellklasser" the same article names
      elsewhere. Terms no text uses (a paraphrase) are neutral.

    ``no_filler_gap`` (:class:`~assistant.params.SlotParams`) when no candidate fills
    the slot.
    """
    no_filler = tuning().slots.no_filler_gap
    if not ranked:
        return no_filler
    parts = len(question_words(question)) > 1
    attested = [t for t in attribute if any(c.matches.get(t, 0.0) > 0 for c in ranked)]
    best = ranked[0].score
    for cand in ranked:  # best first: the first admissible filler decides
        if not cand.typed or not 0 < cand.n <= len(passages):
            continue
        bag = _passage_bag(passages[cand.n - 1])
        named = [_mentions(bag, name) for name in names]
        if names and not (any(named) if parts else all(named)):
            continue
        own = _bag(cand.text)
        if attested and not any(term_match(t, own) > 0 for t in attested):
            continue
        return min(no_filler, max(0.0, best - cand.score))
    return no_filler


def distinctive_passages(terms: Sequence[str], lexical: LexicalIndex,
                         passages: Sequence[Chunk]) -> dict[str, set[int]]:
    """The question's distinctive terms (few passages use them; not question words) that
    the retrieved passages contain verbatim, heading and title included, each with the
    numbers (1-based) of the passages holding it.

    Empty when the question asks for anything the passages never mention: "väder i
    Visby" finds the rare "Visby" but not the weather, and is no exact match."""
    params = tuning().exact_terms
    frame = frame_stems()
    content = [t for t in terms if t not in frame]
    rare = [t for t in content if lexical.distinctive(t, params.max_passages, params.max_share)]
    if not rare:
        return {}
    bags = [_passage_bag(p) for p in passages]
    if not all(any(term_match(t, bag) > 0 for bag in bags) for t in content):
        return {}
    found = {t: {n for n, bag in enumerate(bags, start=1) if t in bag} for t in rare}
    return {t: ns for t, ns in found.items() if ns}


def anchor_passages(terms: Sequence[str], lexical: LexicalIndex,
                    passages: Sequence[Chunk]) -> set[int]:
    """The passages holding the question's *most* distinctive term found verbatim (the
    one the fewest passages of the corpus use): "Ett-steg-före", not "innebär"."""
    found = distinctive_passages(terms, lexical, passages)
    if not found:
        return set()
    rarest = min(found, key=lambda t: (lexical.passage_count(t), t))
    return found[rarest]


def complementing_passages(question: str, passages: Sequence[Chunk]) -> set[int]:
    """Passages (1-based) of other documents than the best-ranked one that mention a name
    of the question the best document never mentions: "Landskronas och Lunds arbete"
    needs the Lund article beside the Landskrona one. A question in two parts ("vilken
    högskola …, och vem …") may need any of them."""
    if not passages:
        return set()
    if len(question_words(question)) > 1:
        return set(range(1, len(passages) + 1))
    names = question_names(question) + numbers(question)
    top = passages[0].doc_id
    top_bags = [_passage_bag(p) for p in passages if p.doc_id == top]
    missing = [n for n in names if not any(_mentions(bag, n) for bag in top_bags)]
    return {i for i, p in enumerate(passages, start=1)
            if p.doc_id != top and any(_mentions(_passage_bag(p), n) for n in missing)}


def evidence(
    question: str,
    language: Language,
    extract: extractive.Extract,
    best_passage: float | None,
    lexical: LexicalIndex,
    passages: Sequence[Chunk] = (),
    standout: Callable[[], float] | None = None,
    pool: Sequence[float] = (),
) -> Evidence:
    """Everything the refusal policy needs about one question and its chosen sentences.

    ``standout`` measures the best sentence against the corpus's background (one
    matrix product); ``pool`` is the dense pool's cosine per document, best first.
    """
    terms = lexical.terms(question).exact
    names = question_names(question)
    chosen = extract.sentences
    weights = chosen[0].weights if chosen else {}

    unknown = [t for t in terms if not _known(lexical, t)]
    unknown_names = [n for n in names if not _known(lexical, n)]
    # A known name must be mentioned by the passage (text, title, municipality) of a
    # chosen sentence: otherwise the quotes are about a neighbour of what was asked.
    # A number the question states ("träffarna 2011") is a name too, known to the corpus
    # or not: evidence that never mentions it is about another year or count.
    known_names = [n for n in names if n not in unknown_names] + numbers(question)
    bags = [_passage_bag(passages[c.n - 1]) for c in chosen if 0 < c.n <= len(passages)]
    missing = [n for n in known_names if not any(_mentions(bag, n) for bag in bags)]

    attribute = attribute_terms(terms, names)
    attribute_cov = max((_coverage(attribute, weights, c.text) for c in chosen), default=0.0)
    slot = extract.slot
    typed_cov: float | None = None
    gap: float | None = None
    if slot is not None:
        typed_cov = max((_coverage(attribute, weights, c.text) for c in chosen if c.typed),
                        default=0.0)
        # The heads (the counted noun, the role) are checked by the slot itself.
        gap = slot_gap(extract.ranked, passages, known_names,
                       [t for t in attribute if t not in slot.heads], question)
    return Evidence(
        language=language,
        best_passage=best_passage,
        best_lexical=extract.best_lexical,
        best_sentence=extract.best_dense,
        standout=standout() if standout is not None else None,
        second_passage=pool[1] if len(pool) > 1 else None,
        pool_mean=sum(pool) / len(pool) if len(pool) > 1 else None,
        exact_terms=len(distinctive_passages(terms, lexical, passages)),
        content_terms=len(terms),
        unknown_terms=len(unknown),
        unknown_names=tuple(unknown_names),
        known_names=len(known_names),
        missing_names=tuple(missing),
        answer_type=slot.kind if slot is not None else "",
        typed=extract.typed,
        typed_coverage=typed_cov,
        slot_gap=gap,
        attribute_coverage=attribute_cov if attribute else None,
    )
