"""LLM mode: grounded answers and follow-up condensing through any OpenAI-compatible endpoint.

Everything here talks to the model through LangChain runnables
(``prompt | model | StrOutputParser``) built by small factories, so the chain shows up with
named steps in traces and a test can swap the model. The model is built, and its failures
read, by :mod:`assistant.openai_client`: endpoint failures never escape as
``openai``/``httpx`` exceptions but as an :class:`LLMError` subclass with a Swedish message a
user can read, so the caller can fall back to the extractive answer.

Prompts live in ``prompts/answer.sv.md`` and ``prompts/condense.sv.md``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from assistant.citations import REFUSAL_TEXT, neutralise_markers, refusal_text, strip_markers
from assistant.errors import LLMBadResponseError
from assistant.history import History, recent_turns
from assistant.language import Language, detect_language
from assistant.openai_client import CHAT, chat_endpoint, mapped_errors
from assistant.prompts import Prompt, load_prompt
from assistant.text import count_tokens, encoding, sentence_spans
from assistant.types import Source, place_and_date

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage
    from langchain_core.runnables import Runnable
    from langchain_openai import ChatOpenAI

    from assistant.config import Settings


ANSWER_PROMPT = "answer.sv"
CONDENSE_PROMPT = "condense.sv"
HISTORY_CHARS = 1200  # per turn in the condense prompt: long answers drown the question

_LANGUAGE_NAMES = {"sv": "svenska", "en": "engelska"}


# --- model -------------------------------------------------------------------------------


def build_chat_model(settings: Settings) -> ChatOpenAI:
    """A ``ChatOpenAI`` for ``ASSISTANT_LLM_MODEL`` at ``ASSISTANT_LLM_BASE_URL``, built by
    :func:`assistant.openai_client.chat_endpoint` (key placeholder, timeout, retries,
    ``temperature=0``); :class:`LLMConfigError` when no endpoint is configured."""
    return chat_endpoint(settings).chat_model()


# --- context -----------------------------------------------------------------------------


# Each source reaches the model between two delimiter lines that carry a random code,
# new for every question. An article cannot know the code, so it cannot close its own
# block and fake the header of another source; inside, "[2]" is already "(2)"
# (Source.from_scored) and "<<<"/">>>" are defused, so nothing in it looks like markup.
SOURCE_OPEN = "<<<KÄLLA {n} {nonce}>>>"
SOURCE_CLOSE = "<<<SLUT {n} {nonce}>>>"
NONCE_BYTES = 6
# Same length as a real code: budgets counted without one (the chain's) come out the same.
_ANY_NONCE = "0" * (2 * NONCE_BYTES)


def new_nonce() -> str:
    """The per-question code of the source delimiters."""
    return secrets.token_hex(NONCE_BYTES)


def _data(text: str) -> str:
    """Article text as the model may see it: no citation markers, no delimiter look-alikes."""
    return neutralise_markers(text).replace("<<<", "‹‹‹").replace(">>>", "›››")


def source_header(source: Source) -> str:
    """``Titel (Kommun, datum)``: what the source is; its number is in the delimiter."""
    where = place_and_date(source.municipality, source.date)
    return _data(source.title + (f" ({where})" if where else ""))


def _block(source: Source, text: str, nonce: str) -> str:
    return "\n".join((SOURCE_OPEN.format(n=source.n, nonce=nonce), source_header(source),
                      _data(text), SOURCE_CLOSE.format(n=source.n, nonce=nonce)))


def format_sources(sources: Sequence[Source], nonce: str = _ANY_NONCE) -> str:
    """The delimited context block, one block per source, blank-line separated."""
    return "\n\n".join(_block(s, s.text.strip(), nonce) for s in sources)


def _truncate(source: Source, budget_tokens: int, nonce: str) -> str | None:
    """The longest block for ``source`` within the budget, cut at a sentence boundary.

    Falls back to a token cut when even the first sentence is too long; ``None`` when not
    even the delimiters and header fit.
    """
    if count_tokens(_block(source, "", nonce)) > budget_tokens:
        return None
    text = source.text.strip()
    best: str | None = None
    for _, end in sentence_spans(text):
        candidate = _block(source, text[:end], nonce)
        if count_tokens(candidate) > budget_tokens:
            break
        best = candidate
    if best is not None:
        return best
    room = budget_tokens - count_tokens(_block(source, "", nonce))
    if room <= 0:
        return None
    tokens = encoding().encode(text, disallowed_special=())[:room]
    candidate = _block(source, encoding().decode(tokens), nonce)
    while tokens and count_tokens(candidate) > budget_tokens:  # re-encoding can differ by one
        tokens = tokens[:-1]
        candidate = _block(source, encoding().decode(tokens), nonce)
    return candidate if tokens else None


def fit_context(sources: Sequence[Source], budget_tokens: int,
                nonce: str = _ANY_NONCE) -> tuple[str, list[Source]]:
    """Delimited context within ``budget_tokens`` (cl100k tokens) and the sources it holds.

    Sources are added in the given (rank) order until the next one would exceed the budget;
    later ones are left out rather than skipped over, so the model sees the best passages.
    A first source that alone exceeds the budget is cut at a sentence boundary. The returned
    sources are the caller's objects (numbers unchanged), so ``[n]`` still resolves.
    """
    blocks: list[str] = []
    included: list[Source] = []
    for source in sources:
        block = _block(source, source.text.strip(), nonce)
        candidate = "\n\n".join([*blocks, block])
        if count_tokens(candidate) <= budget_tokens:
            blocks.append(block)
            included.append(source)
            continue
        if not blocks:
            cut = _truncate(source, budget_tokens, nonce)
            if cut is not None:
                blocks.append(cut)
                included.append(source)
        break
    return "\n\n".join(blocks), included


# --- chains ------------------------------------------------------------------------------


def _checked(name: str, provided: set[str]) -> Prompt:
    """The prompt, refused at build time if it uses a placeholder the code never fills.

    Otherwise an edited prompt file would fail inside the model call, where the error
    would be mistaken for a bad endpoint reply.
    """
    prompt = load_prompt(name)
    unknown = sorted(prompt.variables - provided)
    if unknown:
        raise ValueError(
            f"prompts/{name}.md uses unknown placeholders {', '.join(unknown)}; "
            f"available: {', '.join(sorted(provided))}"
        )
    return prompt


def answer_chain(model: BaseChatModel) -> Runnable[dict[str, Any], str]:
    """``answer prompt | model | str``; inputs: sources, question, language_name, refusal,
    history (messages)."""
    from langchain_core.output_parsers import StrOutputParser

    prompt = _checked(ANSWER_PROMPT,
                      {"sources", "question", "language_name", "refusal", "nonce"})
    chain = prompt.chat_template(history=True) | model | StrOutputParser()
    return chain.with_config(run_name="answer")


def condense_chain(model: BaseChatModel) -> Runnable[dict[str, Any], str]:
    """``condense prompt | model | str``; inputs: history (text), question."""
    from langchain_core.output_parsers import StrOutputParser

    prompt = _checked(CONDENSE_PROMPT, {"history", "question"})
    chain = prompt.chat_template() | model | StrOutputParser()
    return chain.with_config(run_name="condense")


def history_messages(history: History) -> list[BaseMessage]:
    """The last turns as chat messages (user/assistant), citation markers removed."""
    from langchain_core.messages import AIMessage, HumanMessage

    out: list[BaseMessage] = []
    for turn in recent_turns(history):
        content = str(turn.get("content", "")).strip()
        if not content:
            continue
        if turn.get("role") == "assistant":
            out.append(AIMessage(content=strip_markers(content)))
        else:
            out.append(HumanMessage(content=content))
    return out


def history_text(history: History) -> str:
    """The last turns as "Användare: …" / "Assistent: …" lines for the condense prompt."""
    lines: list[str] = []
    for turn in recent_turns(history):
        content = " ".join(strip_markers(str(turn.get("content", ""))).split())
        if not content:
            continue
        if len(content) > HISTORY_CHARS:
            content = content[:HISTORY_CHARS].rsplit(" ", 1)[0] + " …"
        who = "Assistent" if turn.get("role") == "assistant" else "Användare"
        lines.append(f"{who}: {content}")
    return "\n".join(lines)


def _answer_inputs(
    question: str,
    sources: Sequence[Source],
    history: History,
    language: Language | None,
    context_tokens: int | None,
) -> dict[str, Any]:
    nonce = new_nonce()
    if context_tokens is not None:
        context, _ = fit_context(sources, context_tokens, nonce)
    else:
        context = format_sources(sources, nonce)
    lang = language or detect_language(question)
    return {
        "sources": context,
        "nonce": nonce,
        "question": question.strip(),
        "language_name": _LANGUAGE_NAMES[lang],
        "refusal": REFUSAL_TEXT,
        "history": history_messages(history),
    }


# --- errors ------------------------------------------------------------------------------


def _failures(model: object) -> AbstractContextManager[None]:
    """Endpoint failures of a call to ``model``, as the one table in
    :mod:`assistant.openai_client` reads them (the timeout is named when the model has one)."""
    value = getattr(model, "request_timeout", None)
    return mapped_errors(CHAT, value if isinstance(value, int | float) else None)


def _empty(model: object) -> LLMBadResponseError:
    return LLMBadResponseError(CHAT.message("språkmodellen gav ett tomt svar"),
                               detail=f"empty completion from "
                                      f"{getattr(model, 'model_name', model)!r}")


# --- public calls ------------------------------------------------------------------------


def generate(
    model: BaseChatModel,
    question: str,
    sources: Sequence[Source],
    history: History = (),
    language: Language | None = None,
    context_tokens: int | None = None,
) -> str:
    """The model's answer to ``question`` from the numbered ``sources`` (raw, unchecked).

    Pass the sources returned by :func:`fit_context` (or set ``context_tokens`` to fit
    here). ``language`` defaults to :func:`detect_language` of the question. With no
    sources the only correct answer is the refusal, so the model is not called. Run
    :func:`assistant.citations.check_citations` on the result before showing it.
    Raises :class:`LLMError` on any endpoint failure or an empty reply.
    """
    if not sources:
        return refusal_text(language or detect_language(question))
    inputs = _answer_inputs(question, sources, history, language, context_tokens)
    chain = answer_chain(model)
    with _failures(model):
        text = chain.invoke(inputs)
    if not text.strip():
        raise _empty(model)
    return text.strip()


def stream_generate(
    model: BaseChatModel,
    question: str,
    sources: Sequence[Source],
    history: History = (),
    language: Language | None = None,
    context_tokens: int | None = None,
) -> Iterator[str]:
    """Like :func:`generate`, yielding non-empty text pieces as they arrive.

    A failure raises :class:`LLMError` from the iterator, possibly after some pieces were
    yielded: callers streaming to a user must discard or replace the partial text. The
    pieces are the raw text; check citations on their join once the stream ends.
    """
    if not sources:
        yield refusal_text(language or detect_language(question))
        return
    inputs = _answer_inputs(question, sources, history, language, context_tokens)
    chain = answer_chain(model)
    produced = False
    with _failures(model):
        for piece in chain.stream(inputs):
            if piece:
                produced = produced or bool(piece.strip())
                yield piece
    if not produced:
        raise _empty(model)


_LABEL = re.compile(
    r"^\s*(?:fristående fråga|omformulerad fråga|standalone question|fråga|question)\s*:\s*",
    re.IGNORECASE,
)


def _clean_condensed(text: str) -> str:
    """First non-empty line, without a "Fristående fråga:" label or surrounding quotes."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = _LABEL.sub("", line).strip()
    if len(line) >= 2 and line[0] in "\"'“”«»" and line[-1] in "\"'“”«»":
        line = line[1:-1].strip()
    return line


def condense(model: BaseChatModel, question: str, history: History) -> str:
    """A standalone version of a follow-up ``question``, using the conversation ``history``.

    Without history the question already stands alone, so the model is not called.
    Raises :class:`LLMError` on any endpoint failure or an empty reply.
    """
    text = history_text(history)
    if not text:
        return question
    chain = condense_chain(model)
    with _failures(model):
        raw = chain.invoke({"history": text, "question": question.strip()})
    standalone = _clean_condensed(raw)
    if not standalone:
        raise _empty(model)
    return standalone
