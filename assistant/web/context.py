"""What the API routes share: one :class:`ApiContext` per app, so differently configured
apps (tests build many) can coexist in one process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from assistant.errors import ApiError
from assistant.history import History, check_turns
from assistant.web.observe import AnswerLog
from assistant.web.security import question_problem
from assistant.web.shutdown import Drain, until_cut

if TYPE_CHECKING:
    from assistant.answer import Assistant
    from assistant.config import Settings
    from assistant.retrieval.filters import Filters
    from assistant.types import Answer
    from assistant.web.feedback import FeedbackStore

__all__ = ["ApiContext"]


async def _prepend(first: tuple[str, Any] | None, rest: AsyncIterator[tuple[str, Any]],
                   answers: AnswerLog, channel: str) -> AsyncIterator[tuple[str, Any]]:
    if first is not None:
        yield first
    async for event in rest:
        if event[0] == "done":
            answers.answered(event[1], channel)
        yield event


@dataclass
class ApiContext:
    settings: Settings
    assistant: Assistant
    feedback: FeedbackStore
    # The chat UI's build state for /readyz (see assistant.web.loading); none in apps
    # without a UI.
    ui_status: Callable[[], dict[str, Any]] | None = None
    # Each answer's log line and metrics (assistant.web.observe).
    answers: AnswerLog = field(default_factory=AnswerLog)
    # The shutdown's clock (assistant.web.shutdown): readiness and streams follow it.
    drain: Drain = field(default_factory=lambda: Drain(0.0))

    def question(self, text: str, history: History) -> str:
        """The stripped question, if it and the history are within the configured limits;
        else a 422 (:class:`ApiError`, or :class:`~assistant.errors.HistoryError` from
        :func:`~assistant.history.check_turns`) whose message says what to change."""
        text = text.strip()
        problem = question_problem(text, self.settings.max_question_chars)
        if problem:
            raise ApiError(422, problem)
        check_turns(history, self.settings.max_history_turns)
        return text

    # Answering is blocking and CPU-bound: it runs in worker threads so the event loop
    # keeps serving other clients (and streams) meanwhile.

    async def ask(self, question: str, history: History, filters: Filters,
                  k: int | None = None, channel: str = "api") -> Answer:
        answer = await run_in_threadpool(self.assistant.ask, question, history, k, filters)
        self.answers.answered(answer, channel)
        return answer

    async def events(self, question: str, history: History, filters: Filters,
                     k: int | None = None,
                     channel: str = "api") -> AsyncIterator[tuple[str, Any]]:
        """The answer's events; their tokens are already checked text
        (:class:`~assistant.citations.StreamChecker`, in the answer chain).

        The first event (the sources, after retrieval) is fetched before this returns,
        so a store outage raises here, while the route can still answer 503 with
        Retry-After instead of a 200 stream; later failures are the stream's to report,
        among them the shutdown's cut (:func:`~assistant.web.shutdown.until_cut`).
        """
        events = iterate_in_threadpool(
            self.assistant.stream(question, history, k=k, filters=filters))
        try:
            first = await anext(events)
        except StopAsyncIteration:
            first = None
        return until_cut(_prepend(first, events, self.answers, channel), self.drain)
