"""Swedish language rules: the one rule set retrieval, answering and citation checks share.

Each rule that used to live in several modules is tested here once: tokens, compounds
(two tail limits), hyphens (two part limits), question words, names, back-pointing words
and language detection.
"""

from __future__ import annotations

import pytest

from assistant.citations import supports
from assistant.language import (
    FIGURE_JOINERS,
    POINTING_BACK,
    TermMatcher,
    analyse,
    capitalised_words,
    compound_match,
    detect_language,
    extends,
    frame_stems,
    has_listed_tail,
    hyphen_parts,
    jaccard,
    limits,
    opens_pointing_back,
    person_names,
    points_back,
    question_names,
    question_words,
    stopwords,
    term_match,
    token_pattern,
    tokens,
    words,
)
from assistant.retrieval.lexical import LexicalIndex
from assistant.types import Chunk


def test_analyse_drops_stopwords_and_stems() -> None:
    terms = analyse("Vad gjorde Trollhättan mot skolsegregationen?")
    assert "vad" not in terms
    assert "trollhättan" in terms
    assert any(t.startswith("skolsegregation") for t in terms)
    assert analyse("SKR") == ["skr"]  # short content words stay


def test_extends_needs_long_enough_heads_and_tails() -> None:
    assert extends("lund", "lundalärare")  # head of 4
    assert not extends("år", "årskurs")  # too short a head
    assert extends("segregation", "skolsegregation")  # tail of 6+
    assert not extends("skola", "grundskola")  # a 5-letter tail is often accidental
    assert not extends("lund", "lund")  # the word itself is not an expansion


def test_compound_and_inflection_match() -> None:
    assert compound_match("segregation", "skolsegregation")
    assert compound_match("kunskapslyft", "kunskapslyftet")
    assert compound_match("fokuser", "fokus")  # the term is an inflection of the token
    assert compound_match("skr-nätverket", "nätverk")
    assert not compound_match("år", "årskurs")  # short stems would match too much
    # A compound does not match its bare tail: it asks for something more specific.
    assert not compound_match("skolsegregation", "segregation")


def test_term_match_weights_exact_over_expanded() -> None:
    assert term_match("lund", {"lund"}) == 1.0
    assert term_match("lund", {"lundalärare"}) == limits().expanded_match
    assert term_match("lund", {"malmö"}) == 0.0


def test_term_matcher_answers_exactly_as_term_match() -> None:
    """Every term against every bag, the bags drawn from the vocabulary or not (a word it
    never saw, a term's own word, a hyphenated term): the same value as term_match."""
    vocabulary = {"lund", "lundalärare", "skolsegregationen", "segregation", "nätverket",
                  "skr", "malmö", "kunskapslyftet", "fokus", "skolsegregation"}
    terms = ["lund", "segregation", "skolsegregation", "skr-nätverket", "kunskapslyft",
             "fokuser", "saknas"]
    bags = [set(), {"lund"}, {"lundalärare", "malmö"}, {"skolsegregationen"},
            {"nätverket", "skr"}, {"kunskapslyftet"}, {"fokus", "malmö"}, {"skolsegregation"},
            {"lundaskolan"},                      # a word outside the vocabulary
            {"segregationen", "lund"}]            # another outside word with a known one
    match = TermMatcher(terms, vocabulary)
    for term in terms + ["okänd"]:               # and a term it was not built for
        for bag in bags:
            assert match(term, bag) == term_match(term, bag), (term, bag)
    assert match("lund", {"lundalärare"}) == limits().expanded_match  # not all zeros
    assert match("segregation", {"skolsegregation"}) == limits().expanded_match


def test_jaccard() -> None:
    assert jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)
    assert jaccard(set(), {"a"}) == 0.0
    assert jaccard({"a"}, {"a"}) == 1.0


def test_retrieval_expansion_and_citation_support_agree_with_compound_match() -> None:
    """The three users of the rule see the same compounds: BM25 expands "segregation" to
    the passage's "skolsegregation", the extractive scorer counts it, and the citation
    checker accepts it as support."""
    text = "Kommunen arbetar mot skolsegregationen."
    chunk = Chunk(chunk_id="c0", doc_id="d.txt", doc_hash="h", ordinal=0, text=text,
                  start=0, end=len(text), content_hash="x", title="Titel")
    index = LexicalIndex([chunk])
    (term,) = index.terms("segregation").exact
    passage = set(analyse(text))
    assert any(compound_match(term, v) for v in index.terms("segregation").expanded)
    assert term_match(term, passage) == limits().expanded_match
    assert supports("Det handlar om segregation [1].", passage)
    assert not supports("Det handlar om vädret [1].", passage)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("What did Trollhättan do against segregation?", "en"),
        ("Vad gjorde Trollhättan mot segregation?", "sv"),
        ("Who hosted the visit?", "en"),
        ("Vem var värd för besöket?", "sv"),
        ("Berätta om kunskapslyftet", "sv"),
        ("Tell me about the school network in Lund", "en"),
        ("Trollhättan", "sv"),  # nothing to go on: Swedish is the default
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_tokens_keep_hyphenated_and_possessive_words_whole() -> None:
    text = "Vad gör SKR:s 14-kommunersnätverk med 6,5 miljoner?"
    assert tokens(text) == ["Vad", "gör", "SKR:s", "14-kommunersnätverk", "med", "6", "5",
                            "miljoner"]
    assert words("SKR:s Nätverk") == ["skr:s", "nätverk"]
    # Where figures are read, "6,5" and "1.200" are one token.
    assert token_pattern(FIGURE_JOINERS).findall("6,5 miljoner och 1.200 kr") == [
        "6,5", "miljoner", "och", "1.200", "kr"]


