"""Extractive answers on small synthetic passages (no embedding model needed)."""

from __future__ import annotations

from assistant.answer import extractive
from assistant.answer.slots import asked_slot, lead_cue, lead_slot
from assistant.params import tuning
from assistant.retrieval.lexical import LexicalIndex
from assistant.text import sentence_spans
from assistant.types import Chunk, ScoredChunk

TEXT = ("Kommunalt kunskapslyft\n\n"
        "Kommunfullmäktige har beviljat 6,5 miljoner kronor per år till kunskapslyftet.\n\n"
        "Ett-steg-före\nEn skola i kommunen kommer att utses att få gå före i processen. "
        "Lyftet satsar extra där för att få snabba resultat och se vad som fungerar.\n\n"
        "Kontakter och samarbetspartners\n\nEssunga kommun\nHaninge kommun\nUmeå universitet")


def _setup(question: str) -> tuple[list[extractive.Candidate], list[ScoredChunk]]:
    chunk = Chunk(chunk_id="c0", doc_id="003.txt", doc_hash="h", ordinal=0, text=TEXT, start=0,
                  end=len(TEXT), content_hash="x", title="Kommunalt kunskapslyft",
                  municipality="Söderhamn", date="2012-11-20")
    chunks = [ScoredChunk(chunk, 1.0)]
    # Flat sentence vectors: every sentence equally similar, so lexical evidence decides.
    vectors = [("003.txt", s, e, [1.0, 0.0]) for s, e in sentence_spans(TEXT)]
    terms = LexicalIndex([chunk]).terms(question)
    return extractive.candidates(chunks, vectors, [0.8, 0.6], terms,
                                 asked_slot(question)), chunks


def test_heading_gives_context_to_following_sentences() -> None:
    ranked, _ = _setup("Vad innebär Ett-steg-före i Söderhamns kunskapslyft?")
    extract = extractive.select(ranked)
    text = " ".join(c.text for c in extract.sentences)
    assert "gå före" in text and "snabba resultat" in text


def test_list_block_under_heading_is_one_candidate() -> None:
    ranked, _ = _setup("Vilka samarbetspartners har Söderhamns kunskapslyft?")
    assert ranked[0].text == "Essunga kommun, Haninge kommun, Umeå universitet"


def test_number_question_and_verbatim_numbers() -> None:
    question = "Hur mycket pengar satsar Söderhamn per år?"
    ranked, chunks = _setup(question)
    extract = extractive.select(ranked, slot=asked_slot(question))
    assert extract.typed
    answer = extractive.compose(extract, chunks, "sv")
    assert "6,5 miljoner kronor per år" in answer
    assert answer.startswith("Enligt artikeln ”Kommunalt kunskapslyft” (Söderhamn, 2012-11-20):")


def test_english_lead_with_swedish_quotes() -> None:
    ranked, chunks = _setup("What does Ett-steg-före mean?")
    answer = extractive.compose(extractive.select(ranked), chunks, "en")
    assert answer.startswith("According to the article “Kommunalt kunskapslyft”")
    assert "gå före i processen. [1]" in answer


def _ranked(text: str, question: str) -> list[extractive.Candidate]:
    chunk = Chunk(chunk_id="c0", doc_id="000.txt", doc_hash="h", ordinal=0, text=text, start=0,
                  end=len(text), content_hash="x", title="Seminarium i Almedalen",
                  municipality="Landskrona")
    vectors = [("000.txt", s, e, [1.0, 0.0]) for s, e in sentence_spans(text)]
    terms = LexicalIndex([chunk]).terms(question)
    return extractive.candidates([ScoredChunk(chunk, 1.0)], vectors, [0.8, 0.6], terms,
                                 asked_slot(question))


