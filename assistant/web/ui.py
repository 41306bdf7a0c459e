"""The Swedish chat UI (Gradio Blocks).

The UI is a thin shell over :class:`assistant.answer.Assistant`. Two rules shape
it: everything that came from the corpus or the user is escaped before Gradio
renders it (a source containing ``<script>`` or ``onerror=`` must stay text),
and the conversation lives in server-side state so browsers only send the new
question, which keeps requests small and under the body-size limit.

No ``from __future__ import annotations`` here: Gradio reads the handlers' type
hints (``gr.Request``, ``gr.LikeData``) at runtime to inject event data.
"""

import enum
import functools
import html
import inspect
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import gradio as gr

from assistant.citations import marker_spans
from assistant.errors import FilterError, IndexUnavailableError, StorageError
from assistant.history import Message, recent_turns
from assistant.web.error_payload import ANSWER_FAILED, ErrorPayload
from assistant.web.feedback import MAX_COMMENT_CHARS, FeedbackStore
from assistant.web.observe import AnswerLog
from assistant.web.pages import http_url, meta_line, read_asset
from assistant.web.security import SecurityPolicy, question_problem

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


# --- state ----------------------------------------------------------------------------------


@dataclass
class Turn:
    """One question of the conversation, kept server-side in ``gr.State``.

    ``history`` is what the assistant was given with the question (kept so feedback
    records the conversation as it was); ``answer`` the answer object (docs/architecture.md) once
    done, ``partial`` the text streamed so far, ``error`` a message for the user.
    """

    question: str
    history: list[Message] = field(default_factory=list)
    answer: dict[str, Any] | None = None
    partial: str = ""
    error: str | None = None


class _Keep(enum.Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP


@dataclass(frozen=True)
class UiUpdate:
    """What a handler changes, by component name; a field left at :data:`KEEP` is not
    touched. Named fields instead of positional tuples: nothing has to line up with an
    output list elsewhere (:class:`UiView` maps the names to the components)."""

    chat: list[dict[str, str]] | _Keep = KEEP
    sources: str | _Keep = KEEP
    turns: list[Turn] | _Keep = KEEP
    question: str | _Keep = KEEP
    feedback_box: dict[str, Any] | _Keep = KEEP  # gr.update(visible=...)
    feedback_id: int | None | _Keep = KEEP
    feedback_note: str | _Keep = KEEP
    feedback_thanks: str | _Keep = KEEP
    comment: str | _Keep = KEEP

    def changed(self) -> dict[str, Any]:
        """Only the fields that were set, by name."""
        return {f.name: value for f in fields(self)
                if (value := getattr(self, f.name)) is not KEEP}


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
        # Focusable and named: the passage scrolls (max-height), and a scrollable region a
        # keyboard cannot reach fails WCAG 2.1.1 (axe: scrollable-region-focusable).
        + f'<blockquote class="sa-passage" tabindex="0" aria-label="Utdrag ur källa {n}">'
        f'{passage}</blockquote>'
        f'<a class="sa-link" href="{e(href)}" target="_blank" rel="noopener noreferrer">'
        f'{label}<span class="sa-sr"> (öppnas i en ny flik)</span></a>'
        f"<span class=\"sa-id\">{e(doc_id)}</span></article>"
    )


def sources_panel(turns: Sequence[Turn]) -> str:
    """The "Källor" column: the latest answer's cited sources, earlier answers folded."""
    parts = ['<div class="sa-sources"><h2 class="sa-sources-title">Källor</h2>']
    answered = [(i, t.answer) for i, t in enumerate(turns) if t.answer]
    if not answered:
        parts.append('<p class="sa-empty">Här visas källorna till svaret: artikel, kommun, '
                     "datum och stycket som svaret bygger på. Klicka på en hänvisning som "
                     "<span class=\"sa-chip\">[1]</span> i svaret för att gå till källan.</p>")
    for pos, (i, answer) in enumerate(reversed(answered)):
        cited = set(answer.get("citations") or [])
        cards = [source_card(s, i) for s in answer.get("sources") or [] if s.get("n") in cited]
        question = html.escape(turns[i].question)
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


def chat_messages(turns: Sequence[Turn]) -> list[dict[str, str]]:
    """Gradio messages: exactly two per turn, so a liked message index maps to its turn."""
    messages: list[dict[str, str]] = []
    for i, turn in enumerate(turns):
        messages.append({"role": "user", "content": md_escape(turn.question)})
        if turn.answer:
            content = answer_markdown(turn.answer, i)
        elif turn.error:
            content = f"⚠️ {md_escape(turn.error)}"
        else:
            content = md_escape(turn.partial) or f"*{TYPING}*"
        messages.append({"role": "assistant", "content": content})
    return messages


