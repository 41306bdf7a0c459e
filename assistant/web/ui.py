"""The Swedish chat UI (Gradio Blocks).

The UI is a thin shell over :class:`assistant.answer.Assistant`. Two rules shape
it: everything that came from the corpus or the user is escaped before Gradio
renders it (a source containing ``<script>`` or ``onerror=`` must stay text),
and the conversation lives in server-side state so browsers only send the new
question, which keeps requests small and under the body-size limit.

No ``from __future__ import annotations`` here: Gradio reads the handlers' type
hints (``gr.Request``, ``gr.LikeData``) at runtime to inject event data.
"""

import html
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import gradio as gr

from assistant.citations import marker_spans
from assistant.retrieval.hybrid import FilterError
from assistant.web.feedback import MAX_COMMENT_CHARS, FeedbackStore
from assistant.web.pages import http_url, meta_line, read_asset
from assistant.web.security import RateLimiter, question_problem

if TYPE_CHECKING:
    from assistant.answer import Assistant
    from assistant.config import Settings

log = logging.getLogger("assistant.web.ui")

TITLE = "Skolassistenten"
EXAMPLES = (
    "Vad gjorde Trollhättan mot segregation?",
    "Vad innebär Ett-steg-före i Söderhamns kunskapslyft?",
    "Varför uppmärksammades Landskrona i Almedalen?",
    "Vad är 14-kommunersnätverket?",
)
ALL_MUNICIPALITIES = ""
TYPING = "Assistenten skriver …"
SYSTEM_FONTS = ("system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial",
                "sans-serif")
MONO_FONTS = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono",
              "monospace")

# Characters that Markdown would interpret; escaped so corpus text renders literally.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$])")


# --- rendering (pure functions: easy to test, no Gradio involved) ------------------------


def md_escape(text: str) -> str:
    """Text → Markdown that displays exactly ``text``: no tags, no links, no formatting."""
    return html.escape(_MD_SPECIAL.sub(r"\\\1", text), quote=False)


def card_id(turn: int, n: int) -> str:
    return f"kalla-{turn}-{n}"


def answer_markdown(answer: dict[str, Any], turn: int) -> str:
    """The answer text, escaped, with each valid ``[n]`` turned into a link to its card."""
    text = str(answer.get("answer") or "")
    valid = set() if answer.get("refused") else {int(n) for n in answer.get("citations") or []}
    out: list[str] = []
    last = 0
    for start, end, numbers in marker_spans(text):
        if not numbers or not set(numbers) <= valid:
            continue
        out.append(md_escape(text[last:start]))
        out.append("".join(f"[\\[{n}\\]](#{card_id(turn, n)})" for n in numbers))
        last = end
    out.append(md_escape(text[last:]))
    body = "".join(out)
    if answer.get("notice"):
        body += f"\n\n*{md_escape(str(answer['notice']))}*"
    return body


def _passage_html(text: str, highlight: Sequence[int] | None) -> str:
    e = html.escape
    if highlight and len(highlight) == 2 and 0 <= highlight[0] < highlight[1] <= len(text):
        start, end = int(highlight[0]), int(highlight[1])
        return f"{e(text[:start])}<mark>{e(text[start:end])}</mark>{e(text[end:])}"
    return e(text)


def source_card(source: dict[str, Any], turn: int, cited: bool = True) -> str:
    """One source card; every value is escaped, links are http(s) or our own source page."""
    e = html.escape
    n = int(source.get("n", 0))
    doc_id = str(source.get("id") or "")
    title = str(source.get("title") or doc_id)
    meta = meta_line(source.get("municipality"), source.get("date"))
    url = http_url(source.get("url"))
    if url:
        href, label = url, "Öppna artikeln"
    else:  # relative, so it also works under a proxy prefix (root_path)
        href, label = f"api/sources/{quote(doc_id)}", "Visa hela artikeln"
    passage = _passage_html(str(source.get("text") or ""), source.get("highlight"))
    return (
        f'<article class="sa-card{"" if cited else " sa-uncited"}" id="{card_id(turn, n)}" '
        f'data-source-id="{e(doc_id)}" data-n="{n}" tabindex="-1">'
        f'<div class="sa-card-head"><span class="sa-n" aria-hidden="true">{n}</span>'
        f'<span class="sa-card-title"><span class="sa-sr">Källa {n}: </span>{e(title)}</span></div>'
        + (f'<p class="sa-meta">{meta}</p>' if meta else "")
        + f'<blockquote class="sa-passage">{passage}</blockquote>'
        f'<a class="sa-link" href="{e(href)}" target="_blank" rel="noopener noreferrer">'
        f'{label}<span class="sa-sr"> (öppnas i en ny flik)</span></a>'
        f"<span class=\"sa-id\">{e(doc_id)}</span></article>"
    )