def test_previous_sentence_gives_context() -> None:
    # "Fokus har legat på …" never names the model classes; the sentence before does.
    text = ("Modellklasserna har haft stark koppling till forskning och undervisning. "
            "Fokus har legat på modermålshandledning, språkutveckling och matematik.\n\n"
            "Resultaten i kommunen har varit uppseendeväckande för alla skolor.")
    ranked = _ranked(text, "Vad har modellklasserna fokuserat på?")
    focus = next(c for c in ranked if c.text.startswith("Fokus"))
    other = next(c for c in ranked if c.text.startswith("Resultaten"))
    assert focus.matches["modellklass"] == tuning().extractive.context_weight
    assert focus.score > other.score
    chosen = " ".join(c.text for c in extractive.select(ranked).sentences)
    assert "modermålshandledning" in chosen


def test_a_sentence_repeating_covered_terms_is_still_chosen() -> None:
    # The second sentence repeats "besök" and "Trollhättan" but names the schools.
    text = ("I veckan besökte nätverket Trollhättan för att lära mer om arbetet i skolan. "
            "På schemat fanns besök på Kronans skola och Paradisskolan i Trollhättan.")
    ranked = _ranked(text, "Vilka skolor besökte nätverket i Trollhättan?")
    chosen = " ".join(c.text for c in extractive.select(ranked).sentences)
    assert "Kronans skola" in chosen


def test_far_weaker_sentences_are_not_added() -> None:
    cands = [extractive.Candidate(1, 0, 5, f"mening {i}", 0.9, 0.5, score, {"a": 1.0},
                                  weights={"a": 1.0})
             for i, score in enumerate([1.0, 1.0 - tuning().extractive.margin / 2, 0.5])]
    assert [c.text for c in extractive.select(cands).sentences] == ["mening 0", "mening 1"]


def test_type_is_met_by_the_best_ranked_sentence() -> None:
    # A paraphrase shares few words with its answer; the closest sentence has the number.
    best = extractive.Candidate(1, 0, 5, "Deltagarna träffas två gånger per år.", 0.86, 0.02,
                                0.92, {}, typed=True, weights={"oft": 1.0, "medlemm": 1.0})
    other = extractive.Candidate(1, 6, 9, "Nätverket är ett samarbete mellan medelstora "
                                 "kommuner.", 0.81, 0.5, 0.9, {"medlemm": 1.0}, typed=False,
                                 weights=best.weights)
    slot = asked_slot("Hur ofta ses medlemmarna?")
    assert slot is not None and slot.kind == "amount"
    assert extractive.select([best, other], slot=slot).typed
    other.score, best.score = 0.95, 0.9
    assert not extractive.select([other, best], slot=slot).typed


def test_a_sentence_pointing_back_is_quoted_with_the_one_before() -> None:
    text = ("Ska man vara med på slutet måste man vara med i början. Det är en av "
            "deviserna bakom kommunens kunskapslyft för skolan.")
    ranked = _ranked(text, "Vilken devis ligger bakom kunskapslyftet?")
    devise = next(c for c in ranked if "deviserna" in c.text)
    assert devise.text.startswith("Ska man vara med på slutet")
    assert devise.start == 0


def test_a_quotation_is_quoted_up_to_its_speaker() -> None:
    text = ("- Barn blir till i de miljöer vi erbjuder. Idag ligger ansvaret hos eleven "
            "eller föräldrarna. Vi vill lägga ett större ansvar på skolan, säger Tomas "
            "Hartikainen som är chef för förvaltningen.\n\nEn annan mening om något helt "
            "annat i texten.")
    ranked = _ranked(text, "Vem menar att barn blir till i de miljöer vi erbjuder?")
    quote = next(c for c in ranked if c.text.startswith("- Barn"))
    assert quote.text.endswith("chef för förvaltningen.")
    # Without a speaker further on (or already naming one) the sentence stands alone.
    alone = _ranked("- Barn blir till i de miljöer vi erbjuder, säger hon. Det var allt "
                    "för den här gången.", "Vad sägs om barn och miljöer?")
    assert alone[0].text.endswith("säger hon.") or alone[1].text.endswith("säger hon.")


