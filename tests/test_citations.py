"""Citation parsing and validation, refusal detection, rendering."""

from __future__ import annotations

import pytest

from assistant.citations import (
    REFUSAL_TEXT,
    StreamChecker,
    check_citations,
    format_source_line,
    http_url,
    is_degenerate_question,
    is_refusal,
    markers,
    neutralise_markers,
    plain_text,
    refusal_text,
    render_sources_text,
    strip_markers,
)
from assistant.text import clean_question
from assistant.types import Answer, Source
from tests.support.untrusted import (
    LOOKALIKES,
    PAYLOADS,
    SOURCE_URL,
    SPLIT_ANSWER,
    SPLIT_REPLIES,
    VALID,
    assert_checked,
    chunkings,
    markup,
    seen_markers,
)


def _source(n: int, text: str, title: str = "Artikel", **kw: object) -> Source:
    fields: dict = dict(
        n=n, id=f"00{n}_x.txt", title=title, municipality=None, date=None, url=None,
        chunk_id=f"c{n}", score=0.9, text=text,
    )
    fields.update(kw)
    return Source(**fields)


SOURCES = [
    _source(1, "Trollhättan arbetar mot skolsegregationen i Kronogården.",
            title="SKR-nätverk mot segregation", municipality="Trollhättan", date="2023-11-09"),
    _source(2, "Lund och Landskrona utbytte erfarenheter om måluppfyllelse 2012.",
            title="Utbyte mellan kommuner", municipality="Lund"),
    _source(3, "Söderhamn startade ett kommunalt kunskapslyft för lärare.",
            title="Kommunalt kunskapslyft", municipality="Söderhamn", date="2012-11-20"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Inget här.", []),
        ("A [1].", [1]),
        ("A [1][2] och B [3].", [1, 2, 3]),
        ("A [1, 2] och [2;3].", [1, 2, 2, 3]),
        ("A [ 2 ].", [2]),
        ("A [1-3].", [1, 2, 3]),
        ("Året [2023] är inget källnummer.", []),
    ],
)
def test_markers(text: str, expected: list[int]) -> None:
    assert markers(text) == expected


def test_strip_markers_keeps_words_and_lines_apart() -> None:
    assert strip_markers("De tog emot ett nätverk [2].") == "De tog emot ett nätverk."
    assert strip_markers("A [1][2] och B [1-3].\nC [4]") == "A och B.\nC"
    assert strip_markers("Året [2023] står kvar.") == "Året [2023] står kvar."


def test_valid_citations_are_kept_in_order_of_first_use() -> None:
    answer = "Söderhamn startade ett kunskapslyft [3]. Trollhättan motverkar segregation [1][3]."
    check = check_citations(answer, SOURCES)
    assert check.text == answer
    assert check.citations == [3, 1]
    assert check.removed == [] and check.flagged == []
    assert check.sourced


def test_citation_outside_the_sources_is_removed() -> None:
    check = check_citations("Trollhättan motverkar segregation [1][7]. Lund [7].", SOURCES)
    assert check.text == "Trollhättan motverkar segregation [1]. Lund."
    assert check.removed == [7]
    assert check.citations == [1]
    assert check.sourced


def test_removal_tidies_whitespace_and_keeps_list_style() -> None:
    check = check_citations("Lund [2, 9] och Söderhamn [9] samarbetade [8].", SOURCES)
    assert check.text == "Lund [2] och Söderhamn samarbetade."
    assert check.removed == [9, 8]


def test_sentence_without_support_is_flagged() -> None:
    answer = ("Söderhamn startade ett kunskapslyft [3]. "
              "Katter tycker om fisk och mjölk [2].")
    check = check_citations(answer, SOURCES)
    assert check.flagged == [2]
    assert check.citations == [3, 2]
    assert check.text == answer  # flagged text is kept: the flag is a signal, not a verdict


def test_compound_and_number_count_as_support() -> None:
    # "segregation" is the tail of "skolsegregationen"; "2012" is shared verbatim.
    check = check_citations("Arbetet gäller segregation [1]. Det skedde 2012 [2].", SOURCES)
    assert check.flagged == []


def test_sentence_with_several_markers_needs_one_supporting_passage() -> None:
    check = check_citations("Kunskapslyftet i Söderhamn [2][3].", SOURCES)
    assert check.flagged == []
    check = check_citations("Katter tycker om fisk [2][3].", SOURCES)
    assert check.flagged == [2, 3]


