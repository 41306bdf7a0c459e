"""The plain pages next to the chat: widget assets, the widget demo, one source, /docs.

The markup lives in ``assets/`` as templates with ``{{NAME}}`` slots; this module
only fills them. Every value is HTML-escaped before it goes in (a slot documented
as markup gets markup built here from escaped parts), and the pages carry no
script, so corpus text such as ``<script>`` stays text.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from assistant.citations import http_url

__all__ = [
    "build_asset_router",
    "build_docs_router",
    "docs_page",
    "http_url",
    "meta_line",
    "read_asset",
    "render_template",
    "source_page",
    "source_response",
]

ASSET_TYPES = {
    "widget.js": "text/javascript; charset=utf-8",
    "widget.css": "text/css; charset=utf-8",
}
# The source page and /docs: no script, and nothing fetched from anywhere.
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'"
_SLOT = re.compile(r"\{\{(\w+)\}\}")


@cache
def read_asset(name: str) -> str:
    """A packaged asset's text, read on first use (never at import) and then kept:
    assets do not change while the app runs, so no request reads the disk again."""
    return resources.files("assistant.web").joinpath("assets", name).read_text("utf-8")


def render_template(name: str, slots: Mapping[str, str]) -> str:
    """Fill an asset's ``{{NAME}}`` slots in one pass, so text that itself looks like a
    slot is never expanded. ``slots`` must already be escaped."""
    return _SLOT.sub(lambda m: slots[m.group(1)], read_asset(name))


def meta_line(municipality: object, date: object) -> str:
    """``Kommun · 2023-11-09`` (escaped), leaving out what is unknown."""
    return " · ".join(html.escape(str(x)) for x in (municipality, date) if x)


# --- widget assets -----------------------------------------------------------------------


def build_asset_router() -> APIRouter:
    """The widget bundle and its demo page; public, cacheable, and CORP cross-origin
    so intranet pages with strict embedder policies can still load the script."""
    router = APIRouter()

    def serve_asset(name: str) -> Response:
        return Response(read_asset(name), media_type=ASSET_TYPES[name], headers={
            "cache-control": "public, max-age=300",
            "cross-origin-resource-policy": "cross-origin",
            "x-content-type-options": "nosniff",
        })

    @router.get("/widget.js", include_in_schema=False)
    async def widget_js() -> Response:
        return serve_asset("widget.js")

    @router.get("/widget.css", include_in_schema=False)
    async def widget_css() -> Response:
        return serve_asset("widget.css")

    @router.get("/widget-demo", include_in_schema=False)
    async def widget_demo(request: Request) -> Response:
        base = html.escape(str(request.base_url).rstrip("/"))
        return HTMLResponse(render_template("widget-demo.html", {"ASSISTANT_URL": base}),
                            headers={"cache-control": "no-store"})

    return router


# --- one source ----------------------------------------------------------------------------


def source_page(data: Mapping[str, Any]) -> str:
    """A plain page for reading one article (the "open the article" link when the
    article has no URL of its own)."""
    e = html.escape
    url = http_url(data.get("url"))
    link = (f'<p><a href="{e(url)}" rel="noopener noreferrer">Originalartikeln</a></p>'
            if url else "")
    paragraphs = "".join(f"<p>{e(p)}</p>" for p in str(data.get("text", "")).split("\n\n")
                         if p.strip())
    return render_template("source.html", {
        "TITLE": e(str(data["title"])), "META": meta_line(data.get("municipality"),
                                                         data.get("date")),
        "LINK": link, "PARAGRAPHS": paragraphs, "ID": e(str(data["id"])),
    })


def source_response(data: Mapping[str, Any]) -> HTMLResponse:
    return HTMLResponse(source_page(data), headers={
        "content-security-policy": PAGE_CSP, "x-content-type-options": "nosniff"})


# --- /docs: an API reference without any CDN ------------------------------------------------


def _type_of(schema: Mapping[str, Any]) -> str:
    """A short, readable type for a JSON-schema node (``str | null``, ``list[Message]``)."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_type_of(s) for s in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
    kind = str(schema.get("type", "any"))
    if kind == "array":
        return f"list[{_type_of(schema.get('items', {}))}]"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"dict[str, {_type_of(schema['additionalProperties'])}]"
    return {"string": "str", "integer": "int", "boolean": "bool", "number": "float"}.get(kind, kind)


def _inline_code(text: str) -> str:
    """Escaped text with ``code`` spans from docstrings shown as code."""
    return re.sub(r"``?([^`]+?)``?", r"<code>\1</code>", html.escape(text))


def _fields_table(name: str, schemas: Mapping[str, Any]) -> str:
    e = html.escape
    schema = schemas.get(name, {})
    required = set(schema.get("required", []))
    rows: list[str] = []
    for field, spec in schema.get("properties", {}).items():
        note = str(spec.get("description", ""))
        default = spec.get("default")
        if default not in (None, [], {}):
            note += f" Standard: {json.dumps(default, ensure_ascii=False)}."
        flag = " <em>krävs</em>" if field in required else ""
        rows.append(f"<tr><td><code>{e(field)}</code>{flag}</td>"
                    f"<td><code>{e(_type_of(spec))}</code></td><td>{e(note.strip())}</td></tr>")
    return (f"<table><caption>{e(name)}</caption><tr><th>Fält</th><th>Typ</th>"
            f"<th>Beskrivning</th></tr>{''.join(rows)}</table>")


# Request bodies whose items are models of their own, shown under the body's table.
_NESTED = {"ChatRequest": "HistoryMessage", "FeedbackRequest": "HistoryMessage",
           "OpenAIChatRequest": "OpenAIMessage"}


def _sections(openapi: Mapping[str, Any]) -> str:
    """One section per route of the OpenAPI schema: method, path, summary, body fields."""
    e = html.escape
    schemas = openapi.get("components", {}).get("schemas", {})
    sections: list[str] = []
    for path, operations in openapi.get("paths", {}).items():
        for method, op in operations.items():
            body_ref = (op.get("requestBody", {}).get("content", {}).get("application/json", {})
                        .get("schema", {}).get("$ref", ""))
            body_name = body_ref.rsplit("/", 1)[-1]
            body = _fields_table(body_name, schemas) if body_ref else ""
            nested = _fields_table(_NESTED[body_name], schemas) if body_name in _NESTED else ""
            codes = ", ".join(sorted(op.get("responses", {})))
            sections.append(
                f'<section><h3><span class="m m-{e(method)}">{e(method.upper())}</span> '
                f"<code>{e(path)}</code></h3><p><strong>{e(op.get('summary', ''))}</strong></p>"
                f"<p>{_inline_code(op.get('description', ''))}</p>{body}{nested}"
                f'<p class="codes">Svarskoder: {e(codes)}</p></section>')
    return "".join(sections)


def docs_page(openapi: Mapping[str, Any], base: str, model_id: str) -> str:
    """The API reference as one static page: every route from the OpenAPI schema, with
    examples. Self-contained on purpose (no Swagger UI from a CDN); tools that want the
    machine-readable form import ``/openapi.json``."""
    info = openapi.get("info", {})
    return render_template("docs.html", {
        "TITLE": html.escape(str(info.get("title", "API"))),
        "VERSION": html.escape(str(info.get("version", ""))),
        "BASE": html.escape(base), "MODEL": html.escape(model_id),
        "SECTIONS": _sections(openapi),
    })


def build_docs_router(app: FastAPI, model_id: str) -> APIRouter:
    router = APIRouter()

    @router.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return HTMLResponse(docs_page(app.openapi(), base, model_id),
                            headers={"content-security-policy": PAGE_CSP})

    return router
