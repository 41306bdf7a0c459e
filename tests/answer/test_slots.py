"""Which answer a question asks for, and which sentences hold one (assistant.answer.slots)."""

from __future__ import annotations

import pytest

from assistant.answer.slots import Slot, asked_slot, lead_cue, lead_slot, numbers


@pytest.mark.parametrize(("question", "kind"), [
    ("Hur många deltagare var med?", "count"),
    ("How many pupils were moved?", "count"),
    ("Hur ofta ses medlemmarna?", "amount"),
    ("Vilket genomsnittligt meritvärde fick eleverna?", "amount"),
    ("Vad kostade modellklasserna?", "money"),
    ("Hur mycket pengar satsar kommunen?", "money"),
    ("What does a facade renovation cost?", "money"),
    ("What was the budget of the model classes?", "money"),
    ("Vilket år startade konceptet?", "year"),
    ("Vilket datum hålls träffen?", "day"),
    ("När träffas nätverket?", "date"),
    ("När ska studieresan göras?", "date"),
    ("Vilken placering fick Landskrona?", "rank"),
    ("Vem är ordförande för Skolledarförbundet?", "person"),
    ("Vem är förbundsordförande?", "person"),
    ("Vem leder arbetsgruppen?", "person"),
    ("Who chairs the expert council?", "person"),
    ("Var hölls politikerveckan?", "place"),
    ("Vilken skola har utsetts?", "name"),
    ("Vilka grundskolor besöktes?", "name"),
])
def test_the_question_phrase_names_the_slot(question: str, kind: str) -> None:
    slot = asked_slot(question)
    assert slot is not None and slot.kind == kind


@pytest.mark.parametrize("question", [
    "Vad innebär Ett-steg-före?",
    "När krävs rivningslov?",  # a condition, not a point in time
    "When can the consumer rescind the contract?",
    "Vem ansvarar för fuktskador i bostadsrätt?",  # a party, not a named person
    "Vem är den viktigaste resursen i arbetet?",  # not a role
    "Vem tog emot dem när de kom?",  # "när" inside the question
    "Who is responsible for moisture damage?",
])
def test_questions_without_a_slot(question: str) -> None:
    assert asked_slot(question) is None


def test_a_count_stands_next_to_the_counted_noun() -> None:
    slot = asked_slot("Hur många deltagare var med?")
    assert slot is not None and slot.heads
    assert slot.fills("Det var ca 30 deltagare från hela landet.")
    assert slot.fills("Ett 50-tal deltagare träffas i Stockholm.")
    assert not slot.fills("Landskrona hamnar bland kommuner med fler än 20 elever.")
    assert not slot.fills("Under seminariet 5 juli kom deltagare från hela landet.")  # a date


def test_a_counted_noun_the_texts_never_use_is_dropped() -> None:
    # "Hur många förslag …" answered by "30 rekommendationer": the texts say it otherwise.
    slot = asked_slot("Hur många förslag innehåller rapporten?")
    assert slot is not None
    never = slot.attested([{"rapport", "rekommendation"}])
    assert never.heads == frozenset() and never.fills("rapporten med 30 rekommendationer")
    used = slot.attested([{"förslag"}])
    assert used is slot and not used.fills("rapporten med 30 rekommendationer")
    # ...but a duration still does not count anything.
    assert not never.fills("Kommunen har under snart sju år arbetat med det.")


def test_a_person_is_named_near_the_role() -> None:
    slot = asked_slot("Vem är ordförande i nämnden?")
    assert slot is not None
    assert slot.fills("Skolledarförbundets ordförande Matz Nilsson påpekade att det är viktigt.")
    host = asked_slot("Vem var värd för besöket?")
    assert host is not None
    assert host.fills("Värd för SKR:s besök i Trollhättan var Katarina Nyman, strateg.")
    assert not slot.fills("Förvaltningschefen och nämndsordföranden från nämnden bjuds in.")
    far = ("Ordföranden öppnade mötet, och efter en lång rad inlägg om skolans "
           "framtid och ekonomi talade Eva Minten.")
    assert not slot.fills(far)


def test_dates_years_and_days_differ() -> None:
    year, day, when = (asked_slot(q) for q in ("Vilket år hölls det?", "Vilket datum hölls det?",
                                               "När hölls det?"))
    assert year is not None and day is not None and when is not None
    assert not year.fills("Seminariet hölls fredagen 5 juli.")
    assert year.fills("Seminariet hölls i början av 1990-talet.")
    assert day.fills("Seminariet hölls fredagen 5 juli.")
    assert not day.fills("En träff på våren är förlagd till värdkommunen.")
    assert when.fills("En träff på våren är förlagd till värdkommunen.")