def test_answer_without_valid_citation_is_not_sourced() -> None:
    assert not check_citations("Trollhättan motverkar segregation.", SOURCES).sourced
    only_invalid = check_citations("Trollhättan motverkar segregation [5].", SOURCES)
    assert not only_invalid.sourced
    assert only_invalid.citations == [] and only_invalid.removed == [5]
    assert only_invalid.text == "Trollhättan motverkar segregation."


@pytest.mark.parametrize(
    "text",
    [
        REFUSAL_TEXT,
        "  jag hittar inget om det i artiklarna  ",
        "Jag hittar inget om det i artiklarna. I can't find anything about that in the articles.",
        '"Jag  hittar inget\nom det i artiklarna!"',
        refusal_text("en"),
    ],
)
def test_refusal_detected(text: str) -> None:
    assert is_refusal(text)


@pytest.mark.parametrize(
    "text", ["Trollhättan motverkar segregation [1].", "Jag hittar", "Jag hittar inget om det."]
)
def test_non_refusal(text: str) -> None:
    assert not is_refusal(text)


def _answer(citations: list[int]) -> Answer:
    return Answer(question="q", answer="a", refused=False, mode="llm", citations=citations,
                  sources=list(SOURCES), timings_ms={})


def test_render_sources_text_lists_cited_sources() -> None:
    text = render_sources_text(_answer([3, 1]))
    assert text.splitlines() == [
        "[1] SKR-nätverk mot segregation — Trollhättan, 2023-11-09 (001_x.txt)",
        "[3] Kommunalt kunskapslyft — Söderhamn, 2012-11-20 (003_x.txt)",
    ]


def test_render_sources_text_all_and_missing_fields() -> None:
    answer = _answer([])
    assert render_sources_text(answer) == ""
    lines = render_sources_text(answer, only_cited=False).splitlines()
    assert lines[1] == "[2] Utbyte mellan kommuner — Lund (002_x.txt)"
    bare = _source(4, "x", title="Titel", url="https://example.se/a")
    answer.sources = [bare]
    assert render_sources_text(answer, only_cited=False) == (
        "[4] Titel (004_x.txt) https://example.se/a"
    )


def test_source_text_cannot_carry_citation_markers() -> None:
    text = "Se [2] och [1][3] samt [1, 4] men året [2023] och [x] står kvar."
    neutral = neutralise_markers(text)
    assert neutral == "Se (2) och (1)(3) samt (1, 4) men året [2023] och [x] står kvar."
    assert len(neutral) == len(text)  # passage offsets stay valid
    assert markers(neutral) == []


def test_source_lines_print_no_markup_and_only_http_links() -> None:
    hostile = _source(1, "text", title="<img src=x onerror=alert(1)>[3] Skolverket",
                      url="javascript:alert(1)")
    line = format_source_line(hostile)
    assert "<" not in line and "javascript" not in line
    assert line.startswith("[1] (3) Skolverket")
    assert markers(line) == [1]
    assert http_url("https://a.se/x?y=1") == "https://a.se/x?y=1"
    for bad in ("javascript:alert(1)", "data:text/html,x", "https://a.se/\"onmouseover=x",
                "//evil.example", None, 3):
        assert http_url(bad) is None
    good = format_source_line(_source(2, "t", url="https://kommun.se/artikel"))
    assert good.endswith(" https://kommun.se/artikel")


def test_stream_checker_sends_only_checked_sentences() -> None:
    checker = StreamChecker([1, 2])
    out = [checker.feed(t) for t in ("Trollhättan arbetar [", "1]. Det finns mer", " [7", "]. ",
                                     "Och [2, 42] här", ".")]
    assert out[0] == ""  # nothing before the sentence (and its marker) is whole
    assert out[1] == "Trollhättan arbetar [1]. "
    assert "[7]" not in "".join(out) and "[" + "7" not in "".join(out)
    out.append(checker.finish())
    text = "".join(out)
    assert text == "Trollhättan arbetar [1]. Det finns mer. Och [2] här."
    assert checker.text == text and set(checker.removed) == {7, 42}
    for piece in out:  # every piece on its own is already free of invented markers
        assert set(markers(piece)) <= {1, 2}


def test_stream_checker_agrees_with_the_final_check() -> None:
    answer = "Ett [1]. Två [3][2]. Tre [9]. Fyra [1-2]!\nFem [2; 8]"
    sources = [_source(1, "ett fyra"), _source(2, "två fyra fem")]
    checker = StreamChecker(s.n for s in sources)
    streamed = "".join(checker.feed(answer[i:i + 3]) for i in range(0, len(answer), 3))
    streamed += checker.finish()
    assert streamed.strip() == check_citations(answer, sources).text


