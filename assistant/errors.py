"""Every error the assistant raises on purpose, in one place.

Why one module: the CLI turns errors into exit codes and the web API turns them into
HTTP statuses; when each class carries its own exit code, status and Swedish default
message, both front ends read the same facts instead of keeping lists that drift.
The message of an instance (``str(exc)``) is what a user sees, so it says what to do,
Swedish first; technical detail belongs in logs, not in the message.

Hierarchy (``exit`` = CLI exit code, ``http`` = API status)::

    AssistantError                 base; exit 1, http 500 (message hidden behind a generic one)
    ├── UserError                  the user can fix it (bad option, setting, file); exit 1, http 422
    │   ├── ConfigError            a setting is wrong or missing (also a ValueError)
    │   │   └── LLMConfigError     LLM mode chosen, but no endpoint configured
    │   ├── FilterError            bad search filter (municipality=, date_from=, ...) (ValueError)
    │   ├── HistoryError           a conversation history that breaks the rules (ValueError)
    │   ├── DatasetLineError       one bad line in an eval JSONL file (ValueError)
    │   ├── ReportError            an eval report that cannot be read or compared (ValueError)
    │   ├── ConversionError        rows that cannot be converted; lists each (ValueError)
    │   └── IndexInUseError        a running app serves the embedded index a command would
    │                              write; exit 2, http 409
    ├── IndexUnavailableError      no usable index: run ``assistant ingest``; http 503
    │   ├── IndexMismatchError     index built with another model/schema: ``--rebuild``
    │   └── StoreUnavailableError  the vector store does not answer (Chroma down); http 503
    ├── StorageError               feedback cannot be stored: 507 full, 503 busy
    ├── ShuttingDownError          the server drains before it stops (SIGTERM); http 503
    ├── LoadError                  one file cannot become text; ingest skips it (exit 3 = partial)
    ├── LLMError                   a model endpoint call failed (assistant.openai_client maps
    │   │                          openai/httpx errors here); the chain falls back; http 502
    │   ├── LLMTimeoutError        no answer in time (client timeout, HTTP 408)
    │   ├── LLMConnectionError     the endpoint cannot be reached
    │   ├── LLMAuthError           the key was refused (HTTP 401/403)
    │   ├── LLMRateLimitError      too many requests or no quota left (HTTP 429)
    │   ├── LLMServerError         the endpoint's own failure (HTTP 5xx)
    │   └── LLMBadResponseError    any other status, or a reply that cannot be read
    ├── JudgeError                 one LLM-judge call gave no usable verdict (counted, not 0)
    ├── DraftError                 one article gave no usable eval drafts (reported, not fatal)
    └── ApiError                   an HTTP error with an explicit status (404, 422, ...)

``ValueError``/``RuntimeError`` stay as second bases where callers (and tests) relied
on them before this module existed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

__all__ = [
    "ApiError",
    "AssistantError",
    "ConfigError",
    "ConversionError",
    "DatasetLineError",
    "DraftError",
    "FilterError",
    "HistoryError",
    "IndexInUseError",
    "IndexMismatchError",
    "IndexUnavailableError",
    "JudgeError",
    "LLMAuthError",
    "LLMBadResponseError",
    "LLMConfigError",
    "LLMConnectionError",
    "LLMError",
    "LLMErrorKind",
    "LLMRateLimitError",
    "LLMServerError",
    "LLMTimeoutError",
    "LoadError",
    "ReportError",
    "ShuttingDownError",
    "StorageError",
    "StoreUnavailableError",
    "UserError",
]

EXIT_ERROR = 1  # CLI exit codes the errors carry; the rest are in assistant.cli.common
EXIT_IN_USE = 2
EXIT_PARTIAL = 3


class AssistantError(Exception):
    """Base of every error raised on purpose; ``str(exc)`` is the user's message."""

    exit_code: ClassVar[int] = EXIT_ERROR
    http_status: int = 500
    user_message: ClassVar[str] = "Något gick fel."
    # Seconds after which trying again may help (HTTP Retry-After); None: it will not.
    retry_after: int | None = None

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message if message is not None else self.user_message)

    @property
    def message(self) -> str:
        return str(self)


class UserError(AssistantError):
    """Shown to the user as-is (no traceback); the message says what to do."""

    http_status = 422
    user_message = "Ogiltig inmatning."


class ConfigError(UserError, ValueError):
    """A configuration problem the user can fix; the message names the fix."""

    http_status = 500  # on the server it is the operator's problem, not the client's
    user_message = "Ogiltig konfiguration: kör `assistant config` och rätta inställningen."


class LLMConfigError(ConfigError):
    """LLM mode was chosen but the settings cannot reach any endpoint."""

    user_message = ("Svarsläget llm behöver OPENAI_API_KEY eller ASSISTANT_LLM_BASE_URL; "
                    "eller sätt ASSISTANT_LLM=extractive.")


class FilterError(UserError, ValueError):
    """A search filter that cannot be applied (unknown key, bad date)."""

    user_message = "Ogiltigt filter: använd municipality=, doc_id=, date_from= eller date_to=."


class HistoryError(UserError, ValueError):
    """A history that breaks the rules (roles, shape, length); the message names the problem."""

    user_message = "Ogiltig historik."


class DatasetLineError(UserError, ValueError):
    """One bad line of an eval file; the loader reports it and goes on with the rest."""

    user_message = "Felaktig rad i frågefilen."


class ReportError(UserError, ValueError):
    """An eval report that cannot be compared; the message names the file and the problem."""

    user_message = "Rapporten kan inte läsas."