def test_money_needs_a_currency() -> None:
    slot = Slot("money")
    assert slot.fills("Kommunfullmäktige har beviljat 6,5 miljoner kronor per år.")
    assert slot.fills("Putsad fasad 600-1 200 SEK/m².")
    assert not slot.fills("Det var ca 30 deltagare.")


def test_a_name_slot_needs_a_name_the_question_did_not_give() -> None:
    slot = asked_slot("Vilken skola i Söderhamn har utsetts?")
    assert slot is not None
    assert not slot.fills("En skola i Söderhamns kommun kommer att utses.")
    assert slot.fills("Arbetsgruppen besöker Nossebro skola i Essunga kommun.")


def test_numbers_are_standalone_digits() -> None:
    assert numbers("Vem var värd för träffarna 2011 i 14-kommunersnätverket?") == ["2011"]


def test_the_slot_reads_the_question_language_from_detect_language() -> None:
    """Role heads are matched against Swedish texts, so a Swedish question keeps them even
    when it names an English thing; an English question has none."""
    sv = asked_slot("Vem är ordförande för nätverket What Works?")
    assert sv is not None and sv.heads
    en = asked_slot("Who is the chair of the network?")
    assert en is not None and en.kind == "person" and not en.heads
    told = asked_slot("Vem är ordförande för nätverket?", "en")
    assert told is not None and not told.heads


def test_listed_nouns_count_in_compounds() -> None:
    meritvarde, koncern_vd = (asked_slot(q) for q in (
        "Vilket genomsnittligt meritvärde fick eleverna?", "Vem är koncern-vd?"))
    assert meritvarde == Slot("amount")
    assert koncern_vd is not None and koncern_vd.kind == "person"


@pytest.mark.parametrize(("question", "wanted"), [
    ("Vem tog emot gästerna från SKR?", "person"),
    ("Vilka från lärarfacken kommenterade arbetet?", "person"),
    ("Vilka personer uttalar sig i artikeln?", "person"),
    ("Who met the visitors?", "person"),
    ("Vem är rektor på skolan?", "person"),  # the asked slot itself
    ("Vem får bygga en altan utan bygglov?", None),  # a kind of person, not a name
    ("Vem ansvarar för snöröjningen?", None),  # a party
    ("Who is responsible for the roads?", None),
    ("Vad gjorde Trollhättan mot segregation?", None),
])
def test_the_lead_of_a_who_question_names_someone(question: str, wanted: str | None) -> None:
    slot = lead_slot(question)
    assert (slot.kind if slot is not None else None) == wanted


def test_the_lead_slot_only_orders_the_refusal_rules_ask_no_name() -> None:
    assert asked_slot("Vem tog emot gästerna från SKR?") is None


def test_a_name_the_question_gives_names_no_one_new() -> None:
    slot = lead_slot("Vem intervjuade Karin Falck i Trollhättan?")
    assert slot is not None
    assert not slot.fills("Det säger Karin Falck, samordnare för nätverket.")
    assert slot.fills("Karin Falck träffade Katarina Nyman, strateg i kommunen.")


@pytest.mark.parametrize(("question", "kind"), [
    ("Vad står förkortningen KFU för?", "expansion"),
    ("What does the abbreviation KFU stand for?", "expansion"),
    ("Varför flyttades mottagningsenheten?", "reason"),
    ("Why was the reception unit moved?", "reason"),
    ("Vilka satsningar görs utöver nya lokaler och fler lärare?", "besides"),
    ("Besides the new premises, what did the school get?", "besides"),
    ("Hur beskrev Anna Berg läsfrämjandet i kommunen?", "said"),
    ("Vad tycker Per Ek om läxhjälpen?", "said"),
    ("Vilka gymnasieskolor deltar i projektet?", "kind"),
    ("Vad är svårast för de nya lärarna?", "predicate"),
    ("Vad har läsombuden arbetat med?", "predicate"),
    ("Vad är en lärarlegitimation?", None),  # the subject, not said of it
    ("Vad är lärarlegitimation?", None),
    ("Vad är skolskjutsreglemente?", None),
    ("Vad är legitimerad lärare?", None),  # an adjective of the subject
    ("Vad är avgörande för resultaten?", "predicate"),
    ("Vad är KFU?", None),  # a name
    ("Hur många lärare deltar?", None),
    ("Which schools take part?", None),  # English nouns are not in the Swedish texts
])
def test_the_question_phrase_names_the_lead_cue(question: str, kind: str | None) -> None:
    cue = lead_cue(question)
    assert (cue.kind if cue is not None else None) == kind