@pytest.mark.parametrize("question", ["???", "[1]", "[1][2] .", "\u200b", "\u0000", " \u202e ",
                                      "…!?", "\ufeff[3]"])
def test_degenerate_questions(question: str) -> None:
    assert is_degenerate_question(question)


@pytest.mark.parametrize("question", ["Vad gör Lund?", "2023?", "\u200bVad\u0000 gör\n Lund?",
                                      "Vad står i [1]?", "Ö"])
def test_real_questions(question: str) -> None:
    assert not is_degenerate_question(question)
    assert "\u200b" not in clean_question(question) and "\u0000" not in clean_question(question)


# --- issue 16: the text a client gets, in any chunking ---------------------------------------

LOOKALIKE_TEXT = "Full bredd noll linsform äkta"


def run(checker: StreamChecker, tokens: list[str]) -> list[str]:
    pieces = [checker.feed(t) for t in tokens]
    pieces.append(checker.finish())
    return [p for p in pieces if p]


def test_the_split_replies_of_the_issue_lose_their_invented_markers() -> None:
    for first, second in SPLIT_REPLIES:
        checker = StreamChecker(VALID)
        pieces = run(checker, ["Trollhättan arbetar [1]. ", first, second])
        assert_checked(pieces)
        assert "".join(pieces) == checker.text and "[1]" in checker.text


@pytest.mark.parametrize("answer", [SPLIT_ANSWER, LOOKALIKES, PAYLOADS],
                         ids=["split", "look-alikes", "markup"])
def test_no_chunking_gets_anything_through(answer: str) -> None:
    whole = run(StreamChecker(VALID, [SOURCE_URL]), [answer])
    for tokens in chunkings(answer):
        checker = StreamChecker(VALID, [SOURCE_URL])
        pieces = run(checker, tokens)
        assert_checked(pieces)
        assert "".join(pieces) == checker.text
    assert_checked(whole)


def test_the_stream_goes_a_sentence_at_a_time() -> None:
    checker = StreamChecker(VALID)
    assert checker.feed("Första meningen [1]. Andra") == "Första meningen [1]. "
    assert checker.feed(" meningen [") == ""  # a marker may be open: wait
    assert checker.feed("\n 2]. Tredje") == "Andra meningen [2]. "
    assert checker.finish() == "Tredje"


def test_look_alikes_are_read_as_the_markers_they_show() -> None:
    check = check_citations(LOOKALIKES, [_source(1, LOOKALIKE_TEXT), _source(2, LOOKALIKE_TEXT)])
    assert seen_markers(check.text) == {1, 2}
    assert set(check.removed) == {6, 7, 8, 9}
    assert "Äkta [1] och [2]." in check.text
    assert "［" not in check.text and "\u200b" not in check.text


def test_markup_is_removed_and_only_the_sources_links_stay() -> None:
    text = StreamChecker(VALID, [SOURCE_URL]).feed(PAYLOADS + " ") or ""
    assert "Se klicka här [1]." in text
    assert f"[källan]({SOURCE_URL})" in text and "och annan." in text
    assert not markup(text), markup(text)
    assert "<" not in text.replace("‹", "")


@pytest.mark.parametrize("tricky", ["<<b>script>alert(1)</script>", "[[a](x)](javascript:y)",
                                    "[<b>7</b>]", "<[7]b>x", "&#91;7&#93;",
                                    "[a[7]]: https://evil.example"])
def test_nested_tricks_are_peeled(tricky: str) -> None:
    checker = StreamChecker(VALID)
    text = run(checker, [tricky])
    assert not markup("".join(text)) and seen_markers("".join(text)) <= set(VALID), text


def test_article_look_alikes_are_neutralised_in_place() -> None:
    text = "Se ［2］ och [3\u200b] och [1]."
    neutral = neutralise_markers(text)
    assert len(neutral) == len(text) and seen_markers(neutral) == set()


def test_metadata_for_the_heading_is_plain() -> None:
    title = "Läsombud <img src=x onerror=alert(1)> [klicka](javascript:x) ![t](https://evil.example/t.png)"
    assert plain_text(title) == "Läsombud klicka"


def test_a_stray_bracket_holds_the_rest_until_the_end() -> None:
    """Held text is not re-checked without end (that would be quadratic): past a limit
    it goes out whole, checked, when the answer ends."""
    checker = StreamChecker(VALID)
    pieces = run(checker, ["Början [1]. Här [ öppnas. ", *["Mening [7]. "] * 300])
    assert pieces[0] == "Början [1]. " and len(pieces) == 2
    assert_checked(pieces)
