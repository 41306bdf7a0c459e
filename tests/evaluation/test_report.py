"""Human output: the table, the failing questions, Markdown and its PNG chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.evaluation.harness import EvalReport, run_eval
from assistant.evaluation.report import (
    NULL,
    format_value,
    render_abstention,
    render_config,
    render_failures,
    render_table,
    write_chart,
    write_markdown,
)
from tests.evaluation.test_harness import FakeAnswerer, Scripted, make_question, sample_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def table_rows(text: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.strip()}


def test_format_value_prints_null_as_dash_not_zero() -> None:
    assert format_value(None) == NULL
    assert format_value(float("nan")) == NULL
    assert format_value(0.0) == "0.000"
    assert format_value(0.5) == "0.500"
    assert format_value(12.345, digits=1) == "12.3"
    assert format_value(48) == "48"


def test_single_run_table_has_overall_and_one_column_per_kind() -> None:
    text = render_table([sample_run()])
    rows = table_rows(text)
    assert rows["metric"] == ["overall", "fact", "list", "unanswerable"]
    assert rows["n"] == ["4", "1", "2", "1"]
    # refusal accuracy is only defined for the unanswerable kind
    assert rows["refusal_accuracy"] == ["1.000", NULL, NULL, "1.000"]
    assert rows["hit@1"][0] == "0.333"
    assert "total_p95" in text and "retrieve_p50" in text


def test_compare_table_has_one_column_per_configuration_and_explains_the_baseline() -> None:
    first = sample_run()
    baseline = sample_run(generates_answers=False)
    baseline.name = "baseline"
    text = render_table([first, baseline])
    rows = table_rows(text)
    assert rows["metric"] == ["hybrid", "baseline"]
    assert rows["citation_validity"] == ["1.000", NULL]
    assert "RecursiveCharacterTextSplitter" in text


def test_failures_show_expected_and_what_came_back() -> None:
    text = render_failures(sample_run())
    assert "Misslyckade frågor (hybrid): 2 av 4" in text
    assert "b [list] När öppnar biblioteket?" in text
    assert "förväntat: doc2" in text
    assert "hämtat:    doc1, doc2" in text
    assert "saknas:    klockan åtta" in text
    assert "c [list] Hur många elever?" in text
    assert "vägrade" in text
    # the passing questions are not listed
    assert "Vem leder skolan?" not in text and "flygresa" not in text


def test_failure_answer_is_cut_to_200_characters() -> None:
    long_answer = "ord " * 200 + "[1]"
    questions = [make_question("x", "Lång?", ["doc9"], [["saknas"]])]
    report = run_eval(FakeAnswerer({"Lång?": Scripted(["doc1"], long_answer)}), questions, k=5)
    answer_line = next(line for line in render_failures(report).splitlines()
                       if line.lstrip().startswith("svar"))
    shown = answer_line.split(":", 1)[1].strip()
    assert len(shown) == 200 and shown.endswith("…")


def test_no_failures_says_so() -> None:
    questions = [make_question("a", "Vem?", ["doc1"], [["anna"]])]
    report = run_eval(FakeAnswerer({"Vem?": Scripted(["doc1"], "Anna [1].")}), questions, k=5)
    assert "Inga misslyckade frågor" in render_failures(report)


def test_render_config_names_the_setup() -> None:
    line = render_config(sample_run())
    assert "retriever=hybrid" in line and "k=5" in line and "mode=extractive" in line
    assert "3 dokument/6 chunkar" in line


def test_markdown_report_writes_a_png_chart_next_to_it(tmp_path: Path) -> None:
    path = tmp_path / "out" / "report.md"
    chart = write_markdown(path, [sample_run()], "eval/q.jsonl")
    assert chart == tmp_path / "out" / "report.png"
    assert chart.read_bytes().startswith(PNG_MAGIC)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Utvärdering: eval/q.jsonl")
    assert "![Metrik och svarstider](report.png)" in text
    assert "| metric | overall | fact | list | unanswerable |" in text
    assert "### b (list): När öppnar biblioteket?" in text


def test_markdown_compare_has_the_side_by_side_table_and_per_kind_tables(tmp_path: Path) -> None:
    baseline = sample_run(generates_answers=False)
    baseline.name = "baseline"
    path = tmp_path / "compare.md"
    chart = write_markdown(path, [sample_run(), baseline])
    assert chart.read_bytes().startswith(PNG_MAGIC)
    text = path.read_text(encoding="utf-8")
    assert "| metric | hybrid | baseline |" in text
    assert "## baseline per typ" in text
    assert "RecursiveCharacterTextSplitter" in text


def test_markdown_escapes_answer_text(tmp_path: Path) -> None:
    questions = [make_question("a", "Vem?", ["doc1"], [["saknas"]])]
    report = run_eval(FakeAnswerer({"Vem?": Scripted(["doc1"], "a | b *c* <script> [1]")}),
                      questions, k=5)
    path = tmp_path / "r.md"
    write_markdown(path, [report])
    text = path.read_text(encoding="utf-8")
    assert "a \\| b \\*c\\* &lt;script>" in text


def test_chart_copes_with_all_metrics_null(tmp_path: Path) -> None:
    report = run_eval(FakeAnswerer({}), [], k=5)
    chart = write_chart(tmp_path / "empty.png", [report])
    assert chart.read_bytes().startswith(PNG_MAGIC)


def scored_run() -> EvalReport:
    """Two answerable and one unanswerable question with confidence and the reference."""
    def evidence(best: float) -> dict[str, Any]:
        return {"rule": "accepted", "evidence": {"best_passage": best}}

    questions = [make_question("a", "Vem?", ["doc1"]), make_question("b", "När?", ["doc1"]),
                 make_question("u", "Vad?", [], kind="unanswerable")]
    script = {"Vem?": Scripted(["doc1"], "Anna [1].", confidence=0.9, outcome="answer",
                               refusal=evidence(0.8)),
              "När?": Scripted(["doc2"], "I maj [1].", confidence=0.7, outcome="answer",
                               refusal=evidence(0.6)),
              "Vad?": Scripted(["doc1"], "Jag hittar inget säkert svar. [1]", confidence=0.2,
                               outcome="hedged", refusal=evidence(0.7))}
    return run_eval(FakeAnswerer(script), questions, k=5, name="hybrid")


def test_abstention_table_puts_confidence_beside_the_reference() -> None:
    text = render_abstention(scored_run())
    lines = text.splitlines()
    assert lines[0] == ("Avstående (hybrid): 2 besvarbara, 1 obesvarbara, 1 rätt besvarade; "
                        "hedge_rate 0.333")
    assert lines[1].split() == ["avstående", "confidence", "best_passage", "(referens)"]
    auroc = next(line for line in lines if line.startswith("AUROC"))
    assert auroc.split()[-2:] == ["1.000", "0.500"]  # .7 ties neither: .8 above, .6 below
    refuse = next(line for line in lines if "vid 3 % falska" in line)
    assert refuse.split()[-4:] == ["1.000", "(0.000)", "0.000", "(0.000)"]
    # the most confident third: the one right answer (a); the reference ranks a first too
    top = next(line for line in lines if "täckning 30 %" in line)
    assert top.split()[-2:] == ["1.000", "1.000"]
    assert "Rätt besvarad = besvarbar" in lines[-2]


def test_no_abstention_table_without_any_score() -> None:
    assert render_abstention(sample_run()) == ""


def test_markdown_has_the_abstention_table(tmp_path: Path) -> None:
    path = tmp_path / "rapport.md"
    write_markdown(path, [scored_run()])
    text = path.read_text(encoding="utf-8")
    assert "## Avstående (hybrid)" in text
    assert "| AUROC besvarbar/obesvarbar | 1.000 | 0.500 |" in text
