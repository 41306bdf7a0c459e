"""``assistant eval``: run an eval file, print the table, write reports, gate CI.

Exit codes (see :mod:`assistant.cli.common`): 0 = ran (and met every threshold),
1 = usage or configuration problem (missing file, missing index, bad option, nothing
valid to evaluate), 2 = the run fell short of a ``--min``/``--max`` threshold.
Argparse's own usage errors for this subcommand also exit 1, so 2 always means
"quality regression".
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from assistant.cli.common import (
    EXIT_ERROR,
    EXIT_GATE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    err,
    load_settings,
)
from assistant.errors import IndexUnavailableError, UserError
from assistant.retrieval.retrievers import retriever_names

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from assistant.answer import Assistant
    from assistant.config import Settings
    from assistant.evaluation.baseline import TutorialBaseline
    from assistant.evaluation.dataset import EvalQuestion
    from assistant.evaluation.harness import Answerer, EvalReport, QuestionResult, RunSpec
    from assistant.evaluation.judge import Judge
    from assistant.evaluation.reference import DenseReference
    from assistant.history import History
    from assistant.params import FusionParams
    from assistant.retrieval.filters import Filters
    from assistant.retrieval.hybrid import Searcher
    from assistant.types import Answer

__all__ = ["add_eval_parser", "run_eval_command", "verdict"]

_NEEDS_INDEX = "Indexet behövs för utvärderingen: kör först `assistant ingest`."


def _usage_error(parser: argparse.ArgumentParser) -> Any:
    """Argparse exits 2 on usage errors; for ``eval`` 2 is reserved for a failed gate."""

    def error(message: str) -> NoReturn:
        parser.print_usage(sys.stderr)
        parser.exit(EXIT_ERROR, f"{parser.prog}: fel: {message}\n")

    return error


def add_eval_parser(subparsers: Any) -> None:
    """Register ``eval`` on the ``assistant`` parser's subcommands."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "eval",
        help="utvärdera mot en JSONL-fil med frågor (träff, fakta, källor, vägran)",
        description=(
            "Kör varje fråga i FILE genom assistenten och mät hämtning (hit@1, hit@k, "
            "recall@k, mrr), fakta (fact_coverage), källhänvisningar, vägran och svarstid. "
            "Exitkod 0 = ok, 1 = användnings-/konfigurationsfel, 2 = under en tröskel, "
            "130 = avbruten (delrapporten skrivs ändå). Fler verb: assistant eval compare "
            "BAS.json NY.json, assistant eval compact IN UT, assistant eval convert IN UT, "
            "assistant eval draft --out FIL."
        ),
    )
    p.error = _usage_error(p)  # type: ignore[method-assign]
    p.add_argument("file", metavar="FILE", type=Path, help="frågefil (JSONL)")
    p.add_argument("--out", type=Path, metavar="REPORT.json", help="skriv rapporten som JSON")
    p.add_argument("--baseline", type=Path, metavar="BASELINE.json",
                   help="skriv rapporten i kompakt form, utan passagernas text (för "
                        "incheckade baslinjer som eval/baseline.json)")
    p.add_argument("--retriever", choices=list(retriever_names()),
                   help="hämtningsmetod (standard: ASSISTANT_RETRIEVER)")
    p.add_argument("--k", type=int, metavar="N", help="antal passager (standard: ASSISTANT_K)")
    p.add_argument("--mode", choices=["extractive", "llm"],
                   help="svarsläge (standard: enligt ASSISTANT_LLM)")
    p.add_argument("--compare", metavar="LIST",
                   help="kör flera konfigurationer sida vid sida, t.ex. "
                        "hybrid,dense,bm25,baseline (grinden gäller den första)")
    p.add_argument("--min", dest="minimums", action="append", default=[],
                   metavar="METRIC=VALUE",
                   help="lägsta godkända värde, t.ex. hit@k=0.9 (kan upprepas)")
    p.add_argument("--max", dest="maximums", action="append", default=[],
                   metavar="METRIC=VALUE",
                   help="högsta godkända värde, t.ex. false_refusal_rate=0.1 eller "
                        "total_p95=500 (kan upprepas)")
    p.add_argument("--corpus", type=Path, metavar="DIR",
                   help="utvärdera mot en egen korpus (t.ex. eval/faq-dev/corpus): ett eget "
                        "index under indexmappen, nyckat på korpusens fingeravtryck, byggs "
                        "inkrementellt om det saknas")
    p.add_argument("--markdown", type=Path, metavar="FILE",
                   help="skriv en Markdown-rapport med diagram (PNG bredvid)")
    p.add_argument("--quiet", action="store_true",
                   help="ingen lista över misslyckade frågor och inget förlopp")
    p.add_argument("--html", type=Path, metavar="FILE",
                   help="skriv en fristående HTML-rapport (filtrerbar, inga externa resurser)")
    p.add_argument("--judge", action="store_true",
                   help="LLM-domare: faithfulness, answer_relevance, answer_correctness "
                        "(ASSISTANT_JUDGE_MODEL/_BASE_URL, standard: LLM-inställningarna)")
    p.add_argument("--judge-repeats", type=int, default=1, metavar="N",
                   help="fråga domaren N gånger och rapportera medel och spridning")
    p.add_argument("--concurrency", type=int, default=1, metavar="N",
                   help="antal frågor samtidigt (för LLM-läge; med omförsök vid 429/5xx)")
    p.set_defaults(func=run_eval_command)