def test_an_expansion_is_spelled_by_its_words_initials() -> None:
    cue = lead_cue("Vad står KFU för?")
    assert cue is not None
    assert cue.holds("Projektet KFU (Kompetens, Fortbildning och Uppföljning) startar i höst.")
    assert not cue.holds("KFU:s mål är att alla lärare ska få fortbildning.")
    assert not cue.holds("Kommunen följer upp KFU varje år.")  # the abbreviation itself


def test_a_reason_is_shown_by_its_connective() -> None:
    cue = lead_cue("Varför byggs skolan om?")
    assert cue is not None
    assert cue.holds("Därför byggs skolan om under sommaren.")
    assert cue.holds("Skolan byggs om eftersom ventilationen är gammal.")
    assert not cue.holds("Skolan byggs om under sommaren.")


def test_besides_is_answered_by_what_the_question_does_not_already_give() -> None:
    cue = lead_cue("Vilka satsningar görs utöver nya lokaler och fler lärare?")
    assert cue is not None and cue.kind == "besides"
    assert not cue.holds("Skolan får nya lokaler och fler lärare under året.")
    # One of the words alone is no restatement: "nya" is everywhere.
    assert cue.holds("Dessutom införs nya läxhjälpsgrupper på eftermiddagarna.")


def test_what_a_named_person_said_is_their_attributed_words() -> None:
    cue = lead_cue("Hur beskrev Anna Berg läsfrämjandet i kommunen?")
    assert cue is not None and cue.kind == "said"
    assert cue.holds("Det säger Anna Berg, bibliotekarie i kommunen.")
    assert not cue.holds("Anna Berg är bibliotekarie i kommunen sedan länge.")
    assert not cue.holds("Det säger Per Ek, rektor på skolan.")


def test_a_kind_is_named_by_a_name_of_that_kind() -> None:
    cue = lead_cue("Vilka skolor deltar i projektet?")
    assert cue is not None and cue.kind == "kind"
    assert cue.holds("Först ut är Ekbackeskolan och Norra gymnasiet.")  # a compound name
    assert cue.holds("Projektet startar på Björkens skola i höst.")  # a name before the noun
    assert cue.holds("Skolor som deltar är: Ekbacken, Norrgården, Solhem och Åsen.")  # a list
    assert not cue.holds("Projektet om Läslyftet startar i skolan i höst.")  # no school named
    assert not cue.holds("Projektet når elever i Malmö, Lund och Ystad i skolan.")


def test_a_predicate_is_shown_by_a_sentence_saying_it() -> None:
    cue = lead_cue("Vad är svårast för de nya lärarna?")
    assert cue is not None and cue.kind == "predicate"
    assert cue.holds("Det svåraste är att hinna med bedömningen.")
    assert not cue.holds("De nya lärarna började i augusti.")
    supine = lead_cue("Vad har läsombuden arbetat med?")
    assert supine is not None and supine.holds("Arbetet har handlat om högläsning.")


@pytest.mark.parametrize(("question", "heads"), [
    ("Vilka personer från kommunens utbildningsförvaltning deltar?", {"utbildningsförvaltning"}),
    ("Vilka personer från Malmös utbildningsförvaltning deltar?", {"utbildningsförvaltning"}),
    ("Vem från Skolinspektionen talade?", {"skolinspektion"}),
    ("Vilka från Unicef respektive Rädda Barnen medverkar?", {"unicef", "rädd"}),
    ("Vem tog emot gästerna från förvaltningen?", set()),  # the guests came from it
])
def test_a_person_from_a_body_is_named_beside_it(question: str, heads: set[str]) -> None:
    slot = lead_slot(question)
    assert slot is not None and slot.kind == "person" and slot.heads == frozenset(heads)


def test_a_person_from_a_body_fills_beside_it_only() -> None:
    slot = lead_slot("Vilka personer från Malmös utbildningsförvaltning deltar?")
    assert slot is not None
    assert slot.fills("Chefen för utbildningsförvaltningen Lena Dahl inledde dagen.")
    assert not slot.fills("Lena Dahl, rektor på Ekbackeskolan, inledde dagen med ett tal "
                          "om läsning och därefter talade förvaltningen.")


@pytest.mark.parametrize(("question", "words"), [
    ("What was the first workshop about?", {"första", "first"}),
    ("Vad handlade det andra mötet om?", {"andra", "second"}),
    ("Vad gör andra kommuner mot segregation?", None),  # "andra" as "other"
])
def test_an_ordinal_picks_which_one_is_asked(question: str, words: set[str] | None) -> None:
    cue = lead_cue(question)
    if words is None:
        assert cue is None or cue.kind != "ordinal"
    else:
        assert cue is not None and cue.kind == "ordinal" and cue.terms == frozenset(words)
        assert cue.holds("Under det första passet talade rektorn." if "first" in words
                         else "Det andra mötet handlade om läxor.")
        assert not cue.holds("Kommunen höll tre möten under året.")
