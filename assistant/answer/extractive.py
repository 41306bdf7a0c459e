"""The offline answerer: the best supporting sentences, quoted verbatim, each cited.

Quoting keeps names, numbers and dates exactly as the article has them, and every
sentence carries the number of the passage it was taken from, so a citation can
never point at a passage that does not contain the claim.

Scoring a sentence against the question combines

* the cosine similarity of its precomputed vector (no embedding at question time);
* IDF-weighted coverage of the question's content terms. Weights come from the
  candidate sentences themselves: a term every candidate shares (the municipality of
  the only retrieved article, "kunskapslyft" in an article about it) says little,
  the rare one ("samarbetspartners", "Ett-steg-före") says which sentence answers;
* context: a sentence also covers, at half weight, the terms of its section heading
  and its article's title and municipality ("Ett-steg-före\\nEn skola … gå före …",
  "Vem leder skolförvaltningen i Söderhamn?" answered by a sentence without the name);
* the slot the question asks to fill (:mod:`assistant.answer.slots`): a "hur många",
  "när" or "vem är ordförande" question prefers sentences with a count, a date or a
  named person.

A run of short lines under a heading (a list of partners, schools, municipalities)
is one candidate, so a list question gets the whole list.

What is quoted is chosen apart from the evidence the refusal policy judges
(:func:`compose_choice`): the sentence that best fills what is asked leads (a slot
filler, one that stands on its own rather than one quoted with the sentence it points
back to, then within the best-ranked article one showing the question's lead cue:
a reason for "varför", the words of an abbreviation, :func:`~assistant.answer.slots.lead_cue`);
sentences come only from passages near the best one and of the municipality
the question names; a "vem/när/hur många" question gets one or two; a follow-up only
sentences about what it asks ("Vilka resultat fick de?"), or none. A sentence opening
by pointing back ("Hon …", "Det säger Karin Falck, …") is quoted with the sentence
before it, or left out when it opens its paragraph; a sentence cut after an
abbreviation ("… enligt PBL 9 kap.") is joined to the rest.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from assistant.answer.slots import Cue, Slot
from assistant.citations import (
    HEDGE_TEXT,
    HEDGE_TEXT_EN,
    as_quote,
    plain_place_and_date,
    plain_text,
)
from assistant.language import (
    TermMatcher,
    analyse,
    jaccard,
    opens_pointing_back,
    term_match,
    words,
)
from assistant.params import ExtractiveParams, tuning
from assistant.retrieval.lexical import QueryTerms
from assistant.text import paragraph_spans, sentence_spans
from assistant.types import Chunk, ScoredChunk

# Weights, margins and the sizes of headings and lists: ExtractiveParams
# (assistant/params.py, section "extractive" of assistant/calibration.json).
UNIT_CACHE_CHUNKS = 4096  # passages whose split and stemmed sentences are kept

# (doc_id, start, end, vector) of a stored sentence; offsets are document-wide.
SentenceVector = tuple[str, int, int, "Sequence[float] | np.ndarray"]
# A quotation whose speaker is named in a following sentence of the paragraph.
_QUOTE_OPEN = re.compile(r"^\s*[-–—”\"]")
_SAYS = re.compile(r"\b(säger|sa|sade|menar|berättar|konstaterar|förklarar|says|said)\b",
                   re.IGNORECASE)
_FINAL = re.compile(r"[.!?:;,\"”’]$")
# A sentence split after an abbreviation ("… enligt PBL 9 kap." + "43 § om …") is a
# fragment of the next one: quoted alone it reads as a heading.
_ABBREVIATION_END = re.compile(r"\b(kap|st|p|nr|jfr|resp|ca|bl\.a|t\.ex|m\.m|m\.fl|fr\.o\.m|"
                               r"t\.o\.m|e\.g|i\.e|no|art|sec)\.\s*$", re.IGNORECASE)


@dataclass
class Candidate:
    n: int  # source number of the best-ranked passage containing the sentence
    start: int  # offsets within that passage's text
    end: int
    text: str
    dense: float
    lexical: float
    score: float
    matches: dict[str, float] = field(default_factory=dict)  # term → 0..1
    typed: bool = True  # fills the slot the question asks for (a count, a date, a name)
    weights: dict[str, float] = field(default_factory=dict)  # shared by one ranking
    leans: bool = False  # quoted with the sentence before it, which it points back to
    sentence: str = ""  # the sentence itself, when ``text`` quotes more around it


@dataclass
class Extract:
    sentences: list[Candidate] = field(default_factory=list)
    best_lexical: float = 0.0  # best IDF-weighted term coverage among the top candidates
    best_dense: float = 0.0
    typed: bool = True  # a chosen sentence has the expected answer type
    ranked: Sequence[Candidate] = ()  # every candidate, best first (what was not chosen too)
    slot: Slot | None = None  # what the question asks to fill (assistant.answer.slots)
    # What the answer quotes, lead first, when composing chose otherwise than the
    # evidence did (:func:`compose_choice`); None: ``sentences``.
    quoted: list[Candidate] | None = None

    @property
    def quotes(self) -> list[Candidate]:
        """The sentences the answer quotes, the one that answers first."""
        return self.sentences if self.quoted is None else self.quoted


@dataclass
class _Unit:
    start: int  # chunk-local
    end: int
    text: str
    context: str  # heading (or "") the unit sits under
    heading: tuple[int, int] | None  # chunk-local span of that heading
    is_list: bool = False
    previous: str = ""  # the sentence before it in its paragraph ("Fokus har legat på …")
    quote: tuple[int, int] | None = None  # what to quote, if more than the sentence itself


def _is_heading(line: str, p: ExtractiveParams) -> bool:
    n = len(words(line))
    return 0 < n <= p.heading_words and not _FINAL.search(line.strip()) and \
        not line.lstrip().startswith(("-", "–"))


def _is_item(line: str, p: ExtractiveParams) -> bool:
    """A list line: short, unpunctuated, no digits (digits mean addresses, phone numbers)."""
    return 0 < len(words(line)) < p.min_words and not _FINAL.search(line.strip()) and \
        not re.search(r"\d", line)


def units(chunk: Chunk) -> list[_Unit]:
    """Sentences and list blocks of a passage, each with the heading it sits under."""
    text = chunk.text
    p = tuning().extractive
    out: list[_Unit] = []
    section: tuple[int, int] | None = None
    for p_start, p_end in paragraph_spans(text):
        spans = _joined_fragments(text, sentence_spans(text, p_start, p_end))
        lines = [text[s:e] for s, e in spans]
        if len(spans) == 1 and _is_heading(lines[0], p):
            section = spans[0]
            continue
        heading = section
        first = 0
        all_items = len(spans) >= p.list_min_items and all(_is_item(line, p) for line in lines)
        if not all_items and len(spans) > 1 and _is_heading(lines[0], p) and \
                "\n" in text[spans[0][1]:spans[1][0]]:
            heading, first = spans[0], 1
        context = text[heading[0]:heading[1]] if heading else ""
        body = spans[first:]
        if len(body) >= p.list_min_items and all(_is_item(text[s:e], p) for s, e in body):
            joined = ", ".join(text[s:e].strip() for s, e in body)
            out.append(_Unit(body[0][0], body[-1][1], joined, context, heading, True))
            continue
        previous = ""
        for i, (s, e) in enumerate(body):
            sentence = text[s:e]
            if len(words(sentence)) < p.min_words or sentence.strip() == chunk.title.strip() \
                    or (i == 0 and opens_pointing_back(sentence)
                        and not _QUOTE_OPEN.match(sentence)):
                # An opening "Hon …"/"Det säger …" has no antecedent here to bring along
                # (a quotation is quoted up to its speaker instead).
                previous = sentence
                continue
            out.append(_Unit(s, e, sentence, context, heading, previous=previous,
                             quote=_quote_span(text, body, i, p.quote_lookahead)))
            previous = sentence
    return out


def _joined_fragments(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` with a sentence ending in an abbreviation joined to the next one."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        if out and _ABBREVIATION_END.search(text[out[-1][0]:out[-1][1]]):
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _quote_span(text: str, body: Sequence[tuple[int, int]], i: int,
                lookahead: int) -> tuple[int, int] | None:
    """The span a sentence must be quoted with to make sense on its own, if wider.

    "Det är en av deviserna bakom …" says nothing without the devise before it, and
    "- Barn blir till i de miljöer vi erbjuder." nothing about who says so until the
    "…, säger Tomas Hartikainen" that follows in the paragraph.
    """
    s, e = body[i]
    sentence = text[s:e]
    start, end = s, e
    if i > 0 and opens_pointing_back(sentence):
        start = body[i - 1][0]
    if _QUOTE_OPEN.match(sentence) and not _SAYS.search(sentence):
        for s2, e2 in body[i + 1:i + 1 + lookahead]:
            if _SAYS.search(text[s2:e2]):
                end = e2
                break
    return None if (start, end) == (s, e) else (start, end)


def coverage(matches: dict[str, float], weights: dict[str, float]) -> float:
    total = sum(weights.values())
    return sum(weights[t] * matches.get(t, 0.0) for t in weights) / total if total else 0.0


def term_weights(terms: QueryTerms, bags: Sequence[set[str]],
                 match: Callable[[str, set[str]], float] = term_match) -> dict[str, float]:
    """IDF of each question term over the candidate sentences (with their context)."""
    n = len(bags)
    weights: dict[str, float] = {}
    for term in terms.exact:
        df = sum(1 for bag in bags if match(term, bag) > 0)
        weights[term] = math.log(1.0 + (n + 1) / (df + 1))
    return weights


@dataclass(frozen=True)
class _Analysed:
    """A unit with its stemmed terms; cached and shared by every question: never mutate."""

    unit: _Unit
    own: set[str]  # the unit's terms; a list's heading too, since it names the list
    context: set[str]  # heading, previous sentence, article title and municipality


@lru_cache(maxsize=UNIT_CACHE_CHUNKS)
def _analysed_units(chunk: Chunk) -> tuple[_Analysed, ...]:
    """:func:`units` with their stemmed terms. Nothing here depends on the question and
    the same few passages answer most questions, so each passage is analysed once."""
    doc_context = set(analyse(f"{chunk.title} {chunk.municipality or ''}"))
    out: list[_Analysed] = []
    for unit in units(chunk):
        own = set(analyse(unit.text))
        if unit.is_list:
            own |= set(analyse(unit.context))
        context = doc_context | set(analyse(f"{unit.context} {unit.previous}"))
        out.append(_Analysed(unit, own, context))
    return tuple(out)


def candidates(
    chunks: Sequence[ScoredChunk],
    sentence_vectors: Sequence[SentenceVector],
    query_vector: Sequence[float],
    terms: QueryTerms,
    slot: Slot | None = None,
) -> list[Candidate]:
    """Every sentence of the passages, scored, best first."""
    p = tuning().extractive
    q = np.asarray(query_vector, dtype=np.float32)
    vectors = {(d, s, e): v for d, s, e, v in sentence_vectors}
    # A sentence joined to an abbreviation-ended fragment before it has no vector of its
    # own; the fragment's (its opening) stands in.
    openings = {(d, s): v for d, s, _, v in sentence_vectors}

    def dense_of(chunk: Chunk, span: tuple[int, int]) -> float | None:
        start = chunk.start + span[0]
        v = vectors.get((chunk.doc_id, start, chunk.start + span[1]))
        if v is None:
            v = openings.get((chunk.doc_id, start))
        return None if v is None else float(np.dot(q, np.asarray(v, dtype=np.float32)))

    raw: list[tuple[int, _Unit, float, set[str], set[str]]] = []
    seen: set[tuple[str, int, int]] = set()
    for n, scored in enumerate(chunks, start=1):
        chunk = scored.chunk
        for analysed in _analysed_units(chunk):
            unit = analysed.unit
            key = (chunk.doc_id, chunk.start + unit.start, chunk.start + unit.end)
            if key in seen:  # overlapping passages: keep the better-ranked one
                continue
            seen.add(key)
            # List lines embed poorly on their own; the heading carries the topic.
            span = unit.heading if unit.is_list else (unit.start, unit.end)
            dense = dense_of(chunk, span) if span else None
            if dense is None:
                continue
            raw.append((n, unit, dense, analysed.own, analysed.context))
    bags = [own | ctx for _, _, _, own, ctx in raw]
    match = TermMatcher(terms.exact, set().union(*bags))
    weights = term_weights(terms, bags, match)
    if slot is not None:
        slot = slot.attested([own for _, _, _, own, _ in raw])
    out: list[Candidate] = []
    for n, unit, dense, own, ctx in raw:
        matches = {t: max(match(t, own), p.context_weight * match(t, ctx))
                   for t in terms.exact}
        lexical = coverage(matches, weights)
        typed = slot is None or slot.fills(unit.text)
        score = (dense + p.term_coverage_weight * lexical + p.rank_prior / n
                 + (p.type_bonus if slot is not None and typed else 0.0))
        start, end = unit.quote or (unit.start, unit.end)
        text = unit.text if unit.quote is None else chunks[n - 1].chunk.text[start:end]
        out.append(Candidate(n, start, end, text, dense, lexical, score, matches, typed,
                             weights, start < unit.start, unit.text))
    out.sort(key=lambda c: -c.score)
    return out


def admissible(chunks: Sequence[ScoredChunk], municipalities: Collection[str] = (),
               anchors: Collection[int] = ()) -> set[int]:
    """Source numbers whose passages may be quoted.

    Only passages close to the best one (``passage_margin`` below its retrieval score),
    so an answer does not end in a sentence from a document that merely shares words;
    and when the question names municipalities, none of another municipality's ("Hur
    arbetar Lund …?" quotes no Landskrona article). A passage without a municipality
    stays: it is about none in particular. When some of them hold the question's
    distinctive term verbatim (``anchors``: "Ett-steg-före"), only those.
    """
    if not chunks:
        return set()
    # The margin is in cosine units: a ranking without a dense side (bm25, whose scores
    # are BM25 sums) has nothing to hold it against, and keeps every passage.
    bar = chunks[0].score - tuning().extractive.passage_margin \
        if chunks[0].dense is not None else -math.inf
    named = {m.casefold() for m in municipalities}
    allowed = {n for n, sc in enumerate(chunks, start=1)
               if sc.score >= bar and not (named and sc.chunk.municipality
                                           and sc.chunk.municipality.casefold() not in named)}
    # The anchors narrow the other documents only: the best-ranked one is retrieval's
    # answer even when it does not repeat the term ("Vad är stambyte?" is answered by
    # "Byte av gemensamma stammar …", a passage that never says "stambyte").
    top = {n for n, sc in enumerate(chunks, start=1)
           if sc.chunk.doc_id == chunks[0].chunk.doc_id}
    return (allowed & (set(anchors) | top)) if allowed & set(anchors) else allowed


def asked(ranked: Sequence[Candidate], attribute: Sequence[str]) -> list[Candidate]:
    """The candidates whose own text matches one of the ``attribute`` terms: a follow-up
    ("Vilka resultat fick de?") is answered by a sentence about what it asks, not by the
    previous answer's topic again."""
    return [c for c in ranked
            if any(term_match(t, _own_terms(c.text)) > 0 for t in attribute)]