def test_overlapping_quotes_are_printed_once() -> None:
    text = ("Ska man vara med på slutet måste man vara med i början. Det är en av "
            "deviserna bakom kommunens kunskapslyft för skolan.")
    ranked = _ranked(text, "Vilken devis ligger bakom kunskapslyftet?")
    chunk = Chunk(chunk_id="c0", doc_id="000.txt", doc_hash="h", ordinal=0, text=text, start=0,
                  end=len(text), content_hash="x", title="Seminarium i Almedalen",
                  municipality="Landskrona")
    both = extractive.Extract(sentences=list(ranked[:2]))
    answer = extractive.compose(both, [ScoredChunk(chunk, 1.0)], "sv")
    assert answer.count("Ska man vara med på slutet") == 1
    assert answer.count("[1]") == 1


def _chunk(text: str, doc_id: str = "000.txt", municipality: str | None = "Landskrona",
           title: str = "Seminarium i Almedalen") -> Chunk:
    return Chunk(chunk_id=doc_id, doc_id=doc_id, doc_hash="h", ordinal=0, text=text, start=0,
                 end=len(text), content_hash="x", title=title, municipality=municipality)


def test_a_speaker_attribution_brings_its_quote_and_does_not_lead() -> None:
    text = ("-- Ni ska vara stolta över det modiga beslutet om skolorna. Det säger Karin "
            "Falck, samordnare för nätverket mot segregation i skolan.\n\n"
            "Kommunen beslutade om avveckling av skolor och flytt av elever mot segregation.")
    ranked = _ranked(text, "Vad gjorde kommunen mot segregation i skolan?")
    says = next(c for c in ranked if "Det säger" in c.text)
    assert says.text.startswith("-- Ni ska vara stolta") and says.leans
    says.score = ranked[0].score + 0.01  # even the best-scored one yields the lead
    chunks = [ScoredChunk(_chunk(text), 1.0)]
    extract = extractive.compose_choice(
        extractive.select(sorted(ranked, key=lambda c: -c.score)), chunks)
    assert extract.quotes[0].text.startswith("Kommunen beslutade")
    answer = extractive.compose(extract, chunks, "sv")
    assert answer.split("\n", 1)[1].startswith("Kommunen beslutade")


def test_a_sentence_pointing_back_to_nothing_is_left_out() -> None:
    text = ("Hon leder arbetet mot segregation i skolan sedan flera år.\n\n"
            "Kommunen arbetar mot segregation i skolan med nya upptagningsområden.")
    ranked = _ranked(text, "Hur arbetar kommunen mot segregation i skolan?")
    assert [c.text for c in ranked] == [
        "Kommunen arbetar mot segregation i skolan med nya upptagningsområden."]


def test_an_abbreviation_does_not_end_a_sentence_into_a_fragment() -> None:
    text = ("Ett bygglov upphör enligt PBL 9 kap. 43 § om åtgärden inte påbörjats inom två år. "
            "Tidsbegränsade bygglov kan ges upp till femton år enligt lagen.")
    ranked = _ranked(text, "När upphör ett bygglov?")
    assert all(not c.text.rstrip().endswith("kap.") for c in ranked)
    assert any(c.text.startswith("Ett bygglov upphör enligt PBL 9 kap. 43 §") for c in ranked)


def test_only_passages_near_the_best_and_of_the_asked_municipality_are_quoted() -> None:
    margin = tuning().extractive.passage_margin
    lund, landskrona = _chunk("a", "lund.txt", "Lund"), _chunk("b", "la.txt", "Landskrona")
    general = _chunk("c", "skr.txt", None)
    scores = [0.88, 0.879, 0.87, 0.88 - 2 * margin]
    chunks = [ScoredChunk(c, s, dense=s)
              for c, s in zip([lund, landskrona, general, lund], scores, strict=True)]
    assert extractive.admissible(chunks) == {1, 2, 3}
    assert extractive.admissible(chunks, ["Lund"]) == {1, 3}
    assert extractive.admissible(chunks, ["Lund", "Landskrona"]) == {1, 2, 3}
    # BM25 sums are no cosines: without a dense side the margin does not apply.
    bm25 = [ScoredChunk(c, s * 10) for c, s in zip([lund, landskrona, general, lund], scores,
                                                   strict=True)]
    assert extractive.admissible(bm25) == {1, 2, 3, 4}