def run_eval_command(args: argparse.Namespace) -> int:
    """Run the eval subcommand; returns the process exit code (errors go to the table)."""
    try:
        return _run(args)
    except IndexUnavailableError as exc:
        if "assistant ingest" in str(exc):
            raise
        raise type(exc)(f"{exc}\n{_NEEDS_INDEX}") from None


def _parse_thresholds(args: argparse.Namespace) -> tuple[list[tuple[str, float]],
                                                          list[tuple[str, float]]]:
    from assistant.evaluation.harness import parse_threshold

    try:
        minimums = [parse_threshold(text, "min") for text in args.minimums]
        maximums = [parse_threshold(text, "max") for text in args.maximums]
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return minimums, maximums


def _make_settings(args: argparse.Namespace) -> Settings:
    settings = load_settings()
    if args.mode is not None:
        llm = "openai" if args.mode == "llm" else "extractive"
        settings = settings.model_copy(update={"llm": llm})
    if settings.mode == "llm" and not (settings.openai_api_key or settings.llm_base_url):
        raise UserError(
            "--mode llm behöver OPENAI_API_KEY eller ASSISTANT_LLM_BASE_URL "
            "(en OpenAI-kompatibel server); eller kör --mode extractive"
        )
    return settings


def _specs(args: argparse.Namespace, settings: Settings) -> list[RunSpec]:
    from assistant.evaluation.harness import RunSpec, parse_specs

    k = settings.k if args.k is None else args.k
    if k < 1:
        raise UserError(f"--k måste vara minst 1, fick {k}")
    retriever = args.retriever or settings.retriever
    try:
        return (parse_specs(args.compare, k) if args.compare
                else [RunSpec(retriever, retriever, k)])
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _load_questions(path: Path) -> tuple[list[EvalQuestion], list[dict[str, Any]]]:
    from assistant.evaluation.dataset import load_eval_file

    try:
        questions, errors = load_eval_file(path)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None
    for error in errors:
        err(f"{path}:{error.line}: felaktig rad: {error.reason}")
    if errors:
        err(f"varning: {len(errors)} problem i {path}; övriga frågor körs ändå")
    if not questions:
        raise UserError(f"{path} innehåller inga giltiga frågor")
    return questions, [{"line": e.line, "reason": e.reason} for e in errors]


def _warn_unknown(questions: Sequence[EvalQuestion], known: set[str],
                  where: str) -> dict[str, list[str]]:
    from assistant.evaluation.dataset import unknown_sources

    missing = unknown_sources(questions, known)
    for source, ids in missing.items():
        err(f"varning: källan {source!r} finns inte i {where} "
            f"(nämns av {', '.join(ids)}); hämtningen kan aldrig träffa den")
    return missing


