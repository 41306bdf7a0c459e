from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.evaluation.dataset import (
    DatasetError,
    EvalQuestion,
    load_eval_file,
    unknown_sources,
)


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "eval.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _line(**fields: object) -> str:
    return json.dumps(fields, ensure_ascii=False)


def _errors_by_line(errors: list[DatasetError]) -> dict[int, list[str]]:
    result: dict[int, list[str]] = {}
    for error in errors:
        result.setdefault(error.line, []).append(error.reason)
    return result


def test_valid_question_is_parsed_and_stripped(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            _line(
                id=" q07 ",
                question="  Vem var värd för besöket? ",
                history=[
                    {"role": "user", "content": " Vad gjorde Trollhättan? "},
                    {"role": "assistant", "content": "Något [1]."},
                ],
                expected_sources=[" 004.txt ", "005.txt"],
                must_mention=[["Katarina Nyman", " nyman "]],
                reference_answer=" Katarina Nyman. ",
                kind="followup",
            )
        ],
    )
    questions, errors = load_eval_file(path)
    assert errors == []
    assert questions == [
        EvalQuestion(
            id="q07",
            question="Vem var värd för besöket?",
            expected_sources=("004.txt", "005.txt"),
            must_mention=(("Katarina Nyman", "nyman"),),
            history=(
                {"role": "user", "content": "Vad gjorde Trollhättan?"},
                {"role": "assistant", "content": "Något [1]."},
            ),
            reference_answer="Katarina Nyman.",
            kind="followup",
            line=1,
        )
    ]
    assert questions[0].answerable
    hash(questions[0])  # usable as a dict key despite holding dicts


def test_defaults_and_unanswerable(tmp_path: Path) -> None:
    path = _write(tmp_path, [_line(question="Vad kostar en glass på månen?", expected_sources=[])])
    (question,), errors = load_eval_file(path)
    assert errors == []
    assert question.id == "line1"
    assert question.kind == "unspecified"
    assert question.must_mention == ()
    assert question.history == ()
    assert question.reference_answer is None
    assert question.extra == {}
    assert not question.answerable


def test_blank_and_comment_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            "// kommentar",
            "",
            "# en till",
            "   ",
            _line(question="Fråga?", expected_sources=["a"]),
        ],
    )
    (question,), errors = load_eval_file(path)
    assert errors == []
    assert question.line == 5
    assert question.id == "line5"


def test_bom_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_text(_line(id="q1", question="Fråga?", expected_sources=[]), encoding="utf-8-sig")
    questions, errors = load_eval_file(path)
    assert errors == []
    assert [q.id for q in questions] == ["q1"]


def test_unknown_fields_are_kept(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [_line(id="q1", question="Fråga?", expected_sources=["a"], difficulty="hard", tags=["x"])],
    )
    (question,), errors = load_eval_file(path)
    assert errors == []
    assert question.extra == {"difficulty": "hard", "tags": ["x"]}


def test_must_mention_accepts_plain_string_alternatives(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [_line(id="q1", question="Fråga?", expected_sources=["a"], must_mention=["a", ["b", "c"]])],
    )
    (question,), errors = load_eval_file(path)
    assert errors == []
    assert question.must_mention == (("a",), ("b", "c"))


def test_duplicate_expected_sources_are_collapsed(tmp_path: Path) -> None:
    path = _write(tmp_path, [_line(id="q1", question="F?", expected_sources=["a", "b", "a"])])
    (question,), _ = load_eval_file(path)
    assert question.expected_sources == ("a", "b")