def test_a_follow_up_keeps_only_sentences_about_what_it_asks() -> None:
    text = ("Kommunen beslutade om avveckling av skolor och flytt av elever.\n\n"
            "Resultaten i kommunens skolor har förbättrats tydligt sedan beslutet.")
    ranked = _ranked(text, "Vilka resultat fick de?")
    kept = extractive.asked(ranked, ["resultat"])
    assert [c.text for c in kept] == [
        "Resultaten i kommunens skolor har förbättrats tydligt sedan beslutet."]
    assert extractive.asked(ranked, ["kostnad"]) == []


def test_the_sentence_that_fills_the_slot_leads() -> None:
    ranked, chunks = _setup("Hur mycket pengar har kunskapslyftet fått?")
    slot = asked_slot("Hur mycket pengar har kunskapslyftet fått?")
    untyped = next(c for c in ranked if not c.typed)
    untyped.score = ranked[0].score + 0.01
    extract = extractive.select(sorted(ranked, key=lambda c: -c.score), slot=slot)
    quotes = extractive.compose_choice(extract, chunks, max_sentences=1).quotes
    assert len(quotes) == 1 and "6,5 miljoner kronor" in quotes[0].text


def test_a_follow_up_without_a_sentence_about_it_has_no_evidence() -> None:
    ranked, chunks = _setup("Vad kostar det?")
    extract = extractive.compose_choice(extractive.select(ranked), chunks,
                                        attribute=["kostnad"])
    assert extract.sentences == [] and extract.quotes == []


def _candidate(n: int, text: str, score: float) -> extractive.Candidate:
    return extractive.Candidate(n, 0, len(text), text, score, 0.5, 1.0, {}, weights={})


def test_the_best_document_leads_and_others_are_quoted_only_when_better_or_needed() -> None:
    """A FAQ question is answered by one article: a runner-up article's sentence close
    to the best one is left out (it cost citation precision), unless it scores above
    the lead or its article names what the best one does not (``complements``)."""
    top, other = _chunk("x", "top.txt", None), _chunk("y", "other.txt", None)
    chunks = [ScoredChunk(top, 0.90), ScoredChunk(other, 0.895)]
    ranked = [_candidate(2, "Övriga artikelns mening som liknar frågan mycket.", 0.82),
              _candidate(1, "Bästa artikelns mening som svarar på frågan.", 0.80),
              _candidate(1, "Bästa artikelns andra mening med fler detaljer.", 0.78)]
    quotes = extractive.compose_choice(extractive.select(ranked), chunks).quotes
    assert quotes[0].n == 1  # the best-ranked article leads, though 0.02 below
    assert {q.n for q in quotes} == {1, 2}  # the other scores above the lead: kept

    ranked[0].score = 0.79  # now below the lead and not needed: left out
    quotes = extractive.compose_choice(extractive.select(ranked), chunks).quotes
    assert {q.n for q in quotes} == {1}
    quotes = extractive.compose_choice(extractive.select(ranked), chunks,
                                       complements={2}).quotes
    assert {q.n for q in quotes} == {1, 2}


