"""Process set-up, the one place: every entry point (``assistant``, ``app.py``, the web
app factory) calls it, so telemetry and log format cannot differ between them.

Why telemetry off: the assistant runs offline on municipal machines; Gradio and Chroma
would otherwise phone home on start-up. ``setdefault`` leaves an operator's explicit
choice alone. Nothing happens at import.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

__all__ = ["LOG_FORMAT", "OBSERVED_LOGGERS", "TELEMETRY_OFF", "JsonFormatter",
           "configure_logging", "disable_telemetry", "log_level", "prepare_process"]

TELEMETRY_OFF = {"GRADIO_ANALYTICS_ENABLED": "False", "ANONYMIZED_TELEMETRY": "False"}
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
_LEVELS = (logging.WARNING, logging.INFO, logging.DEBUG)
# The request and answer lines (assistant.web.observe): a server logs them at INFO
# whatever -v says, since they are what an operator follows a complaint with.
OBSERVED_LOGGERS = ("assistant.access", "assistant.answer")


def disable_telemetry() -> None:
    """Turn Gradio's and Chroma's analytics off unless the environment already decides."""
    for name, value in TELEMETRY_OFF.items():
        os.environ.setdefault(name, value)


def log_level(verbosity: int) -> int:
    """``-v`` count to a logging level: warnings, then info, then debug."""
    return _LEVELS[max(0, min(verbosity, len(_LEVELS) - 1))]


def prepare_process(verbosity: int = 0) -> None:
    """Telemetry off and logging configured; call once, first thing in ``main``."""
    disable_telemetry()
    logging.basicConfig(level=log_level(verbosity), format=LOG_FORMAT)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, and the record's
    ``fields`` (``logger.info(..., extra={"fields": {...}})``) at the top level, so a log
    system can filter on ``request_id`` or ``outcome`` without parsing text."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        # One physical line whatever the message holds: json.dumps escapes newlines.
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(log_format: str) -> None:
    """A server's logging (``ASSISTANT_LOG_FORMAT``): ``json`` puts one JSON object per
    line on the root handler (uvicorn's own loggers propagate to it, see
    :func:`assistant.web.server.uvicorn_config`) and logs the request and answer lines
    at INFO; ``text`` leaves the request lines to uvicorn's access log (one line per
    request is enough) and logs the answer lines."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format=LOG_FORMAT)
    if log_format == "json":
        for handler in root.handlers:
            handler.setFormatter(JsonFormatter())
    for name in OBSERVED_LOGGERS if log_format == "json" else ("assistant.answer",):
        logging.getLogger(name).setLevel(logging.INFO)