def sources_panel(turns: Sequence[dict[str, Any]]) -> str:
    """The "Källor" column: the latest answer's cited sources, earlier answers folded."""
    parts = ['<div class="sa-sources"><h2 class="sa-sources-title">Källor</h2>']
    answered = [(i, t) for i, t in enumerate(turns) if t.get("answer")]
    if not answered:
        parts.append('<p class="sa-empty">Här visas källorna till svaret: artikel, kommun, '
                     "datum och stycket som svaret bygger på. Klicka på en hänvisning som "
                     "<span class=\"sa-chip\">[1]</span> i svaret för att gå till källan.</p>")
    for pos, (i, turn) in enumerate(reversed(answered)):
        answer = turn["answer"]
        cited = set(answer.get("citations") or [])
        cards = [source_card(s, i) for s in answer.get("sources") or [] if s.get("n") in cited]
        question = html.escape(str(turn.get("question", "")))
        body = "".join(cards) or (
            '<p class="sa-empty">Inga källor: frågan kunde inte besvaras ur artiklarna.</p>')
        if pos == 0:
            parts.append(f'<section class="sa-turn" id="kallor-{i}">'
                         f'<h3 class="sa-q">{question}</h3>{body}</section>')
        else:
            parts.append(f'<details class="sa-turn sa-older" id="kallor-{i}">'
                         f'<summary class="sa-q">{question}</summary>{body}</details>')
    parts.append("</div>")
    return "".join(parts)


