"""Start the web app: chat UI at /, HTTP API at /api, widget at /widget.js, docs at /docs.

Same as ``assistant serve``; host, port and root path come from the settings
(``ASSISTANT_HOST``, ``ASSISTANT_PORT``, ``ASSISTANT_ROOT_PATH``).
"""

from __future__ import annotations

import logging
import os
import sys


def main() -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from pydantic import ValidationError

    from assistant.config import get_settings
    from assistant.retrieval.store import IndexUnavailableError
    from assistant.web import serve

    try:
        serve(get_settings())
    except (IndexUnavailableError, ValidationError) as exc:
        # Problems the operator fixes (no index yet, a bad setting): one readable message.
        print(f"fel: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