def test_a_name_the_best_article_lacks_brings_its_article() -> None:
    from assistant.answer.answerability import complementing_passages

    landskrona = _chunk("Landskrona tar emot nyanlända elever.", "la.txt", "Landskrona")
    lund = _chunk("Lund har en mottagningsenhet för nyanlända.", "lund.txt", "Lund")
    also = _chunk("Nyanlända elever i Landskrona får studiehandledning.", "la2.txt",
                  "Landskrona")
    passages = [landskrona, lund, also]
    assert complementing_passages(
        "Vad säger artiklarna om Landskronas och Lunds arbete med nyanlända?", passages) == {2}
    assert complementing_passages("Hur arbetar Landskrona med nyanlända?", passages) == set()
    # Two questions in one: any article may answer a part.
    assert complementing_passages("Vem leder Lund och vad gör Landskrona?", passages) == \
        {1, 2, 3}


def test_the_lead_of_a_who_question_names_someone() -> None:
    """"Vem tog emot gästerna?" opens with the sentence naming a person, though another
    sentence about the visit scores a little higher."""
    chunks = [ScoredChunk(_chunk("x", "top.txt", None), 0.9)]
    ranked = [_candidate(1, "Gästerna från nätverket fick ett varmt mottagande i staden.", 0.85),
              _candidate(1, "Värd för besöket var Katarina Nyman, strateg i kommunen.", 0.83)]
    question = "Vem tog emot gästerna från nätverket?"
    plain = extractive.compose_choice(extractive.select(ranked), chunks).quotes
    assert plain[0].text.startswith("Gästerna")
    led = extractive.compose_choice(extractive.select(ranked), chunks,
                                    lead=lead_slot(question)).quotes
    assert led[0].text.startswith("Värd för besöket")
    assert len(led) == len(plain)  # reordered, nothing lost


def test_the_best_ranked_document_may_lead_beyond_the_margin() -> None:
    """"Vad är stambyte?": retrieval puts the article that defines it first, though its
    sentence never says "stambyte"; another article's sentence that does scores far
    higher on words. The best-ranked article still leads, and the other stays quoted
    only because it scores above the lead."""
    margin = tuning().extractive.margin
    top, other = _chunk("x", "vvs-005.txt", None), _chunk("y", "vvs-003.txt", None)
    chunks = [ScoredChunk(top, 0.826, dense=0.826), ScoredChunk(other, 0.826, dense=0.826)]
    ranked = [_candidate(2, "Stambyte i flerfamiljshus planeras när systemen åldrats.", 1.10),
              _candidate(1, "Byte av gemensamma stammar (vatten, avlopp) i flerbostadshus.",
                         1.10 - 3 * margin)]
    # Anchored on the passage holding the term, the best-ranked document stays admissible.
    assert extractive.admissible(chunks, anchors={2}) == {1, 2}
    quotes = extractive.compose_choice(extractive.select(ranked), chunks, anchors={2}).quotes
    assert quotes[0].n == 1
    assert [q.n for q in quotes] == [1, 2]


def test_a_reason_leads_a_why_question_with_what_it_points_back_to() -> None:
    """"Varför …?" is answered by "Därför …" with the reason before it, though a
    sentence standing on its own scores higher."""
    text = ("Elevantalet har ökat snabbt i stadsdelen de senaste åren. Därför bygger "
            "kommunen en ny skola vid torget.\n\n"
            "Den nya skolan vid torget ska stå klar hösten efter nästa.")
    question = "Varför bygger kommunen en ny skola?"
    ranked = sorted(_ranked(text, question), key=lambda c: -c.score)
    because = next(c for c in ranked if "Därför" in c.text)
    assert because.leans and because.text.startswith("Elevantalet")
    alone = next(c for c in ranked if c.text.startswith("Den nya skolan"))
    alone.score = because.score + 0.01
    ranked.sort(key=lambda c: -c.score)
    chunks = [ScoredChunk(_chunk(text), 1.0)]
    plain = extractive.compose_choice(extractive.select(ranked), chunks).quotes
    assert plain[0] is alone
    cued = extractive.compose_choice(extractive.select(ranked), chunks,
                                     cue=lead_cue(question))
    answer = extractive.compose(cued, chunks, "sv")
    assert answer.split("\n", 1)[1].startswith("Elevantalet har ökat snabbt")


