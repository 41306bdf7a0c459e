"""The verbs beside ``assistant eval FILE``: ``compare``, ``compact``, ``convert`` and
``draft``.

``assistant eval FILE [options]`` must keep parsing exactly as before (scripts and CI
call it), so these verbs are recognised by their first word (:func:`is_verb`) and
parsed by their own parser; a file literally named ``compare`` is still reachable as
``./compare``.

Exit codes follow ``assistant eval`` (see :mod:`assistant.cli.common`): 0 = ok,
1 = usage, input or configuration problem, 2 = ``compare --fail-on-regression`` found
a regression (like the gate). Errors propagate to :func:`assistant.cli.main.main`,
whose one table turns them into exit codes (bad reports and rows are ``ValueError``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from assistant.cli.common import EXIT_ERROR, EXIT_OK, err, load_settings
from assistant.cli.evaluate import verdict
from assistant.errors import UserError

__all__ = ["VERBS", "build_verb_parser", "is_verb"]

VERBS = ("compare", "compact", "convert", "draft", "calibrate")


def is_verb(argv: Sequence[str]) -> bool:
    """``["eval", "compare", ...]`` and friends; anything else is ``eval FILE``."""
    return len(argv) > 1 and argv[0] == "eval" and argv[1] in VERBS


def _exit_1_on_usage(parser: argparse.ArgumentParser) -> None:
    """Argparse exits 2 on usage errors; 2 means "regression" here, so usage is 1."""

    def error(message: str) -> NoReturn:
        parser.print_usage(sys.stderr)
        parser.exit(EXIT_ERROR, f"{parser.prog}: fel: {message}\n")

    parser.error = error  # type: ignore[method-assign]


# --- compare ---------------------------------------------------------------------------------


def _compare(args: argparse.Namespace) -> int:
    from assistant.evaluation.compare import (
        compare_reports,
        find_regressions,
        load_run,
        parse_regression,
        render_comparison,
    )

    rules = [parse_regression(text) for text in args.fail_on_regression]
    comparison = compare_reports(load_run(args.base), load_run(args.new))
    for warning in comparison.warnings:
        err(f"varning: {warning}")
    print(render_comparison(comparison))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(comparison.as_dict(), ensure_ascii=False, indent=2,
                                       allow_nan=False) + "\n", encoding="utf-8")
        err(f"jämförelse: {args.out}")
    if args.html:
        from assistant.evaluation.html_report import write_compare_html

        title = f"Jämförelse: {comparison.base_label} → {comparison.new_label}"
        write_compare_html(args.html, comparison.as_dict(), title)
        err(f"html: {args.html}")
    if not rules:
        return EXIT_OK
    regressions = find_regressions(comparison, rules)
    return verdict(regressions,
                   f"REGRESSION: {len(regressions)} av {len(rules)} metriker försämrade",
                   f"Ingen regression: alla {len(rules)} metriker inom toleransen.")


# --- compact ---------------------------------------------------------------------------------


def _compact(args: argparse.Namespace) -> int:
    from assistant.evaluation import compact
    from assistant.evaluation.compare import read_report

    document = compact.compact(read_report(args.source))
    compact.write(args.target, document)
    size = args.target.stat().st_size
    err(f"{len(document['runs'])} körning(ar), {len(document['questions'])} frågor: "
        f"{args.target} ({size / 1e6:.2f} MB)")
    return EXIT_OK


# --- convert ---------------------------------------------------------------------------------


def _convert(args: argparse.Namespace) -> int:
    from assistant.evaluation.interop import convert

    count = convert(args.source, args.target, from_format=args.from_format,
                    to_format=args.to_format, ragas_only=args.ragas_only)
    err(f"{count} rader skrivna till {args.target}")
    return EXIT_OK


# --- draft -----------------------------------------------------------------------------------


def _draft(args: argparse.Namespace) -> int:
    from assistant.evaluation.draft import draft_corpus, load_articles, write_drafts

    settings = load_settings()
    corpus = args.corpus or settings.corpus_dir
    articles, skipped = load_articles(corpus, settings)
    for message in skipped:
        err(f"hoppar över {message}")
    if not articles:
        raise UserError(f"inga läsbara artiklar i {corpus}")
    use_llm = {"llm": True, "extractive": False, None: None}[args.mode]
    if use_llm and not (settings.openai_api_key or settings.llm_base_url):
        raise UserError("--mode llm behöver OPENAI_API_KEY eller ASSISTANT_LLM_BASE_URL")
    drafts = draft_corpus(articles, settings, per_doc=args.per_doc, near_misses=args.near_misses,
                          use_llm=use_llm, concurrency=args.concurrency)
    count, errors = write_drafts(args.out, drafts)
    for error in errors:
        err(f"varning: inga utkast för {error}")
    mode = "LLM" if (use_llm if use_llm is not None else settings.mode == "llm") else "extraktivt"
    err(f"{count} utkast ({mode}) från {len(articles)} artiklar skrivna till {args.out}; "
        "granska varje rad (needs_review) innan den används")
    return EXIT_OK


# --- parser ----------------------------------------------------------------------------------


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"måste vara minst 1, fick {value}")
    return value


def build_verb_parser() -> argparse.ArgumentParser:
    """``assistant [-v] eval compare|convert|draft ...``; sets ``func`` like the main parser."""
    from assistant.evaluation.interop import FORMATS

    parser = argparse.ArgumentParser(prog="assistant",
                                     description="Jämför, konvertera och skapa eval-filer.")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="mer loggning (-vv för felsökning)")
    _exit_1_on_usage(parser)
    top = parser.add_subparsers(dest="command", required=True)
    evaluate = top.add_parser("eval")
    _exit_1_on_usage(evaluate)
    sub = evaluate.add_subparsers(dest="verb", required=True)
    from assistant.cli.evaluate import add_calibrate_parser

    add_calibrate_parser(sub)

    p = sub.add_parser(
        "compare", help="jämför två rapporter fråga för fråga",
        description="Metrikskillnader med parade bootstrap-konfidensintervall (95 %) och "
                    "frågorna som bytte mellan godkänd och underkänd. RAPPORT kan vara "
                    "fil.json#namn för en körning i en --compare-rapport. Exitkod 2 vid "
                    "regression (--fail-on-regression).")
    p.add_argument("base", metavar="BAS.json")
    p.add_argument("new", metavar="NY.json")
    p.add_argument("--fail-on-regression", action="append", default=[],
                   metavar="METRIK[=TOLERANS]",
                   help="exitkod 2 om metriken försämras mer än toleransen (standard 0), "
                        "t.ex. hit@1=0.03 (kan upprepas)")
    p.add_argument("--out", type=Path, metavar="FIL.json", help="skriv jämförelsen som JSON")
    p.add_argument("--html", type=Path, metavar="FIL.html",
                   help="skriv jämförelsen som fristående HTML (svaren sida vid sida)")
    p.set_defaults(func=_compare)

    p = sub.add_parser(
        "compact", help="skriv en rapport i kompakt form (för incheckade baslinjer)",
        description="Behåller per fråga metrik, svar, citerade och hämtade id:n (även "
                    "chunk-id:n), vägransposten och tider; passagerna anges med id, utan "
                    "text. compare, grinden och HTML-rapporten läser båda formerna.")
    p.add_argument("source", metavar="IN", type=Path, help="rapport från assistant eval --out")
    p.add_argument("target", metavar="UT", type=Path)
    p.set_defaults(func=_compact)

    p = sub.add_parser(
        "convert", help="konvertera mellan egna JSONL/CSV och ragas-rader",
        description="Format: " + ", ".join(FORMATS) + ". Utan --from/--to avgörs formatet "
                    "av filändelsen (.jsonl egen, .csv egen CSV, .json rapport).")
    p.add_argument("source", metavar="IN", type=Path)
    p.add_argument("target", metavar="UT", type=Path)
    p.add_argument("--from", dest="from_format", choices=FORMATS)
    p.add_argument("--to", dest="to_format", choices=[f for f in FORMATS if f != "report"])
    p.add_argument("--ragas-only", action="store_true",
                   help="bara ragas kolumner (utan id, expected_sources, must_mention …)")
    p.set_defaults(func=_convert)

    p = sub.add_parser(
        "draft", help="föreslå eval-rader ur artiklarna för granskning",
        description="Utkast med källdokument, stödjande mening och needs_review, plus "
                    "obesvarbara 'nästan'-frågor. LLM-läge när en endpoint är konfigurerad.")
    p.add_argument("--corpus", type=Path, metavar="MAPP",
                   help="artikelmapp (standard: ASSISTANT_CORPUS_DIR)")
    p.add_argument("--out", type=Path, required=True, metavar="FIL.jsonl")
    p.add_argument("--mode", choices=["llm", "extractive"],
                   help="standard: llm om en endpoint är konfigurerad, annars extractive")
    p.add_argument("--per-doc", type=_positive, default=5, metavar="N")
    p.add_argument("--near-misses", type=int, default=2, metavar="N",
                   help="obesvarbara utkast per artikel (standard 2)")
    p.add_argument("--concurrency", type=_positive, default=1, metavar="N")
    p.set_defaults(func=_draft)
    for sub_parser in sub.choices.values():
        _exit_1_on_usage(sub_parser)
    return parser