def test_malformed_lines_are_reported_with_line_numbers(tmp_path: Path) -> None:
    good = {"question": "Fråga?", "expected_sources": ["a"]}
    path = _write(
        tmp_path,
        [
            _line(id="q01", **good),  # 1
            _line(id="q03", **good),  # 2
            '{"id": "q02" "question": "x"}',  # 3 invalid JSON
            "",  # 4
            _line(id="q04", expected_sources=["a"]),  # 5 missing question
            _line(id="q05", question="F?", expected_sources="a.txt"),  # 6 wrong type
            _line(id="q03", **good),  # 7 duplicate
            "[1, 2]",  # 8 not an object
            _line(id="q06", question="F?"),  # 9 missing expected_sources
            _line(id="q07", question="F?", expected_sources=["a"], must_mention=[["a", 3]]),  # 10
            _line(id="q08", question="F?", expected_sources=["a"], must_mention=[[]]),  # 11
            _line(id="q09", question="F?", expected_sources=["a"], must_mention=[""]),  # 12
            _line(
                id="q10",
                question="F?",
                expected_sources=["a"],
                history=[{"role": "bot", "content": "x"}],
            ),  # 13
            _line(
                id="q11",
                question="F?",
                expected_sources=["a"],
                history=[{"role": "user", "content": 5}],
            ),  # 14
            _line(id="q12", question="F?", expected_sources=["a"], history="hej"),  # 15
            _line(id=12, question="F?", expected_sources=["a"]),  # 16
            _line(id="q13", question="   ", expected_sources=["a"]),  # 17
            _line(id="q14", question="F?", expected_sources=["a"], kind=3),  # 18
            _line(id="q15", question="F?", expected_sources=["a"], reference_answer=1),  # 19
            _line(id="q16", question="F?", expected_sources=[""]),  # 20
            _line(id="q17", **good),  # 21 still loaded after all that
        ],
    )
    questions, errors = load_eval_file(path)
    assert [q.id for q in questions] == ["q01", "q03", "q17"]
    assert [q.line for q in questions] == [1, 2, 21]
    by_line = _errors_by_line(errors)
    assert by_line == {
        3: ["invalid JSON: Expecting ',' delimiter (col 14)"],
        5: ["missing field 'question'"],
        6: ["'expected_sources' must be a list of strings"],
        7: ["duplicate id 'q03' (first on line 2)"],
        8: ["expected a JSON object, got array"],
        9: ["missing field 'expected_sources'"],
        10: ["'must_mention' must be a list of groups (strings or lists of strings)"],
        11: ["'must_mention' group 1 is empty or has an empty alternative"],
        12: ["'must_mention' group 1 is empty or has an empty alternative"],
        13: ["'history' entry 1: 'role' must be one of 'assistant', 'user'"],
        14: ["'history' entry 1: 'content' must be a string"],
        15: ["'history' must be a list of {role, content} objects"],
        16: ["'id' must be a non-empty string"],
        17: ["'question' must be a non-empty string"],
        18: ["'kind' must be a non-empty string"],
        19: ["'reference_answer' must be a string"],
        20: ["'expected_sources' must be a list of strings"],
    }
    assert str(errors[0]) == "line 3: invalid JSON: Expecting ',' delimiter (col 14)"


def test_every_problem_on_a_line_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, [_line(id="q1", expected_sources="x", kind="")])
    questions, errors = load_eval_file(path)
    assert questions == []
    assert [e.line for e in errors] == [1, 1, 1]
    assert {e.reason for e in errors} == {
        "missing field 'question'",
        "'expected_sources' must be a list of strings",
        "'kind' must be a non-empty string",
    }


def test_default_id_can_collide_with_explicit_id(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            _line(id="line2", question="F?", expected_sources=[]),
            _line(question="G?", expected_sources=[]),
        ],
    )
    questions, errors = load_eval_file(path)
    assert [q.id for q in questions] == ["line2"]
    assert errors == [DatasetError(2, "duplicate id 'line2' (first on line 1)")]


def test_missing_file_raises_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="eval file not found"):
        load_eval_file(tmp_path / "nope.jsonl")


def test_unreadable_file_raises_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read eval file"):
        load_eval_file(tmp_path)  # a directory
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ValueError, match="not valid UTF-8"):
        load_eval_file(binary)


def _question(qid: str, sources: tuple[str, ...]) -> EvalQuestion:
    return EvalQuestion(id=qid, question="F?", expected_sources=sources, must_mention=())


def test_unknown_sources_maps_missing_ids_to_questions() -> None:
    questions = [
        _question("q1", ("a.txt", "typo.txt")),
        _question("q2", ("typo.txt", "gone.txt")),
        _question("q3", ("a.txt",)),
        _question("q4", ()),
    ]
    assert unknown_sources(questions, ["a.txt", "b.txt"]) == {
        "typo.txt": ["q1", "q2"],
        "gone.txt": ["q2"],
    }
    assert unknown_sources(questions, {"a.txt", "typo.txt", "gone.txt"}) == {}
    assert unknown_sources([], set()) == {}