def conversation_history(turns: Sequence[Turn], limit: int) -> list[Message]:
    """What the assistant gets as history: finished turns only, the newest ``limit`` of
    them (``ASSISTANT_MAX_HISTORY_TURNS``, cut where :mod:`assistant.history` cuts), so
    the UI never sends more than the API would accept."""
    history: list[Message] = []
    for turn in turns:
        if turn.answer:
            history.append(Message(role="user", content=turn.question))
            history.append(Message(role="assistant", content=str(turn.answer["answer"])))
    return recent_turns(history, limit)


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
    """The UI's event handlers, bound to one assistant, feedback store and policy.

    Every handler that answers or writes counts against the client's rate limit:
    Gradio's queue is reachable by any program, not only by this page.
    """

    assistant: "Assistant"
    settings: "Settings"
    feedback: FeedbackStore
    policy: SecurityPolicy
    answers: AnswerLog = field(default_factory=AnswerLog)

    def respond(self, question: str, municipality: str | None, turns: list[Turn],
                request: gr.Request) -> Iterator[UiUpdate]:
        """Stream one answer into the chat; sources update when the answer is done."""
        text = (question or "").strip()
        if not text:
            yield UiUpdate()
            return
        turns = [replace(t) for t in turns or []]
        turn = Turn(text, conversation_history(turns, self.settings.max_history_turns))
        turns.append(turn)
        turn.error = self._check(text, request)
        yield UiUpdate(chat=chat_messages(turns), turns=turns, question="")
        if turn.error:
            return
        filters = {"municipality": municipality} if municipality else None
        try:
            events = self.assistant.stream(text, turn.history, filters=filters)
            for kind, payload in events:  # tokens are checked text (citations.StreamChecker)
                if kind == "token":
                    turn.partial += payload
                    yield UiUpdate(chat=chat_messages(turns), turns=turns)
                elif kind == "done":
                    turn.answer = payload.to_dict()
                    self.answers.answered(payload, "ui")
        except (FilterError, IndexUnavailableError) as exc:  # bad filter, store down
            turn.error = ErrorPayload.of(exc).ui_text()
        except Exception:
            log.exception("answer failed in the UI")
            turn.error = ErrorPayload(500, ANSWER_FAILED).ui_text()
        if turn.answer is None and not turn.error:
            turn.error = "Svaret avbröts. Försök igen."
        yield UiUpdate(chat=chat_messages(turns), sources=sources_panel(turns), turns=turns)

    def _check(self, text: str, request: gr.Request | None) -> str | None:
        problem = question_problem(text, self.settings.max_question_chars)
        if problem:
            return problem
        return self._limited(request, "frågor")

    def _limited(self, request: gr.Request | None, what: str = "förfrågningar") -> str | None:
        """Why the client must wait (Swedish), or ``None``; same buckets as the API."""
        peer = getattr(getattr(request, "client", None), "host", None)
        headers = getattr(request, "headers", None) or {}
        retry = self.policy.limiter.hit(
            self.policy.client_key(peer, headers.get("x-forwarded-for")))
        if retry is not None:
            self.answers.rate_limited("ui")
            return f"För många {what} just nu. Försök igen om {max(1, round(retry))} sekunder."
        return None

    @staticmethod
    def pick_example(evt: gr.SelectData) -> str:
        value = evt.value
        return str(value.get("text", "")) if isinstance(value, dict) else str(value or "")

    @staticmethod
    def reset() -> UiUpdate:
        """A new conversation: empty chat, state and sources; the feedback box closed."""
        return UiUpdate(chat=[], sources=sources_panel([]), turns=[], question="",
                        feedback_box=gr.update(visible=False), feedback_id=None,
                        feedback_note="", feedback_thanks="")

    def like(self, turns: list[Turn], data: gr.LikeData, request: gr.Request) -> UiUpdate:
        """Store a thumbs up/down at once; the optional comment can follow."""
        closed = UiUpdate(feedback_box=gr.update(visible=False), feedback_id=None,
                          feedback_note="")
        wait = self._limited(request)
        if wait:
            return replace(closed, feedback_thanks=wait)
        rating = 1 if data.liked is True else -1 if data.liked is False else None
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        position = int(index) // 2
        if rating is None or not 0 <= position < len(turns or []):
            return closed
        turn = turns[position]
        answer = turn.answer
        if not answer:
            return closed
        try:
            record_id = self.feedback.record(
                question=turn.question, answer=answer["answer"], rating=rating,
                sources=answer.get("sources") or [], citations=answer.get("citations") or [],
                history=turn.history, mode=answer.get("mode"), channel="ui")
        except StorageError as exc:
            return replace(closed, feedback_thanks=exc.message)
        note = ("Tack! Vad var fel? Skriv gärna en kort kommentar (valfritt)." if rating < 0 else
                "Tack! Vill du lägga till en kommentar? (valfritt)")
        return UiUpdate(feedback_box=gr.update(visible=True), feedback_id=record_id,
                        feedback_note=note, feedback_thanks="")

    def comment(self, record_id: int | None, text: str, request: gr.Request) -> UiUpdate:
        if record_id is None:
            return UiUpdate(feedback_box=gr.update(visible=False), comment="",
                            feedback_thanks="")
        if (text or "").strip():
            problem = self._limited(request)
            if not problem:
                try:
                    self.feedback.update(int(record_id), comment=text)
                except StorageError as exc:
                    problem = exc.message
            if problem:
                return UiUpdate(feedback_box=gr.update(visible=True), comment=text,
                                feedback_thanks=problem)
        return UiUpdate(feedback_box=gr.update(visible=False), comment="",
                        feedback_thanks="Tack för din återkoppling!")


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


