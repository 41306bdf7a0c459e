"""Start the web app: chat UI at /, HTTP API at /api, widget at /widget.js, docs at /docs.

Same as ``assistant -v serve`` (it is that command: one process set-up, one error →
exit-code table); host, port and root path come from the settings
(``ASSISTANT_HOST``, ``ASSISTANT_PORT``, ``ASSISTANT_ROOT_PATH``).
"""

from __future__ import annotations

import sys


def main() -> int:
    from assistant.cli import main as cli_main

    return cli_main(["-v", "serve"])  # -v: info logging, so the start-up lines show


if __name__ == "__main__":
    sys.exit(main())
