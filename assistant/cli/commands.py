"""``ingest``, ``ask``, ``config``, ``serve`` and ``feedback export|purge|delete``: thin
shells over the library. Each ``cmd_*`` returns its exit code; errors are left to the table in
:mod:`assistant.cli.common`, so no command keeps its own list of caught errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.cli.common import EXIT_OK, EXIT_PARTIAL, load_settings
from assistant.errors import UserError

if TYPE_CHECKING:
    from assistant.history import Message
    from assistant.web.feedback import FeedbackStore

__all__ = ["add_parsers", "cmd_ask", "cmd_config", "cmd_feedback", "cmd_feedback_delete",
           "cmd_feedback_purge", "cmd_ingest", "cmd_serve"]


def cmd_ingest(args: argparse.Namespace) -> int:
    """Exit 3 when files were skipped: the index is usable but incomplete."""
    from assistant.ingest.pipeline import ingest

    settings = load_settings()
    summary = ingest(settings, [Path(p) for p in args.paths] or None, rebuild=args.rebuild,
                     progress=not args.quiet)
    if args.json:
        print(json.dumps(summary.as_dict(), ensure_ascii=False))
    else:
        print(summary.render())
    return EXIT_PARTIAL if summary.skipped else EXIT_OK


def read_history(path: str | None) -> tuple[Message, ...]:
    """Earlier turns from a JSON file: a list of messages or ``{"history": [...]}``."""
    if not path:
        return ()
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"Kan inte läsa historiken i {path}: {exc}") from None
    from assistant.history import parse_history

    turns = data.get("history", data) if isinstance(data, dict) else data
    try:
        return parse_history(turns)
    except ValueError as exc:
        raise UserError(f"{path}: {exc}") from None


def cmd_ask(args: argparse.Namespace) -> int:
    from assistant.retrieval.filters import Filters
    from assistant.retrieval.hybrid import Searcher

    settings = load_settings()
    # Bad input fails before the index and model are loaded.
    filters = Filters.parse(args.filter)
    history = list(read_history(args.history))
    # The index first: its vectors load on a thread (Searcher) while the answering chain
    # and LangChain are imported here, instead of after them.
    searcher = Searcher.from_settings(settings)
    from assistant.answer import Assistant
    from assistant.citations import render_sources_text

    answer = Assistant.from_settings(settings, retriever=searcher).ask(
        args.question, history, k=args.k, filters=filters)
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
    print(json.dumps(load_settings().masked(), ensure_ascii=False, indent=2, default=str))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    if getattr(args, "workers", None) is not None:
        overrides["workers"] = args.workers
    from assistant.web import serve

    serve(load_settings(overrides), getattr(args, "verbose", 0))
    return EXIT_OK


def _feedback_store() -> FeedbackStore:
    from assistant.web.feedback import FeedbackStore

    settings = load_settings()
    return FeedbackStore(settings.feedback_db, settings.feedback_max_rows,
                         settings.feedback_retention_days)


def cmd_feedback(args: argparse.Namespace) -> int:
    """Thumbs-down from the UI/API become draft eval lines that a person reviews."""
    store = _feedback_store()
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            count = store.export_eval(out)
        print(f"{count} rader skrivna till {args.out} (granska dem för hand innan de används)",
              file=sys.stderr)
    else:
        store.export_eval(sys.stdout)
    return EXIT_OK


def cmd_feedback_purge(args: argparse.Namespace) -> int:
    """What the server does by itself once an hour, now (docs/privacy.md)."""
    store = _feedback_store()
    if store.retention_days is None:
        print("ASSISTANT_FEEDBACK_RETENTION_DAYS=0: återkopplingen sparas tills den tas bort "
              "för hand; inget rensat.")
        return EXIT_OK
    count = store.purge()
    print(f"{count} svar äldre än {store.retention_days} dagar borttagna.")
    return EXIT_OK


def cmd_feedback_delete(args: argparse.Namespace) -> int:
    """One row, on a person's request; an unknown id is an error (exit 1)."""
    if not _feedback_store().delete(args.id):
        raise UserError(f"Det finns ingen återkoppling med id {args.id}.")
    print(f"Återkoppling {args.id} borttagen.")
    return EXIT_OK


def cmd_audit_export(args: argparse.Namespace) -> int:
    """The admin audit log as JSON lines, oldest first: for an archive or a review of who
    changed the knowledge base (the key ids, never the keys; docs/operations.md)."""
    from assistant.ingest.audit import AuditLog

    log = AuditLog(load_settings().audit_path)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            count = sum(1 for line in log.lines() if out.write(line + "\n"))
        print(f"{count} rader skrivna till {args.out}", file=sys.stderr)
    else:
        for line in log.lines():
            print(line)
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    """Register the commands on the ``assistant`` parser's subcommands, in help order."""
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
    p.add_argument("--workers", type=int, metavar="N",
                   help="antal processer på porten (standard ASSISTANT_WORKERS, 1)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("feedback", help="återkoppling från chatten (tumme upp/ned)")
    feedback_sub = p.add_subparsers(dest="feedback_command", required=True)
    fp = feedback_sub.add_parser("export", help="tumme ned som utkast till eval-rader (JSONL)")
    fp.add_argument("--format", choices=["eval"], default="eval")
    fp.add_argument("--out", help="fil att skriva (standard: stdout)")
    fp.set_defaults(func=cmd_feedback)
    fp = feedback_sub.add_parser(
        "purge", help="ta bort återkoppling äldre än ASSISTANT_FEEDBACK_RETENTION_DAYS "
                      "(servern gör det själv en gång i timmen)")
    fp.set_defaults(func=cmd_feedback_purge)
    fp = feedback_sub.add_parser(
        "delete", help="ta bort ett sparat svar (på en persons begäran)")
    fp.add_argument("--id", type=int, required=True, help="återkopplingens id")
    fp.set_defaults(func=cmd_feedback_delete)

    p = sub.add_parser("audit", help="ändringsloggen för kunskapsbanken (/admin)")
    audit_sub = p.add_subparsers(dest="audit_command", required=True)
    ap = audit_sub.add_parser("export", help="ändringarna som JSON-rader, äldst först")
    ap.add_argument("--out", help="fil att skriva (standard: stdout)")
    ap.set_defaults(func=cmd_audit_export)