def test_the_cue_orders_the_best_article_and_cites_no_other() -> None:
    """The cue picks the lead among the best-ranked article's sentences; another
    article is quoted only where it scores above the lead the cue did not pick."""
    top, other = _chunk("x", "top.txt", None), _chunk("y", "other.txt", None)
    chunks = [ScoredChunk(top, 0.90), ScoredChunk(other, 0.895)]
    ranked = [_candidate(1, "Skolan byggs om under sommaren och hösten.", 0.84),
              _candidate(2, "Skolan byggs om eftersom eleverna blir fler.", 0.83),
              _candidate(1, "Den byggs om eftersom ventilationen är gammal.", 0.80)]
    for c in ranked:
        c.score = c.dense
    cue = lead_cue("Varför byggs skolan om?")
    quotes = extractive.compose_choice(extractive.select(ranked), chunks, cue=cue).quotes
    assert quotes[0].text.startswith("Den byggs om eftersom")  # the best article's reason
    assert {q.n for q in quotes} == {1}  # the other article is below the uncued lead


def _ranked_with_top(
    text: str, question: str, opening: str, above: float = 0.01,
) -> tuple[list[extractive.Candidate], list[ScoredChunk], extractive.Candidate]:
    """``text``'s candidates with the one starting ``opening`` scored ``above`` the best,
    as if retrieval had liked it most; the passage as the answer's only chunk."""
    ranked = sorted(_ranked(text, question), key=lambda c: -c.score)
    top = next(c for c in ranked if c.text.startswith(opening))
    top.score = max(c.score for c in ranked) + above
    ranked.sort(key=lambda c: -c.score)
    return ranked, [ScoredChunk(_chunk(text), 1.0)], top


def test_a_lead_inside_a_quotation_is_not_preceded_by_its_opening() -> None:
    """"Vad har projektet fokuserat på?": the quotation's second sentence says it; the
    first, quoted with it up to the speaker, is not printed before it."""
    text = ("– Projektet har haft ett nära samarbete med forskare från högskolan. Fokus har "
            "legat på högläsning och skrivande i alla ämnen, säger Eva Lund.\n\n"
            "Projektet startade för tre år sedan i två skolor.")
    question = "Vad har projektet fokuserat på?"
    ranked, chunks, opening = _ranked_with_top(text, question, "– Projektet")
    assert "Fokus har legat" in opening.text  # quoted up to its speaker
    extract = extractive.compose_choice(extractive.select(ranked), chunks,
                                        cue=lead_cue(question))
    answer = extractive.compose(extract, chunks, "sv")
    assert answer.split("\n", 1)[1].startswith("Fokus har legat på högläsning")
    assert "nära samarbete" not in answer


def test_a_who_question_is_not_answered_by_a_quotations_speaker() -> None:
    """"Vem öppnade skolan?" asks who did it: a quotation's speaker, named only in the
    sentence the quotation is quoted up to, did not; a sentence naming the one who did
    leads, though the quotation scores higher."""
    text = ("– Det här är en dag vi har väntat länge på. Nu får eleverna äntligen moderna "
            "lokaler, säger Lena Dahl, rektor.\n\n"
            "Skolan öppnades av kommunstyrelsens ordförande Olle Berg på måndagen.")
    question = "Vem öppnade den nya skolan?"
    ranked, chunks, quotation = _ranked_with_top(text, question, "– Det här")
    assert "Lena Dahl" in quotation.text and "Lena Dahl" not in quotation.sentence
    quotes = extractive.compose_choice(extractive.select(ranked), chunks,
                                       lead=lead_slot(question)).quotes
    assert quotes[0].text.startswith("Skolan öppnades av")