def _run(args: argparse.Namespace) -> int:
    from assistant.evaluation.harness import check_gate
    from assistant.evaluation.report import (
        render_abstention,
        render_config,
        render_failures,
        render_refusal_reasons,
        render_table,
    )

    minimums, maximums = _parse_thresholds(args)
    if args.concurrency < 1 or args.judge_repeats < 1:
        raise UserError("--concurrency och --judge-repeats måste vara minst 1")
    settings = _make_settings(args)
    if args.corpus is not None:
        settings = _corpus_index(settings, args)
    judge = _make_judge(settings, args)
    specs = _specs(args, settings)
    questions, malformed = _load_questions(args.file)
    reports = _run_specs(settings, specs, questions, malformed, args)
    if judge is not None:
        _judge_reports(judge, reports, args)
    interrupted = any(report.interrupted for report in reports)

    print("\n".join(render_config(report) for report in reports))
    print()
    print(render_table(reports))
    for block in filter(None, map(render_abstention, reports)):
        print()
        print(block)
    if not args.quiet:
        print()
        print(render_failures(reports[0]))
    reasons = render_refusal_reasons(reports[0])
    if reasons:
        print()
        print(reasons)
    _write_reports(reports, args)
    if interrupted:
        done = sum(len(r.results) for r in reports)
        err(f"avbrutet: rapporterna täcker de {done} frågor som hann besvaras "
            "(markerade interrupted); grinden kontrolleras inte")
        return EXIT_INTERRUPTED

    if not (minimums or maximums):
        return EXIT_OK
    failures = check_gate(reports[0].aggregate, minimums, maximums)
    checked = len(minimums) + len(maximums)
    return verdict(
        failures,
        f"GRIND UNDERKÄND ({reports[0].name}): {len(failures)} av {checked} krav ej uppfyllda",
        f"Grind godkänd ({reports[0].name}): alla {checked} krav uppfyllda.")


def verdict(problems: Sequence[object], failed: str, passed: str) -> int:
    """CI's answer for the gate and ``compare --fail-on-regression``: each problem on
    stderr and exit 2, or one passing line and 0."""
    if problems:
        err(failed)
        for problem in problems:
            err(f"  {problem}")
        return EXIT_GATE
    print(f"\n{passed}")
    return EXIT_OK


def _corpus_index(settings: Settings, args: argparse.Namespace) -> Settings:
    """Settings for ``--corpus``: its own fingerprinted index, brought up to date first."""
    from assistant.evaluation.corpora import corpus_settings
    from assistant.ingest.pipeline import ingest

    try:
        settings = corpus_settings(settings, args.corpus)
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    _progress(args, f"Index för {args.corpus}: {settings.index_dir}")
    summary = ingest(settings, progress=not args.quiet and sys.stderr.isatty())
    if summary.added or summary.updated:
        _progress(args, summary.render())
    return settings


def _write_reports(reports: Sequence[EvalReport], args: argparse.Namespace) -> None:
    """``--out`` JSON (one report, or all side by side), ``--baseline`` (the same, compact),
    ``--markdown`` with its chart and ``--html``."""
    from assistant.evaluation.harness import compare_document

    document = reports[0].to_dict() if len(reports) == 1 else compare_document(reports)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False) + "\n",
            encoding="utf-8",
        )
        err(f"rapport: {args.out}")
    if args.baseline:
        from assistant.evaluation import compact

        compact.write(args.baseline, document)
        err(f"kompakt rapport: {args.baseline}")
    if args.markdown:
        from assistant.evaluation.report import write_markdown

        chart = write_markdown(args.markdown, reports, str(args.file))
        err(f"markdown: {args.markdown} (diagram: {chart})")
    if args.html:
        from assistant.evaluation.html_report import write_html

        write_html(args.html, [r.to_dict() for r in reports], title=f"Utvärdering: {args.file}")
        err(f"html: {args.html}")


def _run_specs(
    settings: Settings,
    specs: Sequence[RunSpec],
    questions: Sequence[EvalQuestion],
    malformed: list[dict[str, Any]],
    args: argparse.Namespace,
) -> list[EvalReport]:
    """Open the index once, build the baseline only if asked, run every configuration.

    The baseline reuses the assistant's embeddings instance so the model is loaded
    once and both sides embed with exactly the same model.
    """
    from assistant.evaluation import run_config

    common = run_config.common_config(settings, args.file, len(questions))
    assistant: Assistant | None = None
    embeddings: Embeddings | None = None
    known: set[str] | None = None
    if any(spec.is_assistant for spec in specs):
        from assistant.answer import Assistant

        assistant = Assistant.from_settings(settings)
        embeddings = assistant.embeddings
        known = set(assistant.retriever.manifest)
    unknown: dict[str, list[str]] = {}
    if known is not None:
        unknown = _warn_unknown(questions, known, "indexet")

    baseline: TutorialBaseline | None = None
    reference: DenseReference | None = None
    reports: list[EvalReport] = []
    try:
        for spec in specs:
            warnings: dict[str, Any] = {"malformed_lines": malformed}
            answerer: Answerer
            if spec.is_baseline:
                if baseline is None:
                    _progress(args, "Bygger baslinjens tillfälliga index …")
                    baseline = _build_baseline(settings, embeddings)
                    if known is None:
                        unknown = _warn_unknown(
                            questions, {d.doc_id for d in baseline.documents}, "korpusen")
                answerer, config = baseline, run_config.baseline_config(baseline, warnings)
            elif spec.is_reference:
                if reference is None:
                    _progress(args, "Bäddar in referensens råa dokument …")
                    reference = _build_reference(settings, embeddings)
                answerer, config = reference, run_config.reference_config(reference)
            else:
                assert assistant is not None  # built above for every non-baseline spec
                answerer, config = assistant, run_config.assistant_config(assistant, settings)
            warnings["unknown_sources"] = unknown
            reports.append(_run_one(answerer, spec, questions, {**config, **common},
                                    warnings, args, llm=settings.mode == "llm"))
            if reports[-1].interrupted:
                break  # Ctrl-C: keep what was answered, run nothing more
    finally:
        if baseline is not None:
            baseline.close()
    return reports


