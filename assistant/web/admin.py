"""The knowledge base's admin API and page (issue 21): editors add, replace, describe and
withdraw articles from the browser, and the running app answers from the change.

How a change travels, and why this way:

1. The request is checked completely first (:class:`~assistant.ingest.corpus.Corpus`:
   name, type, size, readable, not a decompression bomb). A refused upload changes
   nothing, so the previous version keeps answering.
2. It becomes a :class:`Job` on one queue with one worker thread: changes are applied
   one at a time (two editors uploading at once both land; no two ingests ever write the
   store together).
3. The worker writes the files and the metadata file (atomically), then runs the
   ordinary incremental ingest over the corpus folder in this process, on this app's own
   store (``in_app``: on the embedded index no other process may write), and reloads the
   app's index snapshot (:meth:`~assistant.retrieval.live.Live.refresh`), so the next
   question is answered from the change. With a Chroma server, the other apps follow
   through the index generation as after any ingest.
4. Every change is recorded in the audit log (:mod:`assistant.ingest.audit`) with the
   editor's key id, never the key.

The corpus folder plus its metadata file stay the source of truth: ``assistant ingest
--rebuild`` rebuilds the same index from them. Who may call these routes is declared in
:mod:`assistant.web.routes` and enforced by the security middleware (admin key or the
admin page's session with its CSRF token); this module trusts that.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import secrets
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from assistant.errors import ApiError, AssistantError
from assistant.ingest.audit import Action, AuditLog
from assistant.ingest.corpus import Corpus, Upload, clean_meta, swedish_reason
from assistant.web.auth import ADMIN_COOKIE, AdminSessions, session_from_cookie
from assistant.web.pages import read_asset
from assistant.web.routes import MAX_UPLOAD_FILES

if TYPE_CHECKING:
    from assistant.answer import Assistant
    from assistant.config import Settings
    from assistant.web.security import SecurityPolicy

__all__ = ["ADMIN_CSP", "Editor", "Job", "build_admin_router"]

log = logging.getLogger("assistant.admin")

# The admin page runs only its own script and style files: nothing inline, nothing from
# another host (no CDN), and it talks only to this app.
ADMIN_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
             "connect-src 'self'; form-action 'self'; base-uri 'none'")
ADMIN_ASSETS = {"admin.js": "text/javascript; charset=utf-8",
                "admin.css": "text/css; charset=utf-8"}
# Finished jobs kept for polling (the newest); older ones answer 404.
KEEP_JOBS = 200
AUDIT_PAGE = 200
UNCHANGED = "Samma innehåll finns redan{where}: inget ändrades (unchanged)."
JobState = Literal["queued", "running", "done", "failed"]
# Documented beside the 202: the same content (and metadata) is already there.
_UNCHANGED_REPLY: dict[int | str, dict[str, Any]] = {
    200: {"description": "Oförändrat: samma innehåll finns redan, inget jobb köades"}}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class Change:
    """One document's part of a job: what to write, and the audit entry it makes."""

    action: Action
    doc_id: str | None
    data: bytes | None = None  # new file content (upload, replace)
    meta: dict[str, str | None] | None = None  # new metadata entry (None: keep)
    old_hash: str | None = None
    new_hash: str | None = None


@dataclass
class Job:
    """An ingest job as the admin page polls it (``GET /api/admin/jobs/{id}``)."""

    id: str
    kind: Action
    key_id: str
    changes: list[Change]
    state: JobState = "queued"
    done: int = 0
    total: int = 0
    current: str | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    created: str = field(default_factory=_now)
    finished: str | None = None
    summary: dict[str, Any] | None = None

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "state": self.state, "done": self.done,
                "total": self.total, "current": self.current, "errors": list(self.errors),
                "documents": [c.doc_id for c in self.changes if c.doc_id],
                "created": self.created, "finished": self.finished,
                "summary": self.summary}