def chat_messages(turns: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """Gradio messages: exactly two per turn, so a liked message index maps to its turn."""
    messages: list[dict[str, str]] = []
    for i, turn in enumerate(turns):
        messages.append({"role": "user", "content": md_escape(str(turn["question"]))})
        if turn.get("answer"):
            content = answer_markdown(turn["answer"], i)
        elif turn.get("error"):
            content = f"⚠️ {md_escape(turn['error'])}"
        else:
            content = md_escape(turn.get("partial") or "") or f"*{TYPING}*"
        messages.append({"role": "assistant", "content": content})
    return messages


def conversation_history(turns: Sequence[dict[str, Any]], limit: int) -> list[dict[str, str]]:
    """What the assistant gets as history: finished turns only, newest ``limit`` messages."""
    history: list[dict[str, str]] = []
    for turn in turns:
        if turn.get("answer"):
            history.append({"role": "user", "content": str(turn["question"])})
            history.append({"role": "assistant", "content": str(turn["answer"]["answer"])})
    return history[-limit:] if limit else []


def mode_badge(mode_label: str) -> str:
    if mode_label.startswith("llm"):
        model = mode_label[mode_label.find("(") + 1:].rstrip(")") if "(" in mode_label else ""
        text = f"Språkmodell{f' ({model})' if model else ''}"
        tip = "Svaren formuleras av en språkmodell utifrån artiklarna, med källor."
        cls = "sa-mode sa-mode-llm"
    else:
        text, cls = "Extraktivt läge", "sa-mode sa-mode-extractive"
        tip = "Svaren sammanställs direkt ur artiklarnas meningar, utan språkmodell."
    return (f'<span class="{cls}" title="{html.escape(tip)}" data-mode="{html.escape(mode_label)}">'
            f'<span class="sa-sr">Läge: </span>{html.escape(text)}</span>')


def header_html(mode_label: str) -> str:
    return (
        '<header class="sa-header"><div class="sa-brand">'
        f'<h1 class="sa-h1">{TITLE}</h1>'
        '<p class="sa-sub">Frågor om skolutveckling, besvarade ur kommunernas artiklar – '
        "alltid med källor.</p></div>"
        f'<div class="sa-header-side">{mode_badge(mode_label)}</div></header>'
    )


FOOTER_HTML = (
    '<footer class="sa-footer">Svaren bygger på publicerade artiklar och kan innehålla fel. '
    "Kontrollera alltid källorna. · "
    '<a href="widget-demo">Bädda in på intranätet</a> · <a href="docs">API</a></footer>'
)


# --- behaviour ----------------------------------------------------------------------------


@dataclass
class ChatHandlers:
    """The UI's event handlers, bound to one assistant, feedback store and limiter."""

    assistant: "Assistant"
    settings: "Settings"
    feedback: FeedbackStore
    limiter: RateLimiter

    def respond(self, question: str, municipality: str | None,
                turns: list[dict[str, Any]],
                request: gr.Request) -> Iterator[tuple[Any, Any, Any, Any]]:
        """Stream one answer into the chat; sources update when the answer is done."""
        text = (question or "").strip()
        if not text:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        turns = [dict(t) for t in turns or []]
        history = conversation_history(turns, self.settings.max_history_turns)
        turn: dict[str, Any] = {"question": text, "answer": None, "partial": "", "error": None,
                                "history": history}
        turns.append(turn)
        problem = self._check(text, request)
        if problem:
            turn["error"] = problem
            yield chat_messages(turns), gr.skip(), turns, ""
            return
        yield chat_messages(turns), gr.skip(), turns, ""
        filters = {"municipality": municipality} if municipality else None
        try:
            for kind, payload in self.assistant.stream(text, history, filters=filters):
                if kind == "token":
                    turn["partial"] += payload
                    yield chat_messages(turns), gr.skip(), turns, gr.skip()
                elif kind == "done":
                    turn["answer"] = payload.to_dict()
        except FilterError as exc:
            turn["error"] = str(exc)
        except Exception:
            log.exception("answer failed in the UI")
            turn["error"] = "Något gick fel när svaret togs fram. Försök igen."
        if turn["answer"] is None and not turn["error"]:
            turn["error"] = "Svaret avbröts. Försök igen."
        yield chat_messages(turns), sources_panel(turns), turns, gr.skip()

    def _check(self, text: str, request: gr.Request | None) -> str | None:
        problem = question_problem(text, self.settings.max_question_chars)
        if problem:
            return problem
        client = getattr(getattr(request, "client", None), "host", None) or "unknown"
        retry = self.limiter.hit(f"ip:{client}")
        if retry is not None:
            return f"För många frågor just nu. Försök igen om {max(1, round(retry))} sekunder."
        return None

    @staticmethod
    def pick_example(evt: gr.SelectData) -> str:
        value = evt.value
        return str(value.get("text", "")) if isinstance(value, dict) else str(value or "")

    @staticmethod
    def reset() -> tuple[Any, ...]:
        return [], sources_panel([]), [], "", gr.update(visible=False), None, "", ""

    def like(self, turns: list[dict[str, Any]],
             data: gr.LikeData) -> tuple[Any, Any, Any, Any]:
        """Store a thumbs up/down at once; the optional comment can follow."""
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        position = int(index) // 2
        if data.liked is True:
            rating = 1
        elif data.liked is False:
            rating = -1
        else:
            return gr.update(visible=False), None, "", gr.skip()
        if not 0 <= position < len(turns or []) or not turns[position].get("answer"):
            return gr.update(visible=False), None, "", gr.skip()
        turn = turns[position]
        answer = turn["answer"]
        record_id = self.feedback.record(
            question=turn["question"], answer=answer["answer"], rating=rating,
            sources=answer.get("sources") or [], citations=answer.get("citations") or [],
            history=turn.get("history") or [], mode=answer.get("mode"), channel="ui")
        note = ("Tack! Vad var fel? Skriv gärna en kort kommentar (valfritt)." if rating < 0 else
                "Tack! Vill du lägga till en kommentar? (valfritt)")
        return gr.update(visible=True), record_id, note, ""

    def comment(self, record_id: int | None, text: str) -> tuple[Any, Any, Any]:
        if record_id is None:
            return gr.update(visible=False), "", ""
        if (text or "").strip():
            self.feedback.update(int(record_id), comment=text)
        return gr.update(visible=False), "", "Tack för din återkoppling!"


def _theme() -> gr.themes.Base:
    """System fonts only: the page must not fetch fonts from any other host."""
    return gr.themes.Default(
        primary_hue=gr.themes.colors.blue,
        neutral_hue=gr.themes.colors.slate,
        font=[gr.themes.Font(f) for f in SYSTEM_FONTS],
        font_mono=[gr.themes.Font(f) for f in MONO_FONTS],
    ).set(
        button_primary_background_fill="#1d4f91",
        button_primary_background_fill_hover="#163e73",
        button_primary_text_color="#ffffff",
        body_background_fill="#f4f6f9",
    )


@dataclass
class UiAssets:
    theme: gr.themes.Base
    css: str
    js: str


def build_ui(assistant: "Assistant", settings: "Settings", feedback: FeedbackStore,
             limiter: RateLimiter) -> tuple[gr.Blocks, UiAssets]:
    """The Blocks app plus its theme/CSS/JS (Gradio 6 takes those when mounting)."""
    handlers = ChatHandlers(assistant, settings, feedback, limiter)
    municipalities = list(assistant.retriever.municipalities)

    with gr.Blocks(title=f"{TITLE} – frågor om skolutveckling", analytics_enabled=False,
                   fill_width=True) as blocks:
        turns = gr.State([])
        feedback_id = gr.State(None)
        gr.HTML(header_html(assistant.mode_label), elem_id="sa-header", js_on_load=None)
        with gr.Row(equal_height=False, elem_id="sa-main"):
            with gr.Column(scale=3, min_width=340, elem_id="sa-chat-col"):
                chatbot = gr.Chatbot(
                    label="Samtal", show_label=False, elem_id="chat", height=560,
                    examples=[{"text": q} for q in EXAMPLES],
                    placeholder=("**Ställ en fråga om skolutveckling.** Svaren bygger på "
                                 "artiklarna och visar källorna.\n\nProva ett exempel:"),
                    feedback_options=("Like", "Dislike"), latex_delimiters=[],
                    sanitize_html=True, render_markdown=True, allow_tags=False,
                    buttons=["copy"], autoscroll=True, layout="bubble",
                    allow_file_downloads=False,
                )
                with gr.Group(visible=False, elem_id="sa-feedback") as feedback_box:
                    feedback_note = gr.Markdown("", elem_id="sa-feedback-note")
                    with gr.Row():
                        comment = gr.Textbox(label="Kommentar (valfritt)", lines=1, max_lines=4,
                                             max_length=MAX_COMMENT_CHARS, scale=4,
                                             elem_id="sa-comment")
                        comment_btn = gr.Button("Skicka kommentar", scale=1, size="md")
                feedback_thanks = gr.Markdown("", elem_id="sa-feedback-thanks")
                with gr.Row(equal_height=True, elem_id="sa-composer"):
                    question = gr.Textbox(
                        label="Din fråga", show_label=False, placeholder="Skriv din fråga …",
                        lines=1, max_lines=6, max_length=settings.max_question_chars, scale=5,
                        elem_id="question", autofocus=True, submit_btn=False,
                    )
                    send = gr.Button("Skicka", variant="primary", scale=1, min_width=90,
                                     elem_id="send")
                with gr.Row(equal_height=True, elem_id="sa-tools"):
                    municipality = gr.Dropdown(
                        choices=[("Alla kommuner", ALL_MUNICIPALITIES)]
                        + [(m, m) for m in municipalities],
                        value=ALL_MUNICIPALITIES, label="Kommun", scale=2, min_width=180,
                        filterable=False, elem_id="municipality",
                    )
                    new_chat = gr.Button("Ny konversation", variant="secondary", scale=1,
                                         min_width=150, elem_id="new-chat")
            with gr.Column(scale=2, min_width=300, elem_id="sa-sources-col"):
                sources = gr.HTML(sources_panel([]), elem_id="sources", js_on_load=None,
                                  padding=False)
        gr.HTML(FOOTER_HTML, js_on_load=None)

        outputs = [chatbot, sources, turns, question]
        inputs = [question, municipality, turns]
        submitted = question.submit(handlers.respond, inputs, outputs, show_progress="hidden",
                                    concurrency_limit=None)
        clicked = send.click(handlers.respond, inputs, outputs, show_progress="hidden",
                             concurrency_limit=None)
        picked = chatbot.example_select(handlers.pick_example, None, question,
                                        show_progress="hidden").then(
            handlers.respond, inputs, outputs, show_progress="hidden", concurrency_limit=None)
        reset_outputs = [chatbot, sources, turns, question, feedback_box, feedback_id,
                         feedback_note, feedback_thanks]
        new_chat.click(handlers.reset, None, reset_outputs, cancels=[submitted, clicked, picked],
                       show_progress="hidden")
        chatbot.clear(handlers.reset, None, reset_outputs, cancels=[submitted, clicked, picked],
                      show_progress="hidden")
        chatbot.like(handlers.like, [turns], [feedback_box, feedback_id, feedback_note,
                                              feedback_thanks], show_progress="hidden")
        comment_event = [feedback_id, comment]
        comment_btn.click(handlers.comment, comment_event, [feedback_box, comment,
                                                            feedback_thanks])
        comment.submit(handlers.comment, comment_event, [feedback_box, comment, feedback_thanks])

    assets = UiAssets(theme=_theme(), css=read_asset("ui.css"), js=read_asset("ui.js"))
    return blocks, assets