def _build_baseline(settings: Settings, embeddings: Embeddings | None) -> TutorialBaseline:
    from assistant.evaluation.baseline import TutorialBaseline

    return TutorialBaseline.from_settings(settings, embeddings)


def _build_reference(settings: Settings, embeddings: Embeddings | None) -> DenseReference:
    from assistant.evaluation.reference import DenseReference
    from assistant.retrieval.embeddings import get_embeddings

    return DenseReference.from_corpus(Path(settings.corpus_dir),
                                      embeddings or get_embeddings(settings),
                                      settings.metadata_file)


def _progress(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        err(message)


def _bar(args: argparse.Namespace, total: int, desc: str) -> Any:
    """A progress bar with rate and ETA on a terminal; silent in CI logs and with --quiet."""
    from tqdm import tqdm

    show = not args.quiet and sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit="fråga", disable=not show, dynamic_ncols=True,
                leave=False)


def _run_one(answerer: Answerer, spec: RunSpec, questions: Sequence[EvalQuestion],
             config: dict[str, Any], warnings: dict[str, Any],
             args: argparse.Namespace, *, llm: bool = False) -> EvalReport:
    from assistant.evaluation.harness import run_eval
    from assistant.evaluation.running import RetryPolicy

    # Against a model endpoint a 429/5xx costs a retry after a pause, never a fallback
    # answer scored as the model's; extractive runs have nothing to retry.
    retry = RetryPolicy() if llm and not spec.is_baseline else None
    with _bar(args, len(questions), spec.name) as bar:

        def advance(_result: QuestionResult) -> None:
            bar.update(1)

        report = run_eval(
            answerer, questions, k=spec.k, retriever=spec.retriever, name=spec.name,
            config=config, warnings=warnings, on_question=advance,
            concurrency=args.concurrency, retry=retry,
        )
    if retry is not None:
        report.config["retries"] = retry.retries
    return report


def _make_judge(settings: Settings, args: argparse.Namespace) -> Judge | None:
    """Built before any question is asked, so a missing judge endpoint fails in a second."""
    if not args.judge:
        return None
    from assistant.evaluation.judge import Judge, JudgeConfig

    try:
        return Judge(JudgeConfig.from_settings(settings, repeats=args.judge_repeats))
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _judge_reports(judge: Judge, reports: Sequence[EvalReport], args: argparse.Namespace) -> None:
    """Judge each generating run; the baseline's "answer" is raw passages, nothing to judge."""
    from assistant.evaluation.harness import BASELINE
    from assistant.evaluation.judge import apply_judge

    for report in reports:
        if report.name == BASELINE or report.interrupted:
            continue
        with _bar(args, len(report.results), f"domare {report.name}") as bar:
            apply_judge(report, judge, concurrency=args.concurrency,
                        on_question=lambda _block: bar.update(1))
        cfg = report.config["judge"]
        failures = report.aggregate.get("judge_failures", 0)
        _progress(args, f"domare {cfg['model']}: {cfg['requests']} anrop, "
                        f"{failures} misslyckade bedömningar ({report.name})")



# --- assistant eval calibrate ----------------------------------------------------------------


CALIBRATE = "calibrate"  # a verb of `assistant eval` (cli/suites.py routes eval verbs)
CALIBRATION_DOC = Path("docs/evaluation.md")  # the page with the calibration tables