class ConversionError(UserError, ValueError):
    """Rows that cannot be converted; ``errors`` holds every one (line and field), the
    message lists them, and nothing was written."""

    user_message = "Filen kan inte konverteras."

    def __init__(self, message: str, errors: Sequence[object] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)


class IndexInUseError(UserError):
    """A command would write an embedded index that a running app serves
    (:mod:`assistant.retrieval.owner`): the app would not see the change, and two
    processes would write one embedded store. One line, Swedish first, naming both fixes."""

    exit_code = EXIT_IN_USE
    http_status = 409
    user_message = ("En körande app använder indexet: stoppa den och kör igen, eller använd "
                    "en Chroma-server (ASSISTANT_CHROMA_URL). (A running app uses this index.)")

    def __init__(self, pid: int, url: str, index: object, apps: int = 1) -> None:
        who = f"pid {pid}, {url}" + (f", och {apps - 1} till" if apps > 1 else "")
        super().__init__(
            f"En körande app ({who}) använder indexet {index}: stoppa den och kör ingest "
            f"igen, eller använd en Chroma-server (ASSISTANT_CHROMA_URL) så följer appen "
            f"ändringarna. (A running app uses this index: stop it and run ingest again, or "
            f"use a Chroma server (ASSISTANT_CHROMA_URL) so the app follows the changes.)")
        self.pid, self.url = pid, url


class IndexUnavailableError(AssistantError, RuntimeError):
    """The index is missing or unusable; the message says which command fixes it."""

    http_status = 503
    user_message = "Indexet saknas. Bygg det med: assistant ingest"


class IndexMismatchError(IndexUnavailableError):
    """The index was built with another embedding model or schema."""

    user_message = "Indexet byggdes med en annan modell. Bygg om det: assistant ingest --rebuild"


class StoreUnavailableError(IndexUnavailableError):
    """The vector store does not answer (a Chroma server down, a disk that fails). Passing,
    usually: the operator restarts the store and the app recovers without a restart."""

    retry_after = 10
    user_message = ("Sökindexet går inte att nå just nu (Chroma svarar inte). Försök igen om "
                    "en stund; kvarstår felet: kontrollera att Chroma-servern i "
                    "ASSISTANT_CHROMA_URL körs.")


class ShuttingDownError(AssistantError):
    """A request refused, or a streamed answer ended, because the server is stopping
    (assistant/web/shutdown.py); another replica, or this one restarted, will answer."""

    http_status = 503
    retry_after = 5
    user_message = "Servern startas om. Ställ frågan igen om en stund."


class StorageError(AssistantError):
    """Feedback could not be stored: 507 when full (until the operator exports and
    clears it), 503 with ``retry_after`` when the database is busy or unreachable."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.http_status = status
        self.retry_after = retry_after


class LoadError(AssistantError):
    """A file that cannot become text; ``reason`` is short enough for an ingest report."""

    exit_code = EXIT_PARTIAL
    http_status = 422
    user_message = "Filen kunde inte läsas in."

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


LLMErrorKind = Literal["timeout", "auth", "rate_limit", "server", "connection", "bad_response"]


class LLMError(AssistantError):
    """A failed model call, classified (by subclass and ``kind``) so the caller can explain
    it and fall back.

    ``message_sv`` is meant for end users (no URLs or keys); ``detail`` is the original
    technical error for logs; ``status`` the HTTP status when there was one. The subclass
    says what went wrong; :mod:`assistant.openai_client` picks it from one table.
    """

    http_status = 502
    user_message = "Språkmodellen svarade inte."
    kind: ClassVar[LLMErrorKind] = "bad_response"

    def __init__(self, message_sv: str | None = None, *, detail: str = "",
                 status: int | None = None) -> None:
        super().__init__(message_sv)
        self.message_sv = str(self)
        self.detail = detail
        self.status = status

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(kind={self.kind!r}, status={self.status!r}, "
                f"detail={self.detail!r})")


class LLMTimeoutError(LLMError):
    """The endpoint did not answer in time (the client's timeout, or HTTP 408)."""

    kind = "timeout"
    user_message = "Språkmodellen svarade inte i tid."


class LLMConnectionError(LLMError):
    """The endpoint could not be reached (refused, reset, no route)."""

    kind = "connection"
    user_message = "Det gick inte att ansluta till språkmodellen."


class LLMAuthError(LLMError):
    """The endpoint refused the key (HTTP 401 or 403)."""

    kind = "auth"
    user_message = "Språkmodellen nekade åtkomst: kontrollera API-nyckeln."


class LLMRateLimitError(LLMError):
    """Too many requests, or the quota is used up (HTTP 429)."""

    kind = "rate_limit"
    user_message = "Språkmodellen tar inte emot fler frågor just nu."


class LLMServerError(LLMError):
    """The endpoint's own failure (HTTP 5xx)."""

    kind = "server"
    user_message = "Språkmodellens tjänst har ett fel."


class LLMBadResponseError(LLMError):
    """Any other HTTP status, or a reply that is not what the protocol promises."""

    kind = "bad_response"
    user_message = "Språkmodellen gav ett svar som inte gick att tolka."


class JudgeError(AssistantError):
    """One LLM-judge call that gave no usable verdict; the message says why (for the report)."""

    user_message = "Domaren gav ingen användbar bedömning."


class DraftError(AssistantError):
    """One article for which the model gave no usable eval drafts; the message says why."""

    user_message = "Språkmodellen gav inga användbara frågeutkast."


class ApiError(AssistantError):
    """A client-facing HTTP error: the message is shown to users as-is, so it is Swedish."""

    user_message = "Fel i förfrågan."

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.http_status = status

    @property
    def status(self) -> int:
        return self.http_status