def test_hyphen_parts_have_two_limits() -> None:
    """Matched as words, short parts are dropped; as parts of a name, none are."""
    assert hyphen_parts("skr-nätverket", limits().min_prefix) == ["nätverket"]
    assert hyphen_parts("rot-avdrag", limits().min_name_part) == ["rot", "avdrag"]
    assert hyphen_parts("nätverket", limits().min_name_part) == []


def test_listed_nouns_count_by_shorter_tails_than_open_vocabulary() -> None:
    """A hand-picked head noun counts in its compounds ("meritvärde", "koncern-vd");
    the same tail in the open vocabulary is too short to trust."""
    assert has_listed_tail("meritvärde", ["antal", "värde"])
    assert has_listed_tail("koncern-vd", ["vd"])
    assert has_listed_tail("värde", ["värde"])
    assert not has_listed_tail("värdering", ["värde"])  # a head is no tail
    assert not extends("värde", "meritvärde")  # MIN_SUFFIX in the open vocabulary


def test_question_words_count_the_parts_of_a_question() -> None:
    assert question_words("Vem leder skolan i Söderhamn och vem är rektor i Lund?") == [
        "Vem", "vem"]
    assert question_words("Whom did they ask, and why?") == ["Whom", "why"]
    assert question_words("Vilka villkor gäller?") == ["Vilka"]
    assert question_words("Vilkor för bygglov") == []  # a misspelling, not a question word


def test_question_words_are_frame_and_function_words() -> None:
    assert {"vem", "vilken", "varför"} <= stopwords()
    assert "when" not in stopwords()  # an English term retrieval was calibrated with
    assert analyse("When") == ["when"] and "when" in frame_stems()
    assert detect_language("Why? When? Where?") == "en"
    assert detect_language("Varför? Vilkas?") == "sv"


def test_question_names_are_capitalised_words_after_the_first() -> None:
    assert question_names("Vad gör SKL:s nätverk i Söderhamn?") == ["skl", "söderhamn"]
    assert question_names("Which schools does Lund's plan name, Which?") == ["lund"]


def test_names_in_a_sentence() -> None:
    assert capitalised_words("Skolan ligger i Essunga. Nossebro skola har Anna-Karin Ek.") == [
        "Essunga", "Anna-Karin", "Ek"]
    text = "Rektor är Anna-Karin Ek och biträdande rektor Matz Nilsson."
    assert person_names(text) == [(text.index("Anna"), "Anna-Karin Ek"),
                                  (text.index("Matz"), "Matz Nilsson")]


@pytest.mark.parametrize(("question", "pointing"), [
    ("Vilka kommuner deltog i det arbetet?", True),
    ("Who chairs it?", True),
    ("Vilka kommuner deltog i arbetet?", False),
])
def test_a_follow_up_points_back(question: str, pointing: bool) -> None:
    assert points_back(question) is pointing


@pytest.mark.parametrize(("sentence", "opens"), [
    ("Därför satsar kommunen på läxhjälp.", True),
    ("Hon leder arbetet sedan 2019.", True),
    ("Det är en av deviserna bakom arbetet.", True),
    ("Det här är nytt.", True),
    ("They meet twice a year.", True),
    ("Det säger Karin Falck, samordnare för nätverket.", True),  # attributes the quote before
    ("Så berättar rektorn om arbetet.", True),
    ("Det finns tre skolor i kommunen.", False),  # a dummy subject points nowhere
    ("De flesta elever går vidare.", False),
    ("There are three schools.", False),
    ("Hongkong har ett eget skolsystem.", False),  # "hon" only as a whole word
])
def test_a_sentence_opening_points_back(sentence: str, opens: bool) -> None:
    assert opens_pointing_back(sentence) is opens


def test_sentence_openers_are_back_pointing_words() -> None:
    """The words that open a back-pointing sentence come from the one list (plus
    "därför"/"therefore", which link rather than refer)."""
    for word in ("hon", "dessa", "they", "samma"):
        assert word in POINTING_BACK and opens_pointing_back(f"{word.title()} är här.")
    assert "därför" not in POINTING_BACK and opens_pointing_back("Därför.")