@lru_cache(maxsize=UNIT_CACHE_CHUNKS)
def _own_terms(text: str) -> frozenset[str]:
    return frozenset(analyse(text))


def lead_first(chosen: Sequence[Candidate], slot: Slot | None = None,
               top: Collection[int] = (), cue: Cue | None = None) -> list[Candidate]:
    """``chosen`` with the one that best fills what is asked first: a sentence with the
    asked slot (a name, a date, a count) before one without, one that stands on its own
    before one quoted with the sentence it points back to, one from the best-ranked
    document (``top``: its passage numbers) before one from another, then one showing
    the question's ``cue`` (a reason for "varför", the expansion of an abbreviation …),
    then by score.

    A sentence showing the cue may point back: "Därför är utbytet viktigt" quoted with
    the reason before it answers "Varför …?", and "Det säger Karin Falck" with her
    quotation answers "Hur beskrev Karin Falck …?". The cue orders sentences within the
    best-ranked document only, so it never changes which articles are cited first.
    """
    if not chosen:
        return []

    def key(c: Candidate) -> tuple[bool, bool, bool, bool, float, float]:
        shows = cue is not None and cue.holds(c.sentence or c.text)
        # A predicate ("fokus", "viktigast") answers when said of the asked subject: of
        # the sentences saying it, the one covering more of the question (the subject
        # in it or in the sentence before it) leads.
        said_of = c.lexical if shows and cue is not None and cue.kind == "predicate" else 0.0
        return (slot is None or c.typed, shows or not c.leans, c.n in top, shows, said_of,
                c.score)

    lead = max(chosen, key=key)
    return [lead] + [c for c in chosen if c is not lead]