def add_calibrate_parser(subparsers: Any) -> None:
    """Register ``eval calibrate`` (invoked as ``assistant eval calibrate``)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        CALIBRATE,
        help="välj fusionsvikter och vägransgränser med korsvalidering över "
             "utvecklingssviterna",
        description=(
            "Kör egna eval-frågorna och FAQ-utvecklingssviterna, väljer hämtningsvikter och "
            "vägransgränser med k-faldig korsvalidering och skriver tabellerna "
            "(utanför vikningen och i urvalet). Exitkod 2 med --check när de incheckade "
            "värdena inte är de som väljs nu."
        ),
    )
    p.error = _usage_error(p)  # type: ignore[method-assign]
    p.add_argument("--write", action="store_true",
                   help="skriv de valda värdena till assistant/calibration.json")
    p.add_argument("--check", action="store_true",
                   help="kontrollera att de incheckade värdena är de som väljs nu")
    p.add_argument("--doc", type=Path, metavar="PATH", nargs="?", const=CALIBRATION_DOC,
                   help="skriv tabellerna mellan kalibreringsmarkörerna i PATH "
                        f"(utan PATH: {CALIBRATION_DOC})")
    p.add_argument("--markdown", type=Path, metavar="FILE", help="skriv tabellerna till FILE")
    p.add_argument("--out", type=Path, metavar="RESULT.json",
                   help="skriv alla siffror och varje vikningens val som JSON")
    p.set_defaults(func=run_calibrate_command)


def run_calibrate_command(args: argparse.Namespace) -> int:
    """Run the search (:mod:`assistant.evaluation.calibration`), print and write its result."""
    from importlib import resources

    from assistant.answer.policy import RefusalPolicy
    from assistant.evaluation import calibration as cal
    from assistant.params import CALIBRATION_FILE, load_calibration

    settings = load_settings()
    committed = load_calibration()
    # The search starts from the rules' hand-set values, never from the committed file:
    # so re-running reproduces the committed values instead of wandering from them.
    result = cal.run(settings, _CalibrationChain, RefusalPolicy.search_start(),
                     progress=err, kit=_ConfidenceKit())
    # --write commits what the search chooses; otherwise the page shows the file's values
    block = cal.render_markdown(result, None if args.write else committed)
    print(block)
    chosen = result.calibration_json()
    if args.out:
        args.out.write_text(json.dumps({"chosen": chosen, "retrieval": result.retrieval_rows,
                                        "refusal": result.refusal_rows,
                                        "folds": result.fold_choices}, ensure_ascii=False,
                                       indent=2, default=str) + "\n", encoding="utf-8")
    if args.markdown:
        args.markdown.write_text(block + "\n", encoding="utf-8")
    if args.doc:
        cal.update_doc(args.doc, block)
        err(f"tabellerna: {args.doc}")
    if args.write:
        path = Path(str(resources.files("assistant").joinpath(CALIBRATION_FILE)))
        cal.write_json(path, result.merged_into(committed))
        err(f"skrev {path}")
    changed = cal.differs(committed, chosen)
    if changed:
        err("Kalibreringen väljer andra värden än de incheckade:")
        for line in changed:
            err(f"  {line}")
        if args.check:
            return EXIT_GATE
    else:
        err("De incheckade värdena är de som kalibreringen väljer.")
    return EXIT_OK


class _ConfidenceKit:
    """The answer stage's confidence model as the calibration fits it (evaluation/ does
    not import the answer stage)."""

    def features(self, evidence: Any) -> list[float]:
        from assistant.answer.confidence import feature_vector

        return [float(v) for v in feature_vector(evidence)]

    def fit(self, rows: Any, answerable: Any) -> Any:
        from assistant.answer.confidence import fit
        from assistant.evaluation.answerability import L2

        return fit(rows, answerable, L2)


class _CalibrationChain:
    """The answering chain of one corpus wired for the calibration search (which lives in
    evaluation/ and does not build the chain itself): retrieval as committed or with
    ``fusion``, and a policy that refuses nothing, so any policy can be replayed."""

    def __init__(self, settings: Settings, embeddings: Embeddings,
                 fusion: FusionParams | None) -> None:
        from assistant.answer import Assistant
        from assistant.answer.policy import RefusalPolicy

        self.assistant = Assistant.from_settings(settings, embeddings)
        self.assistant.policy = RefusalPolicy.open()
        self.assistant.confidence = None  # the model is what is being fitted
        if fusion is not None:
            self.assistant.retriever.fusion = fusion

    @property
    def retriever(self) -> Searcher:
        return self.assistant.retriever

    def standalone(self, question: str, history: History) -> str:
        from assistant.answer.condense import condense_offline

        return condense_offline(question, history, self.retriever.names_municipality)

    def open_answer(self, question: str, history: History, k: int,
                    filters: Filters) -> tuple[Any, Answer]:
        from assistant.answer.policy import Evidence

        answer = self.assistant.ask(question, history, k=k, filters=filters)
        recorded = (answer.refusal or {}).get("evidence")
        return (Evidence.from_dict(recorded) if recorded else None), answer