def test_who_said_a_quotation_is_answered_by_its_speaker() -> None:
    """"Vem menar att …?" quotes the quotation's own words: the sentence naming who
    says them leads, and the quotation is not printed from its start before it."""
    text = ("– Läsning är nyckeln till allt annat i skolan. Nu satsar vi på "
            "skolbiblioteken, säger Lena Dahl, rektor.\n\n"
            "Skolbiblioteken har fått nya böcker under året.")
    question = "Vem menar att läsning är nyckeln till allt annat i skolan?"
    ranked, chunks, _ = _ranked_with_top(text, question, "– Läsning", above=1.0)  # far above
    extract = extractive.compose_choice(extractive.select(ranked), chunks,
                                        lead=lead_slot(question))
    answer = extractive.compose(extract, chunks, "sv").split("\n", 1)[1]
    assert answer.startswith("Nu satsar vi på skolbiblioteken, säger Lena Dahl")


def test_a_person_from_a_body_leads_or_anyone_named_when_none_is() -> None:
    chunks = [ScoredChunk(_chunk("x", "top.txt", None), 0.9)]
    ranked = [_candidate(1, "Lena Dahl, rektor på Ekbackeskolan, inledde dagen med ett "
                         "tal om läsning i alla ämnen.", 0.85),
              _candidate(1, "Från utbildningsförvaltningen talade Olle Berg om läsning.", 0.83),
              _candidate(1, "Dagen handlade om läsning i alla ämnen och alla åldrar.", 0.84)]
    for c in ranked:
        c.score = c.dense
    question = "Vilka personer från kommunens utbildningsförvaltning talade?"
    quotes = extractive.compose_choice(extractive.select(ranked), chunks,
                                       lead=lead_slot(question)).quotes
    assert quotes[0].text.startswith("Från utbildningsförvaltningen")
    ranked.pop(1)  # no one named beside the body: anyone named leads
    quotes = extractive.compose_choice(extractive.select(ranked), chunks,
                                       lead=lead_slot(question)).quotes
    assert quotes[0].text.startswith("Lena Dahl")


def test_a_predicate_leads_where_it_is_said_of_the_asked_subject() -> None:
    """"Vad har läsombuden arbetat med?": of two sentences with "arbete", the one about
    the läsombud (named in the sentence before it) leads, not the one about others."""
    chunks = [ScoredChunk(_chunk("x", "top.txt", None), 0.9)]
    ranked = [_candidate(1, "Lärarna i kommunen har arbetat med bedömning i flera år.", 0.85),
              _candidate(1, "Arbetet har främst handlat om högläsning i förskoleklass.", 0.83)]
    ranked[0].lexical, ranked[1].lexical = 0.3, 0.6  # the subject via the sentence before
    for c in ranked:
        c.score = c.dense
    cue = lead_cue("Vad har läsombuden arbetat med?")
    assert cue is not None and cue.kind == "predicate"
    quotes = extractive.compose_choice(extractive.select(ranked), chunks, cue=cue).quotes
    assert quotes[0].text.startswith("Arbetet har främst")
    plain = extractive.compose_choice(extractive.select(ranked), chunks).quotes
    assert plain[0].text.startswith("Lärarna i kommunen")


def test_a_back_pointers_antecedent_does_not_lead_alone() -> None:
    """Only a quotation's later sentences may lead in its place: "Det är en av tankarna
    bakom …" keeps the sentence it points back to, and the answer both."""
    text = ("Den som läser mycket skriver också bättre. Det är en av tankarna bakom "
            "kommunens läslyft för mellanstadiet.")
    ranked = sorted(_ranked(text, "Vilken tanke ligger bakom kommunens läslyft?"),
                    key=lambda c: -c.score)
    leaning = next(c for c in ranked if c.leans)
    leaning.score = max(c.score for c in ranked) + 1.0
    ranked.sort(key=lambda c: -c.score)
    chunks = [ScoredChunk(_chunk(text), 1.0)]
    extract = extractive.compose_choice(extractive.select(ranked), chunks)
    answer = extractive.compose(extract, chunks, "sv").split("\n", 1)[1]
    assert answer.startswith("Den som läser mycket") and "en av tankarna bakom" in answer