class Editor:
    """The admin API's state: the corpus, the audit log, the job queue and its worker,
    and each document's indexing status (``<admin state dir>/status.json``)."""

    def __init__(self, settings: Settings, assistant: Assistant,
                 on_finished: Callable[[str, str, float], None] | None = None) -> None:
        self.settings = settings
        self.assistant = assistant
        # (kind, final state, seconds) of each job that ended: the metrics.
        self.on_finished = on_finished
        self.corpus = Corpus(Path(settings.corpus_dir), settings.metadata_file,
                             settings.max_upload_bytes)
        self.audit = AuditLog(settings.audit_path)
        self.status_path = settings.admin_state_dir / "status.json"
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._queue: queue.Queue[Job] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- jobs -----------------------------------------------------------------------

    def submit(self, kind: Action, key_id: str, changes: list[Change]) -> Job:
        """Queue a job; a re-index asked for while one is still queued is that one (the
        second would rebuild the same files again)."""
        job = Job(secrets.token_hex(8), kind, key_id, changes)
        with self._lock:
            if kind == "reindex":
                waiting = [j for j in self._jobs.values()
                           if j.kind == "reindex" and j.state == "queued"]
                if waiting:
                    return waiting[0]
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP_JOBS:
                self._jobs.popitem(last=False)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="admin-ingest",
                                                daemon=True)
                self._worker.start()
        self._queue.put(job)
        return job

    def job(self, job_id: str) -> Job:
        with self._lock:
            found = self._jobs.get(job_id)
        if found is None:
            raise ApiError(404, "Jobbet finns inte (eller är för gammalt).")
        return found

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            started = time.monotonic()
            try:
                self._run(job)
            except Exception as exc:  # the worker must outlive any one job
                log.exception("admin job %s failed", job.id)
                # Our own errors say what to do (another app on this embedded index, the
                # store down); anything else is a bug whose details stay in the log.
                message = str(exc) if isinstance(exc, AssistantError) \
                    and exc.http_status != 500 else ("Indexeringen misslyckades: se "
                                                     "serverns logg (the ingest failed).")
                job.errors.append({"file": "", "error": message})
                job.state = "failed"
                self._audit(job, "failed", str(exc))
            finally:
                job.finished = _now()
                job.current = None
                if self.on_finished is not None:
                    self.on_finished(job.kind, job.state, time.monotonic() - started)

    def _run(self, job: Job) -> None:
        from assistant.ingest.pipeline import discover, ingest

        job.state = "running"
        with self.corpus.lock:
            for change in job.changes:
                self._apply(change)
            corpus_dir = Path(self.settings.corpus_dir)
            job.total = sum(1 for _ in discover([corpus_dir], corpus_dir,
                                                self.settings.metadata_file))

            def reached(doc_id: str) -> None:
                job.current = doc_id
                job.done = min(job.done + 1, job.total)

            summary = ingest(self.settings, rebuild=job.kind == "reindex", progress=False,
                             embeddings=self.assistant.embeddings, on_document=reached,
                             in_app=True)
        # The next question is answered from the change: swap in the new snapshot now
        # rather than at the next periodic check.
        self.assistant.retriever.live.refresh()
        job.done = job.total
        job.summary = summary.as_dict()
        skipped = dict(summary.skipped)
        for doc_id, reason in skipped.items():
            job.errors.append({"file": doc_id, "error": swedish_reason(reason)})
        self._update_status(job, skipped)
        job.state = "failed" if any(c.doc_id in skipped for c in job.changes) else "done"
        self._audit(job, "failed" if job.state == "failed" else "ok",
                    "; ".join(skipped.get(c.doc_id or "", "") for c in job.changes).strip("; ")
                    or None)

    def _apply(self, change: Change) -> None:
        """Write one change to the corpus folder (the caller holds the corpus lock)."""
        if change.doc_id is None:
            return
        if change.action == "delete":
            self.corpus.remove(change.doc_id)
            self.corpus.set_meta(change.doc_id, None)
            return
        if change.data is not None:
            self.corpus.write(change.doc_id, change.data)
        if change.meta is not None:
            self.corpus.set_meta(change.doc_id, change.meta)

    def _audit(self, job: Job, outcome: Literal["ok", "failed"], error: str | None) -> None:
        if job.kind == "reindex":
            self.audit.record(job.key_id, "reindex", None, None, None, outcome, job.id, error)
            return
        for change in job.changes:
            self.audit.record(job.key_id, change.action, change.doc_id, change.old_hash,
                              change.new_hash, outcome, job.id, error)

    # -- status ---------------------------------------------------------------------

    def _status(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.status_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _update_status(self, job: Job, skipped: dict[str, str]) -> None:
        status = self._status()
        now = _now()
        for change in job.changes:
            if change.doc_id is None:
                continue
            if change.action == "delete":
                status.pop(change.doc_id, None)
            elif change.doc_id in skipped:
                status.setdefault(change.doc_id, {})["last_error"] = swedish_reason(
                    skipped[change.doc_id])
            else:
                status[change.doc_id] = {"indexed_at": now, "last_error": None}
        if job.kind == "reindex":
            for doc_id in self.assistant.retriever.manifest:
                status[doc_id] = {"indexed_at": now,
                                  "last_error": status.get(doc_id, {}).get("last_error")}
            for doc_id, reason in skipped.items():
                status.setdefault(doc_id, {})["last_error"] = swedish_reason(reason)
        self.status_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".status-", dir=self.status_path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(status, handle, ensure_ascii=False, sort_keys=True)
        os.replace(tmp, self.status_path)

    # -- documents ------------------------------------------------------------------

    def documents(self) -> list[dict[str, Any]]:
        """Every document in the folder or the index, as the table shows it."""
        from assistant.ingest.pipeline import discover

        corpus_dir = Path(self.settings.corpus_dir)
        manifest = self.assistant.retriever.manifest
        meta = self.corpus.metadata()
        status = self._status()
        files = dict(discover([corpus_dir], corpus_dir, self.settings.metadata_file)) \
            if corpus_dir.is_dir() else {}
        out = []
        for doc_id in sorted(set(files) | set(manifest)):
            record = manifest.get(doc_id)
            entry = meta.get(doc_id, {})
            path = files.get(doc_id)
            state = status.get(doc_id, {})
            error = state.get("last_error")
            if path is None:
                kind = "removed"  # in the index, file gone: the next ingest removes it
            elif record is None:
                kind = "failed" if error else "pending"
            else:
                kind = "indexed"
            size = path.stat().st_size if path is not None else None
            out.append({
                "id": doc_id,
                "title": (record.title if record else None) or entry.get("title") or doc_id,
                "municipality": record.municipality if record else entry.get("municipality"),
                "date": record.date if record else entry.get("date"),
                "url": record.url if record else entry.get("url"),
                "passages": record.n_chunks if record else 0,
                "size": size,
                "content_hash": self.corpus.file_hash(doc_id) if path is not None else None,
                "indexed_at": state.get("indexed_at"),
                "status": kind,
                "last_error": error,
            })
        return out

    def document(self, doc_id: str) -> dict[str, Any]:
        for doc in self.documents():
            if doc["id"] == doc_id:
                return doc
        raise ApiError(404, "Dokumentet finns inte.")

    def _same_content(self, upload: Upload) -> str | None:
        """The id of a document whose file has exactly these bytes, if any."""
        for doc_id, path in _files(self.settings):
            if path.stat().st_size == len(upload.data) \
                    and self.corpus.file_hash(doc_id) == upload.sha256:
                return doc_id
        return None

    def plan_upload(self, upload: Upload, meta: dict[str, str | None] | None,
                    doc_id: str | None = None) -> Change | str:
        """The change an upload makes, or the id of the document that already has this
        content and metadata (reported "unchanged", nothing queued)."""
        target = doc_id or upload.name
        old = self.corpus.file_hash(target)
        current_meta = self.corpus.metadata().get(target)
        if old == upload.sha256 and (meta is None or _same_meta(current_meta, meta)):
            return target
        if old is None and doc_id is None:
            same = self._same_content(upload)
            if same is not None:
                return same
        return Change("replace" if old is not None else "upload", target, upload.data,
                      meta, old, upload.sha256)


def _same_meta(current: dict[str, str | None] | None, wanted: dict[str, str | None]) -> bool:
    current = current or {}
    return all(current.get(k) == v for k, v in wanted.items())


def _files(settings: Settings) -> list[tuple[str, Path]]:
    from assistant.ingest.pipeline import discover

    corpus_dir = Path(settings.corpus_dir)
    if not corpus_dir.is_dir():
        return []
    return list(discover([corpus_dir], corpus_dir, settings.metadata_file))


class SignIn(BaseModel):
    """``POST /api/admin/session``: an admin key (``ASSISTANT_ADMIN_KEYS``)."""

    key: str = Field(..., min_length=1, max_length=512, description="Administratörsnyckeln.")


class MetadataEdit(BaseModel):
    """``PATCH /api/admin/documents/{id}``: the fields to set; an empty string clears one,
    a missing field stays as it is."""

    title: str | None = Field(None, max_length=500)
    municipality: str | None = Field(None, max_length=500)
    date: str | None = Field(None, max_length=500, description="ÅÅÅÅ-MM-DD")
    url: str | None = Field(None, max_length=500, description="http(s)-länk")


def _plan_uploads(editor: Editor, sent: list[tuple[str, bytes]],
                  meta: dict[str, str | None] | None
                  ) -> tuple[list[Change], list[dict[str, str]], list[dict[str, Any]]]:
    """Each uploaded file checked and planned: the changes to queue, the files that are
    already there (unchanged), the files refused with their error. Refused all: the
    (first) error as a 4xx, so a single bad file gets a plain error reply."""
    changes: list[Change] = []
    unchanged: list[dict[str, str]] = []
    rejected: list[dict[str, Any]] = []
    for filename, data in sent:
        try:
            checked = editor.corpus.check(filename, data)
            planned = editor.plan_upload(checked, meta)
        except ApiError as exc:
            rejected.append({"file": filename, "error": str(exc), "status": exc.status})
            continue
        if isinstance(planned, str):
            unchanged.append({"file": checked.name, "id": planned,
                              "message": UNCHANGED.format(where=f" ({planned})")})
        elif any(c.doc_id == planned.doc_id for c in changes):
            rejected.append({"file": checked.name, "status": 409,
                             "error": "Samma filnamn två gånger i en uppladdning."})
        else:
            changes.append(planned)
    if not changes and not unchanged:
        first = rejected[0]
        message = first["error"] if len(rejected) == 1 else "; ".join(
            f"{r['file']}: {r['error']}" for r in rejected)
        raise ApiError(int(first["status"]), message)
    return changes, unchanged, rejected


def _key_id(request: Request) -> str:
    """The editor's key id, put there by the security middleware."""
    value = getattr(request.state, "admin_key_id", None)
    if not isinstance(value, str):  # the middleware lets no one else through
        raise ApiError(401, "Administratörsnyckel krävs.")
    return value


def _secure(request: Request, policy: SecurityPolicy) -> bool:
    client = request.client
    return request.url.scheme == "https" or policy.identity.forwarded_https(
        client.host if client else None, request.headers)


async def _read_upload(file: UploadFile, limit: int) -> bytes:
    """At most ``limit`` + 1 bytes: enough to know it is too large, never more."""
    data = await file.read(limit + 1)
    await file.close()
    return data


def build_admin_router(editor_of: Callable[[], Editor], policy: SecurityPolicy,
                       sessions: AdminSessions) -> APIRouter:
    """``/admin`` (the page and its two files) and ``/api/admin/*``."""
    router = APIRouter(tags=["Administration"])
    router.include_router(_page_router())
    router.include_router(_session_router(policy, sessions))
    router.include_router(_documents_router(editor_of))
    router.include_router(_analyse_router(editor_of))
    router.include_router(_edits_router(editor_of))
    router.include_router(_jobs_router(editor_of))
    return router


def _queued(job: Job, **extra: Any) -> JSONResponse:
    return JSONResponse({"job": job.view(), **extra}, status_code=202)


def _page_router() -> APIRouter:
    router = APIRouter()

    @router.get("/admin", include_in_schema=False)
    async def admin_page() -> Response:
        return HTMLResponse(read_asset("admin.html"), headers={
            "content-security-policy": ADMIN_CSP, "cache-control": "no-store",
            "x-content-type-options": "nosniff", "referrer-policy": "same-origin"})

    def asset(name: str) -> Response:
        return Response(read_asset(name), media_type=ADMIN_ASSETS[name], headers={
            "cache-control": "no-cache", "x-content-type-options": "nosniff"})

    @router.get("/admin/admin.js", include_in_schema=False)
    async def admin_js() -> Response:
        return asset("admin.js")

    @router.get("/admin/admin.css", include_in_schema=False)
    async def admin_css() -> Response:
        return asset("admin.css")

    return router


def _session_router(policy: SecurityPolicy, sessions: AdminSessions) -> APIRouter:
    router = APIRouter()

    @router.post("/api/admin/session", summary="Logga in (administratörsnyckel)")
    async def sign_in(body: SignIn, request: Request) -> JSONResponse:
        """Byter en administratörsnyckel mot administrationssidans egen sessionskaka
        (HttpOnly, SameSite=Strict, kort livslängd) och dess CSRF-token, som sidan
        skickar i `X-CSRF-Token` med varje ändring."""
        key_id = policy.admin_keys.check(body.key.strip())
        if key_id is None:
            raise ApiError(401, "Fel administratörsnyckel.")
        token = sessions.issue(key_id)
        response = JSONResponse({"key_id": key_id, "csrf": sessions.csrf(token),
                                 "expires_in": sessions.ttl})
        response.headers["set-cookie"] = sessions.set_cookie(token, _secure(request, policy))
        response.headers["cache-control"] = "no-store"
        return response

    @router.get("/api/admin/session", summary="Inloggningen")
    async def session(request: Request) -> JSONResponse:
        """Vem som är inloggad (nyckelns id) och sessionens CSRF-token."""
        key_id = _key_id(request)
        token = session_from_cookie(request.headers, ADMIN_COOKIE)
        csrf = sessions.csrf(token) if token and sessions.check(
            token, policy.admin_keys.ids) else None
        return JSONResponse({"key_id": key_id, "csrf": csrf},
                            headers={"cache-control": "no-store"})

    @router.delete("/api/admin/session", summary="Logga ut")
    async def sign_out(request: Request) -> JSONResponse:
        """Tar bort administrationssidans sessionskaka."""
        _key_id(request)
        response = JSONResponse({"signed_out": True})
        response.headers["set-cookie"] = sessions.clear_cookie(_secure(request, policy))
        return response

    return router


def _documents_router(editor_of: Callable[[], Editor]) -> APIRouter:
    router = APIRouter()

    @router.get("/api/admin/documents", summary="Dokumenten")
    async def documents(request: Request) -> JSONResponse:
        """Alla dokument i korpusmappen och indexet: id, titel, kommun, datum, länk,
        antal passager, storlek, innehållets SHA-256, när det indexerades, status
        (`indexed`, `pending`, `failed`, `removed`) och senaste fel."""
        _key_id(request)
        return JSONResponse({"documents": editor_of().documents()},
                            headers={"cache-control": "no-store"})

    @router.post("/api/admin/documents", summary="Ladda upp dokument",
                 status_code=202, responses=_UNCHANGED_REPLY)
    async def upload(request: Request,
                     files: Annotated[list[UploadFile], File(description="En eller flera "
                                      "filer: .txt, .md, .html, .pdf, .docx")],
                     title: Annotated[str, Form(max_length=500)] = "",
                     municipality: Annotated[str, Form(max_length=500)] = "",
                     date: Annotated[str, Form(max_length=500)] = "",
                     url: Annotated[str, Form(max_length=500)] = "",
                     ) -> JSONResponse:
        """Kontrollerar varje fil (typ, storlek, läsbar) innan något skrivs, och köar ett
        indexeringsjobb för dem som går igenom. Metadata gäller alla filerna (titeln bara
        när en fil laddas upp). Svaret: jobbet, filer som var oförändrade och filer som
        avvisades med sitt fel; avvisas alla blir svaret ett 4xx-fel."""
        key_id = _key_id(request)
        editor = editor_of()
        if not files:
            raise ApiError(422, "Välj minst en fil.")
        if len(files) > MAX_UPLOAD_FILES:
            raise ApiError(413, f"Högst {MAX_UPLOAD_FILES} filer åt gången.")
        fields = {"title": title if len(files) == 1 else "",
                  "municipality": municipality, "date": date, "url": url}
        meta = clean_meta({k: v for k, v in fields.items() if v}) \
            if any(fields.values()) else None
        sent = [(f.filename or "", await _read_upload(f, editor.settings.max_upload_bytes))
                for f in files]
        changes, unchanged, rejected = _plan_uploads(editor, sent, meta)
        if not changes:
            return JSONResponse({"job": None, "unchanged": unchanged, "rejected": rejected})
        kind: Action = "upload" if all(c.action == "upload" for c in changes) else "replace"
        return _queued(editor.submit(kind, key_id, changes), unchanged=unchanged,
                      rejected=rejected)

    @router.get("/api/admin/documents/{doc_id:path}", summary="Ett dokument")
    async def document(doc_id: str, request: Request) -> JSONResponse:
        """Ett dokument, med samma fält som i listan."""
        _key_id(request)
        return JSONResponse(editor_of().document(doc_id))

    @router.put("/api/admin/documents/{doc_id:path}", summary="Ersätt ett dokument",
                status_code=202, responses=_UNCHANGED_REPLY)
    async def replace(doc_id: str, request: Request,
                      file: Annotated[UploadFile, File(description="Den nya versionen")],
                      title: Annotated[str, Form(max_length=500)] = "",
                      municipality: Annotated[str, Form(max_length=500)] = "",
                      date: Annotated[str, Form(max_length=500)] = "",
                      url: Annotated[str, Form(max_length=500)] = "",
                      ) -> JSONResponse:
        """Ersätter dokumentets fil (samma filtyp); den gamla versionen svarar tills den
        nya är indexerad, och en fil som avvisas ändrar ingenting."""
        key_id = _key_id(request)
        editor = editor_of()
        path = editor.corpus.path_of(doc_id)
        if not path.is_file():
            raise ApiError(404, "Dokumentet finns inte.")
        data = await _read_upload(file, editor.settings.max_upload_bytes)
        checked = editor.corpus.check(file.filename or path.name, data)
        if Path(checked.name).suffix.lower() != path.suffix.lower():
            raise ApiError(422, f"Den nya versionen måste vara samma filtyp "
                                f"({path.suffix}) som dokumentet.")
        fields = {"title": title, "municipality": municipality, "date": date, "url": url}
        meta = None
        if any(fields.values()):
            meta = {**editor.corpus.metadata().get(doc_id, {}),
                    **clean_meta({k: v for k, v in fields.items() if v})}
        planned = editor.plan_upload(checked, meta, doc_id=doc_id)
        if isinstance(planned, str):
            return JSONResponse({"job": None, "unchanged": [
                {"file": checked.name, "id": planned,
                 "message": UNCHANGED.format(where="")}], "rejected": []})
        planned.action = "replace"
        return _queued(editor.submit("replace", key_id, [planned]))

    return router


def _analyse_router(editor_of: Callable[[], Editor]) -> APIRouter:
    router = APIRouter()

    @router.post("/api/admin/analyse", summary="Läs titel och datum ur en fil "
                 "(ingenting sparas)")
    async def analyse(request: Request,
                      file: Annotated[UploadFile, File(description="En fil: .txt, .md, "
                                      ".html, .pdf, .docx")]) -> JSONResponse:
        """Vad indexeringen själv skulle läsa ur filen: titel och datum (kommunen står
        inte i texten på ett sätt den kan lita på, så den fylls inte i). Samma kontroller
        som vid uppladdning; ingenting skrivs. Administrationssidan fyller i tomma fält med
        svaret."""
        from assistant.ingest.metadata import document_meta

        _key_id(request)
        editor = editor_of()
        checked = editor.corpus.check(
            file.filename or "", await _read_upload(file, editor.settings.max_upload_bytes))
        meta = document_meta(checked.name, checked.loaded.text, {}, checked.loaded.title_hint)
        return JSONResponse({"file": checked.name, "title": meta.title,
                             "municipality": meta.municipality, "date": meta.date},
                            headers={"cache-control": "no-store"})

    return router


def _edits_router(editor_of: Callable[[], Editor]) -> APIRouter:
    router = APIRouter()

    @router.patch("/api/admin/documents/{doc_id:path}",
                  summary="Ändra ett dokuments metadata", status_code=202,
                  responses=_UNCHANGED_REPLY)
    async def edit(doc_id: str, body: MetadataEdit, request: Request) -> JSONResponse:
        """Titel, kommun, datum och länk i metadatafilen; dokumentet indexeras om."""
        key_id = _key_id(request)
        editor = editor_of()
        if not editor.corpus.path_of(doc_id).is_file():
            raise ApiError(404, "Dokumentet finns inte.")
        sent = body.model_dump(exclude_unset=True)
        current = editor.corpus.metadata().get(doc_id, {})
        meta = {**current, **clean_meta(sent)}
        if _same_meta(current, meta) and set(current) >= set(sent):
            return JSONResponse({"job": None, "unchanged": [
                {"id": doc_id, "message": UNCHANGED.format(where="")}]})
        file_hash = editor.corpus.file_hash(doc_id)
        change = Change("metadata", doc_id, None, meta, file_hash, file_hash)
        return _queued(editor.submit("metadata", key_id, [change]))

    @router.delete("/api/admin/documents/{doc_id:path}",
                   summary="Ta bort ett dokument", status_code=202)
    async def delete(doc_id: str, request: Request) -> JSONResponse:
        """Tar bort filen och dess metadata; dokumentet slutar citeras när jobbet är klart."""
        key_id = _key_id(request)
        editor = editor_of()
        old = editor.corpus.file_hash(doc_id)
        if old is None:
            raise ApiError(404, "Dokumentet finns inte.")
        return _queued(editor.submit("delete", key_id, [Change("delete", doc_id, None, None,
                                                              old, None)]))

    return router


def _jobs_router(editor_of: Callable[[], Editor]) -> APIRouter:
    router = APIRouter()

    @router.post("/api/admin/reindex", summary="Indexera om allt", status_code=202)
    async def reindex(request: Request) -> JSONResponse:
        """Bygger om indexet från korpusmappen (de gamla versionerna svarar under tiden)."""
        key_id = _key_id(request)
        return _queued(editor_of().submit("reindex", key_id, []))

    @router.get("/api/admin/jobs/{job_id}", summary="Ett indexeringsjobb")
    async def job(job_id: str, request: Request) -> JSONResponse:
        """Jobbets läge (`queued`, `running`, `done`, `failed`), dokument klara av totalt,
        aktuell fil och fel per fil, för sidans förloppsindikator."""
        _key_id(request)
        return JSONResponse(editor_of().job(job_id).view(),
                            headers={"cache-control": "no-store"})

    @router.get("/api/admin/audit", summary="Ändringsloggen")
    async def audit(request: Request,
                    limit: Annotated[int, Query(ge=1, le=10_000)] = AUDIT_PAGE) -> JSONResponse:
        """De senaste ändringarna, nyast först: tid, nyckelns id (aldrig nyckeln), åtgärd,
        dokument, gammal och ny innehållshash, utfall."""
        _key_id(request)
        return JSONResponse({"entries": editor_of().audit.entries(limit)},
                            headers={"cache-control": "no-store"})

    return router
