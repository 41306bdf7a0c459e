"""The ``assistant`` console script: ingest, ask, eval, serve, config, feedback.

Each subcommand is a thin shell over the library; errors the user can fix are
printed as one readable line (no traceback) with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from assistant.config import Settings

EXIT_OK, EXIT_ERROR, EXIT_PARTIAL = 0, 1, 3


class UserError(Exception):
    """Shown to the user as-is; the message says what to do."""


def _settings(overrides: dict[str, object] | None = None) -> Settings:
    from pydantic import ValidationError

    try:
        return Settings(**(overrides or {}))  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(f"{_env_name(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise UserError(f"Ogiltig konfiguration: {problems}") from None


def _env_name(loc: tuple[int | str, ...]) -> str:
    """The variable to fix (``ASSISTANT_CHUNK_TOKENS``), not the Python field name."""
    if not loc:
        return "settings"
    name = str(loc[0])
    return name if name.isupper() else f"ASSISTANT_{name.upper()}"


def cmd_ingest(args: argparse.Namespace) -> int:
    from assistant.ingest.pipeline import ingest

    settings = _settings()
    summary = ingest(settings, [Path(p) for p in args.paths] or None, rebuild=args.rebuild,
                     progress=not args.quiet)
    if args.json:
        print(json.dumps(summary.as_dict(), ensure_ascii=False))
    else:
        print(summary.render())
    return EXIT_PARTIAL if summary.skipped else EXIT_OK


def _read_history(path: str | None) -> list[dict[str, str]]:
    if not path:
        return []
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"Kan inte läsa historiken i {path}: {exc}") from None
    from assistant.evaluation.dataset import parse_history

    turns = data.get("history", data) if isinstance(data, dict) else data
    try:
        return list(parse_history(turns))
    except ValueError as exc:
        raise UserError(f"{path}: {exc}") from None


def cmd_ask(args: argparse.Namespace) -> int:
    from assistant.answer import Assistant
    from assistant.citations import render_sources_text
    from assistant.retrieval.hybrid import Filters

    settings = _settings()
    # Bad input fails before the index and model are loaded.
    filters = Filters.parse(args.filter)
    history = _read_history(args.history)
    answer = Assistant.from_settings(settings).ask(args.question, history, k=args.k,
                                                   filters=filters)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return EXIT_OK
    print(answer.answer)
    if answer.notice:
        print(f"\n({answer.notice})")
    if not answer.refused:
        print("\nKällor:")
        print(render_sources_text(answer))
    return EXIT_OK


def cmd_config(args: argparse.Namespace) -> int:
    print(json.dumps(_settings().masked(), ensure_ascii=False, indent=2, default=str))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    from assistant.web.server import serve

    serve(_settings(overrides))
    return EXIT_OK


def cmd_feedback(args: argparse.Namespace) -> int:
    """Thumbs-down from the UI/API become draft eval lines that a person reviews."""
    from assistant.web.feedback import FeedbackStore

    store = FeedbackStore(_settings().feedback_db)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            count = store.export_eval(out)
        print(f"{count} rader skrivna till {args.out} (granska dem för hand innan de används)",
              file=sys.stderr)
    else:
        store.export_eval(sys.stdout)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant", description="Svensk RAG-assistent med källhänvisningar."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="mer loggning (-vv för felsökning)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="läs in artiklar i indexet (inkrementellt)")
    p.add_argument("paths", nargs="*", help="filer eller mappar (standard: korpusmappen)")
    p.add_argument("--rebuild", action="store_true", help="bygg om hela indexet")
    p.add_argument("--quiet", action="store_true", help="ingen förloppsindikator")
    p.add_argument("--json", action="store_true", help="sammanfattning som JSON")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("ask", help="ställ en fråga till artiklarna")
    p.add_argument("question")
    p.add_argument("--history", help="JSON-fil med tidigare turer [{role, content}, ...]")
    p.add_argument("--k", type=int, help="antal passager att hämta")
    p.add_argument("--filter", action="append", default=[], metavar="NYCKEL=VÄRDE",
                   help="municipality=, doc_id=, date_from=, date_to= (upprepningsbar)")
    p.add_argument("--json", action="store_true", help="svarsobjektet som JSON")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("config", help="visa gällande inställningar (hemligheter maskerade)")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("serve", help="starta webbappen (samma som python app.py)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("feedback", help="återkoppling från chatten (tumme upp/ned)")
    feedback_sub = p.add_subparsers(dest="feedback_command", required=True)
    fp = feedback_sub.add_parser("export", help="tumme ned som utkast till eval-rader (JSONL)")
    fp.add_argument("--format", choices=["eval"], default="eval")
    fp.add_argument("--out", help="fil att skriva (standard: stdout)")
    fp.set_defaults(func=cmd_feedback)

    from assistant.evaluation.cli import add_eval_parser

    add_eval_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    args = build_parser().parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    from assistant.retrieval.embeddings import ConfigError
    from assistant.retrieval.store import IndexUnavailableError

    try:
        code: int = args.func(args)
    except (UserError, ConfigError, IndexUnavailableError, FileNotFoundError, ValueError) as exc:
        print(f"fel: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("avbrutet", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
