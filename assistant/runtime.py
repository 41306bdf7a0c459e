"""Process set-up, the one place: every entry point (``assistant``, ``app.py``, the web
app factory) calls it, so telemetry and log format cannot differ between them.

Why telemetry off: the assistant runs offline on municipal machines; Gradio and Chroma
would otherwise phone home on start-up. ``setdefault`` leaves an operator's explicit
choice alone. Nothing happens at import.
"""

from __future__ import annotations

import logging
import os

__all__ = ["LOG_FORMAT", "TELEMETRY_OFF", "disable_telemetry", "log_level", "prepare_process"]

TELEMETRY_OFF = {"GRADIO_ANALYTICS_ENABLED": "False", "ANONYMIZED_TELEMETRY": "False"}
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
_LEVELS = (logging.WARNING, logging.INFO, logging.DEBUG)


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