def select(ranked: Sequence[Candidate], max_sentences: int | None = None,
           slot: Slot | None = None) -> Extract:
    """Greedy: the best sentence, then runners-up that cover what is still missing.

    A term already covered counts ``repeat_weight`` less, so the second sentence of a
    two-part question ("vem leder … i Söderhamn och vem är … i Lund") is the one
    that answers the other part, often from another article.
    """
    if not ranked:
        return Extract()
    p = tuning().extractive
    max_sentences = p.max_sentences if max_sentences is None else max_sentences
    weights = ranked[0].weights
    total = sum(weights.values()) or 1.0
    covered: dict[str, float] = {}
    chosen: list[Candidate] = []
    bags: list[set[str]] = []
    # Eligible: within the margin of the best sentence on its own score. The order among
    # them is by what they add, but a sentence is not dropped merely because it repeats
    # a term: "… besök på Kronans skola …" repeats "besök" yet names the schools.
    pool = [c for c in ranked if c.score >= ranked[0].score - p.margin]
    while pool and len(chosen) < max_sentences:
        def gain(c: Candidate) -> float:
            lex = sum(w * c.matches.get(t, 0.0) * (1 - p.repeat_weight * covered.get(t, 0.0))
                      for t, w in weights.items()) / total
            return c.score + p.term_coverage_weight * (lex - c.lexical)

        best = max(pool, key=gain)
        pool.remove(best)
        bag = set(words(best.text))
        if any(jaccard(bag, b) > p.redundant_jaccard for b in bags):
            continue
        chosen.append(best)
        bags.append(bag)
        for t, m in best.matches.items():
            covered[t] = max(covered.get(t, 0.0), m)
    top = ranked[:p.evidence_candidates]
    best_lexical = max(c.lexical for c in top)
    # The typed sentence must itself be about the question, not just any sentence with a
    # number next to the real evidence ("Hur många lärare …" vs "fler än 20 elever").
    # The best-ranked sentence itself having the type also counts: a paraphrased question
    # ("Hur ofta ses medlemmarna …?") shares few words with its answer ("… två gånger per
    # år"), so no sentence reaches the lexical share, yet the closest one answers it.
    typed = slot is None or ranked[0].typed or any(
        c.typed and c.lexical >= p.type_share * best_lexical for c in chosen)
    return Extract(chosen, best_lexical, max(c.dense for c in top), typed, ranked, slot)