@dataclass(frozen=True)
class UiView:
    """The components a handler may update, under :class:`UiUpdate`'s field names."""

    chat: gr.Chatbot
    sources: gr.HTML
    turns: gr.State
    question: gr.Textbox
    feedback_box: gr.Group
    feedback_id: gr.State
    feedback_note: gr.Markdown
    feedback_thanks: gr.Markdown
    comment: gr.Textbox

    def outputs(self) -> list[Any]:
        return [getattr(self, f.name) for f in fields(self)]

    def resolve(self, update: UiUpdate) -> dict[Any, Any]:
        """Gradio's form of an update: ``{component: value}`` for the fields that were set."""
        return {getattr(self, name): value for name, value in update.changed().items()}

    def bind(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """``handler`` returning (or yielding) :class:`UiUpdate`, as a Gradio event function.

        ``functools.wraps`` keeps the signature and type hints, which Gradio reads to
        inject ``gr.Request`` and ``gr.LikeData``.
        """
        if inspect.isgeneratorfunction(handler):

            @functools.wraps(handler)
            def stream(*args: Any, **kwargs: Any) -> Iterator[dict[Any, Any]]:
                for update in handler(*args, **kwargs):
                    yield self.resolve(update)

            return stream

        @functools.wraps(handler)
        def call(*args: Any, **kwargs: Any) -> dict[Any, Any]:
            return self.resolve(handler(*args, **kwargs))

        return call


@dataclass
class UiAssets:
    theme: gr.themes.Base
    css: str
    js: str


def _wire(handlers: ChatHandlers, view: UiView, send: gr.Button, municipality: gr.Dropdown,
          new_chat: gr.Button, comment_btn: gr.Button) -> None:
    """Connect the events; every update handler goes through ``view`` (named outputs)."""
    respond, reset = view.bind(handlers.respond), view.bind(handlers.reset)
    like, comment = view.bind(handlers.like), view.bind(handlers.comment)
    outputs = view.outputs()
    inputs = [view.question, municipality, view.turns]
    quiet: dict[str, Any] = {"show_progress": "hidden"}
    submitted = view.question.submit(respond, inputs, outputs, concurrency_limit=None, **quiet)
    clicked = send.click(respond, inputs, outputs, concurrency_limit=None, **quiet)
    picked = view.chat.example_select(handlers.pick_example, None, view.question,
                                      **quiet).then(respond, inputs, outputs,
                                                    concurrency_limit=None, **quiet)
    running = [submitted, clicked, picked]
    new_chat.click(reset, None, outputs, cancels=running, **quiet)
    view.chat.clear(reset, None, outputs, cancels=running, **quiet)
    view.chat.like(like, [view.turns], outputs, **quiet)
    comment_inputs = [view.feedback_id, view.comment]
    progress_on = [view.comment, view.feedback_thanks]  # as before; a Group shows none
    comment_btn.click(comment, comment_inputs, outputs, show_progress_on=progress_on)
    view.comment.submit(comment, comment_inputs, outputs, show_progress_on=progress_on)


def build_ui(assistant: "Assistant", settings: "Settings", feedback: FeedbackStore,
             policy: SecurityPolicy,
             answers: AnswerLog | None = None) -> tuple[gr.Blocks, UiAssets]:
    """The Blocks app plus its theme/CSS/JS (Gradio 6 takes those when mounting)."""
    handlers = ChatHandlers(assistant, settings, feedback, policy, answers or AnswerLog())
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

        view = UiView(chat=chatbot, sources=sources, turns=turns, question=question,
                      feedback_box=feedback_box, feedback_id=feedback_id,
                      feedback_note=feedback_note, feedback_thanks=feedback_thanks,
                      comment=comment)
        _wire(handlers, view, send, municipality, new_chat, comment_btn)

    assets = UiAssets(theme=_theme(), css=read_asset("ui.css"), js=read_asset("ui.js"))
    return blocks, assets
