"""The ``assistant`` command line (console script ``assistant = "assistant.cli:main"``).

Modules: :mod:`~assistant.cli.main` (parser, process set-up, errors → exit codes),
:mod:`~assistant.cli.common` (exit codes, the error table, settings loading),
:mod:`~assistant.cli.commands` (ingest, ask, config, serve, feedback) and
:mod:`~assistant.cli.evaluate` (eval) and :mod:`~assistant.cli.suites` (eval compare,
convert, draft). Commands import the library lazily, so
``assistant --help`` starts without Chroma or LangChain.
"""

from __future__ import annotations

from assistant.cli.common import EXIT_ERROR, EXIT_GATE, EXIT_OK, EXIT_PARTIAL
from assistant.cli.main import build_parser, main

__all__ = ["EXIT_ERROR", "EXIT_GATE", "EXIT_OK", "EXIT_PARTIAL", "build_parser", "main"]