def compose_choice(extract: Extract, chunks: Sequence[ScoredChunk],
                   municipalities: Collection[str] = (), attribute: Sequence[str] = (),
                   max_sentences: int | None = None, anchors: Collection[int] = (),
                   complements: Collection[int] = (), lead: Slot | None = None,
                   cue: Cue | None = None) -> Extract:
    """``extract`` (the evidence the refusal policy judges, unchanged) with the sentences
    the answer quotes chosen anew: only from :func:`admissible` passages (``anchors``:
    those holding a distinctive term of the question), only sentences
    about ``attribute`` when given (a follow-up), at most ``max_sentences``, the one that
    answers first (:func:`lead_first`; ``lead``: what that sentence should hold when it is
    more than the asked slot, :func:`~assistant.answer.slots.lead_slot`; ``cue``: what
    shows it answers, :func:`~assistant.answer.slots.lead_cue`). No sentence left: no
    evidence (an empty extract)."""
    p = tuning().extractive
    allowed = admissible(chunks, municipalities, anchors)
    ranked = [c for c in extract.ranked if c.n in allowed]
    if not ranked:
        return Extract()
    bar = ranked[0].score - p.margin
    # The lead is chosen first, among the sentences within the margin of the best one
    # (a follow-up's lead must be about what it asks); the rest as before, each adding
    # what is still missing.
    best_doc = chunks[0].chunk.doc_id
    top = {n for n, sc in enumerate(chunks, start=1) if sc.chunk.doc_id == best_doc}
    # The best-ranked document's own best sentence may always lead: retrieval weighed
    # the whole passage, the sentence score only its words.
    own_best = next((c for c in ranked if c.n in top), None)
    leads = [c for c in ranked if c.score >= bar or c is own_best]
    # A quotation's own sentences may lead in its place ("…, säger Tomas Hartikainen" for
    # "Vem menar att …?"): they are quoted with it anyway.
    leads += [c for c in ranked if c.score < bar and c is not own_best
              and any(_within(c, q) for q in leads)]
    if attribute:
        leads = asked(leads, attribute)
    if not leads:
        return Extract()
    slot = extract.slot
    if slot is None and lead is not None:  # asked for no slot, yet the lead has one to fill
        slot = lead
        # Its own sentence, as the asked slot's: a quotation's speaker, named only in the
        # sentence it is quoted up to, did not "ta emot gästerna".
        fills = [lead.fills(c.sentence or c.text) for c in leads]
        if lead.heads and not any(fills):  # no one named beside the body: anyone named
            loose = Slot(lead.kind, given=lead.given)
            fills = [loose.fills(c.sentence or c.text) for c in leads]
        leads = [replace(c, typed=f) for c, f in zip(leads, fills, strict=True)]
    first = lead_first(leads, slot, top, cue)[0]
    # Another article is quoted where it scores above the lead the cue did not choose:
    # the cue reorders the best-ranked article's sentences, not which articles are cited.
    plain = lead_first(leads, slot, top)[0] if cue is not None else first
    # A lead chosen for what its own sentence holds (the slot, the cue) opens the answer:
    # the quotation around it is not printed from its start, before it.
    chosen_for_itself = first is not plain or (slot is not None and first.typed)
    bag = set(words(first.text))
    rest = [c for c in ranked if c.start != first.start or c.n != first.n]
    rest = [c for c in rest if c.score >= bar
            and (c.n in top or c.n in complements or c.score >= plain.score)
            and jaccard(set(words(c.text)), bag) <= p.redundant_jaccard
            and not (chosen_for_itself and _opens_before(c, first))]
    more = (p.max_sentences if max_sentences is None else max_sentences) - 1
    extract.quoted = [first] + (select(rest, more, extract.slot).sentences if more > 0 else [])
    return extract


