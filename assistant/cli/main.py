"""The ``assistant`` console script: parser, process set-up and the error → exit-code step.

Errors the user can fix are printed as one readable line (no traceback) with the exit
code from :data:`assistant.cli.common.ERROR_EXITS`; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from assistant.cli.commands import add_parsers
from assistant.cli.common import EXIT_INTERRUPTED, err, exit_code
from assistant.cli.evaluate import add_eval_parser
from assistant.cli.suites import build_verb_parser, is_verb
from assistant.runtime import prepare_process

__all__ = ["build_parser", "main", "parse_args"]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """``eval compare|convert|draft`` have their own parser, so that ``eval FILE`` parses
    exactly as it always did (a positional FILE cannot share a level with sub-verbs)."""
    rest = list(argv)
    while rest and rest[0].startswith("-"):  # the global options (-v) take no value
        rest.pop(0)
    if is_verb(rest):
        return build_verb_parser().parse_args(list(argv))
    return build_parser().parse_args(list(argv))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant", description="Svensk RAG-assistent med källhänvisningar."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="mer loggning (-vv för felsökning)")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parsers(sub)
    add_eval_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    prepare_process(args.verbose)
    try:
        return int(args.func(args))
    except (Exception, KeyboardInterrupt) as exc:
        code = exit_code(exc)
        if code is None:
            raise
        err("avbrutet" if code == EXIT_INTERRUPTED else f"fel: {exc}")
        return code