def _within(c: Candidate, outer: Candidate) -> bool:
    """``c``'s sentence lies inside what ``outer`` quotes, after its opening (a
    quotation's later sentence, not the sentence a back-pointer is quoted with)."""
    return c.n == outer.n and outer.start < c.start and c.end <= outer.end


def _opens_before(c: Candidate, first: Candidate) -> bool:
    """``c`` would print a sentence before the lead: a quotation whose span holds the
    lead's sentence but starts earlier ("– Modellklasserna har … Fokus har legat på …,
    säger …" when "Fokus har legat på …" leads)."""
    return c.n == first.n and c.start < first.start < c.end


def compose(extract: Extract, chunks: Sequence[ScoredChunk], language: str,
            hedge: bool = False) -> str:
    """A short lead naming the source, then the quotes in reading order, each cited;
    ``hedge``: the lead says the quotes are only the nearest the articles come."""
    by_source: dict[int, list[Candidate]] = {}
    for cand in extract.quotes:
        by_source.setdefault(cand.n, []).append(cand)
    docs = {chunks[n - 1].chunk.doc_id for n in by_source}
    if len(docs) == 1:
        c = chunks[next(iter(by_source)) - 1].chunk
        # Metadata is article data too: one plain line, no tags, no markers.
        where = plain_place_and_date(c.municipality, c.date)
        where = f" ({where})" if where else ""
        title = plain_text(c.title)
        lead = (f"According to the article “{title}”{where}, in Swedish:" if language == "en"
                else f"Enligt artikeln ”{title}”{where}:")
    else:
        lead = ("According to the articles, in Swedish:" if language == "en"
                else "Enligt artiklarna:")
    if hedge:
        lead = HEDGE_TEXT_EN if language == "en" else HEDGE_TEXT
    parts: list[str] = []
    # The first chosen sentence (the answer, :func:`lead_first`) opens; then sources in
    # order of their best sentence, sentences within a source in text order.
    first = extract.quotes[0] if extract.quotes else None
    for n, cands in by_source.items():
        text = chunks[n - 1].chunk.text
        for start, end in _merged(sorted((c.start, c.end) for c in cands)):
            # Quoted text is data: its own "[2]" (or "&#91;2&#93;") must not become a
            # citation of source 2.
            part = f"{as_quote(text[start:end].strip())} [{n}]"
            opens = first is not None and n == first.n and start <= first.start < end
            if opens:
                parts.insert(0, part)
            else:
                parts.append(part)
    return lead + "\n" + " ".join(parts)


def _merged(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted spans with overlaps joined: a quotation widened to the sentence before it
    must not print that sentence twice when it was chosen on its own too."""
    out: list[tuple[int, int]] = []
    for start, end in spans:
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out
