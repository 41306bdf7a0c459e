"""The answering chain: condense → retrieve → answer (+ cite), as LangChain runnables.

Every stage is a named runnable built by :func:`build_chain`; nothing is created at
import time. The chain streams events: ``("sources", [Source])`` once retrieval is
done, ``("token", str)`` while the answer is produced, ``("done", Answer)`` last.

Between stages the state is a frozen dataclass that grows by stage: :class:`Request`
(what was asked) → :class:`Condensed` (+ the text to retrieve with) → :class:`Retrieved`
(+ passages and sources). A stage can only read what an earlier stage produced, and a
typo in a field name is a type error instead of a ``KeyError`` at answer time.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from langchain_core.runnables import Runnable, RunnableGenerator, RunnableLambda

from assistant.answer import extractive
from assistant.answer.answerability import (
    anchor_passages,
    attribute_terms,
    complementing_passages,
    evidence,
)
from assistant.answer.condense import condense_offline
from assistant.answer.confidence import ConfidenceModel
from assistant.answer.policy import Decision, RefusalPolicy
from assistant.answer.slots import asked_slot, lead_cue, lead_slot
from assistant.citations import (
    REFUSAL_TEXT,
    StreamChecker,
    check_citations,
    is_degenerate_question,
    is_refusal,
    source_as_data,
)
from assistant.history import History
from assistant.language import Language, detect_language, question_names, question_words
from assistant.params import tuning
from assistant.retrieval.filters import Filters
from assistant.retrieval.hybrid import Retrieval, Searcher
from assistant.retrieval.retrievers import get_retriever
from assistant.text import clean_question
from assistant.tracing import set_attributes, span, traced
from assistant.types import Answer, AnswerDiagnostics, Chunk, Source

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings
    from langchain_openai import ChatOpenAI

    from assistant.config import Settings
    from assistant.retrieval.store import ChromaStore, SentencePack

log = logging.getLogger("assistant.answer")

Event = tuple[str, Any]
# An extractive answer goes to the checker quote by quote: split after each citation or
# line break, keeping the separators ("".join == text).
_PIECE = re.compile(r"(?<=\]\s)|(?<=\n)")

# Refusal rules and their thresholds live in answer/policy.py (one frozen policy per
# Assistant, thresholds from assistant/calibration.json); the evidence they judge is
# measured in answer/answerability.py. The English stand-out statistics (mean and
# covariance over every sentence of the corpus) are kept with the index
# (:class:`assistant.retrieval.sentences.SentenceStats`), not sampled per process.
SENTENCE_CACHE_CHUNKS = 4096  # passages whose sentence vectors are kept (~4 kB each)
DEGENERATE = "Frågan innehåller inga ord att söka efter. Skriv frågan med ord."
NOT_SOURCED = ("Svaret saknar giltiga källhänvisningar och ska inte läsas som hämtat ur "
               "artiklarna.")


@dataclass(frozen=True, kw_only=True)
class Request:
    """The chain's input: one question with its conversation and search options."""

    question: str
    history: tuple[Mapping[str, object], ...] = ()
    k: int
    filters: Filters = field(default_factory=Filters)
    retriever: str  # a registered retriever's name
    started: float = field(default_factory=time.perf_counter)  # for the total timing


@dataclass(frozen=True, kw_only=True)
class Condensed(Request):
    """After ``condense``: ``standalone`` is what retrieval searches with (the question,
    or the question made self-contained from the history)."""

    standalone: str
    notice: str | None = None  # a Swedish note for the user, e.g. the model failed
    # Model calls that failed so far (step, kind): the answer's diagnostics.
    llm_errors: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class Retrieved(Condensed):
    """After ``retrieve``: the passages and the numbered sources the answer may cite."""

    retrieval: Retrieval
    sources: list[Source]
    retrieve_ms: float


_Stage = TypeVar("_Stage", bound=Request)


def _advance(state: Request, stage: type[_Stage], **new: Any) -> _Stage:
    """``state`` carried into the next stage's type with the stage's new fields."""
    return stage(**{f.name: getattr(state, f.name) for f in fields(state)}, **new)


class Assistant:
    """Retriever + answerer for one index; thread-safe, built once per process."""

    def __init__(self, settings: Settings, retriever: Searcher,
                 chat_model: ChatOpenAI | None = None,
                 policy: RefusalPolicy | None = None,
                 confidence: ConfidenceModel | None | Literal["committed"] = "committed",
                 ) -> None:
        get_retriever(settings.retriever)  # ASSISTANT_RETRIEVER: fail at start, naming the fix
        self.settings = settings
        self.retriever = retriever
        self.chat_model = chat_model
        self.policy = RefusalPolicy.from_calibration() if policy is None else policy
        # The calibrated answerability model; None: no confidence, no hedge.
        self.confidence = (ConfidenceModel.from_calibration() if confidence == "committed"
                           else confidence)
        self._chain: Runnable[Request, Event] | None = None
        self._sentences: OrderedDict[str, SentencePack] = OrderedDict()
        self._cache_lock = threading.Lock()

    def sentence_vectors(self, chunks: Sequence[Chunk]) -> list[extractive.SentenceVector]:
        """The stored vectors of the sentences inside ``chunks``: one read by id for the
        passages not in the bounded cache (ids name a document version, so a cached
        entry is never stale, across index generations too)."""
        with self._cache_lock:
            missing = [c.chunk_id for c in chunks if c.chunk_id not in self._sentences]
        fetched = self.store.sentence_packs(missing) if missing else {}
        out: list[extractive.SentenceVector] = []
        with self._cache_lock:
            self._sentences.update(fetched)
            for c in chunks:
                got = self._sentences.get(c.chunk_id)
                if got is None:
                    continue
                self._sentences.move_to_end(c.chunk_id)
                out.extend((got.doc_id, s, e, got.vectors[i]) for i, (s, e) in enumerate(got.spans))
            while len(self._sentences) > SENTENCE_CACHE_CHUNKS:
                self._sentences.popitem(last=False)
        return out

    @classmethod
    def from_settings(cls, settings: Settings, embeddings: Embeddings | None = None,
                      retriever: Searcher | None = None) -> Assistant:
        """``retriever``: an index the caller opened already (the CLI opens it before it
        imports this module, so the vector index loads while the chain is imported)."""
        chat = None
        if settings.llm == "openai":
            from assistant.answer.llm import build_chat_model

            chat = build_chat_model(settings)
        if retriever is None:
            retriever = Searcher.from_settings(settings, embeddings)
        return cls(settings, retriever, chat)

    @property
    def store(self) -> ChromaStore:
        return self.retriever.store

    @property
    def embeddings(self) -> Embeddings:
        return self.retriever.embeddings

    @property
    def mode(self) -> str:
        return "llm" if self.chat_model is not None else "extractive"

    @property
    def mode_label(self) -> str:
        return f"llm ({self.settings.llm_model})" if self.chat_model is not None else "extractive"

    @property
    def chain(self) -> Runnable[Request, Event]:
        if self._chain is None:
            self._chain = build_chain(self)
        return self._chain

    def stream(self, question: str, history: History = (), k: int | None = None,
               filters: Filters | dict[str, str] | None = None,
               retriever: str | None = None) -> Iterator[Event]:
        if not isinstance(filters, Filters):
            filters = Filters.parse(filters)
        question = clean_question(question)
        if is_degenerate_question(question):
            # Nothing to ask ("???", "[1]", a zero-width space): the refusal, never
            # quotes that retrieval would find for noise.
            yield ("sources", [])
            yield ("done", Answer(question=question, answer=REFUSAL_TEXT, refused=True,
                                  mode=self.mode, citations=[], sources=[],
                                  timings_ms={"retrieve": 0.0, "generate": 0.0, "total": 0.0},
                                  notice=DEGENERATE, outcome="refused",
                                  refusal=Decision(True, "degenerate_question").to_dict()))
            return
        request = Request(question=question, history=tuple(history),
                          k=k or self.settings.k, filters=filters,
                          retriever=retriever or self.settings.retriever)
        # One span for the question, current while each event is made (the web app
        # pulls events on worker threads): the stages' spans nest under it.
        yield from traced("assistant.question", self.chain.stream(request), k=request.k,
                          retriever=request.retriever, mode=self.mode,
                          history_turns=len(request.history))

    def ask(self, question: str, history: History = (), k: int | None = None,
            filters: Filters | dict[str, str] | None = None,
            retriever: str | None = None) -> Answer:
        for kind, payload in self.stream(question, history, k, filters, retriever):
            if kind == "done":
                return payload
        raise RuntimeError("the answer chain ended without an answer")


def build_chain(assistant: Assistant) -> Runnable[Request, Event]:
    def condense(state: Request) -> Condensed:
        question, history = state.question, state.history
        notice: str | None = None
        llm_errors: tuple[tuple[str, str], ...] = ()
        with span("assistant.condense", history_turns=len(history)) as current:
            standalone = condense_offline(question, history,
                                          assistant.retriever.names_municipality)
            if assistant.chat_model is not None and history:
                from assistant.answer.llm import condense
                from assistant.errors import LLMError

                try:
                    with span("assistant.llm", purpose="condense",
                              model=assistant.settings.llm_model):
                        standalone = condense(assistant.chat_model, question, history)
                except LLMError as exc:
                    notice = exc.message_sv
                    llm_errors = (("condense", exc.kind),)
            set_attributes(current, rewritten=standalone != question)
        return _advance(state, Condensed, standalone=standalone, notice=notice,
                        llm_errors=llm_errors)

    def retrieve(state: Condensed) -> Retrieved:
        t0 = time.perf_counter()
        with span("assistant.retrieve", k=state.k, retriever=state.retriever,
                  filtered=bool(state.filters)) as current:
            retrieval = assistant.retriever.retrieve(state.standalone, state.k,
                                                     state.filters, state.retriever)
            set_attributes(current, passages=len(retrieval.chunks))
        sources = [source_as_data(Source.from_scored(n, sc))
                   for n, sc in enumerate(retrieval.chunks, start=1)]
        return _advance(state, Retrieved, retrieval=retrieval, sources=sources,
                        retrieve_ms=(time.perf_counter() - t0) * 1000)

    def answer(states: Iterator[Retrieved]) -> Iterator[Event]:
        for state in states:
            # LangChain resumes this generator in one context throughout, so the span
            # may stay current across its yields.
            with span("assistant.answer") as current:
                for event in _answer(assistant, state):
                    if event[0] == "done":
                        done: Answer = event[1]
                        set_attributes(current, outcome=done.outcome, mode=done.mode,
                                       rule=(done.refusal or {}).get("rule"),
                                       citations=len(done.citations))
                    yield event

    return (
        RunnableLambda(condense, name="condense")
        | RunnableLambda(retrieve, name="retrieve")
        | RunnableGenerator(answer, name="answer")
    )


def _answer(assistant: Assistant, state: Retrieved) -> Iterator[Event]:
    t0 = time.perf_counter()
    question = state.question
    retrieval = state.retrieval
    sources = state.sources
    language = detect_language(question)
    yield ("sources", sources)

    extract = _extract(assistant, state, retrieval, language)
    decision = _decide(assistant, question, language, retrieval, extract)
    supported = not decision.refused
    confidence = decision.evidence.confidence if decision.evidence is not None else None
    # Between refusal and a confident answer: the nearest quotes, said to be uncertain
    # (never a model's prose, which would sound sure of what the evidence is not).
    hedged = supported and assistant.confidence is not None \
        and assistant.confidence.hedges(confidence)
    notice = state.notice
    llm_errors = state.llm_errors
    dropped = 0
    text, refused, model = REFUSAL_TEXT, True, None
    if hedged:
        text, refused = extractive.compose(extract, retrieval.chunks, language, hedge=True), False
    elif supported and assistant.chat_model is not None:
        from assistant.answer.llm import fit_context, stream_generate
        from assistant.errors import LLMError

        # Only the sources that fit the token budget reach the model, so only they may
        # be cited: a [n] beyond them would be an invented citation.
        _, included = fit_context(sources, assistant.settings.context_tokens)
        checker = StreamChecker.for_sources(included)
        try:
            with span("assistant.llm", purpose="answer", model=assistant.settings.llm_model,
                      sources=len(included)):
                yield from _checked(checker, stream_generate(
                    assistant.chat_model, question, included, state.history, language,
                    assistant.settings.context_tokens))
            text, model = checker.text.strip(), assistant.settings.llm_model
            refused = is_refusal(text)
            sources = list(included)
            dropped += len(checker.removed)
        except LLMError as exc:
            log.warning("LLM failed (%s); falling back to the extractive answer", exc.kind)
            notice = exc.message_sv
            llm_errors = (*llm_errors, ("answer", exc.kind))
            text, refused = extractive.compose(extract, retrieval.chunks, language), False
    elif supported:
        text, refused = extractive.compose(extract, retrieval.chunks, language), False
    if model is None:
        # Not streamed by a model: stream the quotes one by one all the same, checked like
        # a model's text (article text is untrusted too), so every client renders the
        # answer progressively and the same way in both modes.
        checker = StreamChecker.for_sources(sources)
        yield from _checked(checker, _PIECE.split(text))
        text = checker.text.strip()
        dropped += len(checker.removed)

    citations: list[int] = []
    flagged: list[int] = []
    if not refused:
        with span("assistant.citations", sources=len(sources)) as current:
            check = check_citations(text, sources)
            set_attributes(current, cited=len(check.citations), flagged=len(check.flagged),
                           sourced=check.sourced)
        text, citations, flagged = check.text, check.citations, check.flagged
        dropped += len(check.removed)
        if not check.sourced:
            notice = NOT_SOURCED
    for cand in extract.quotes:
        if cand.n in citations and sources[cand.n - 1].highlight is None:
            sources[cand.n - 1].highlight = [cand.start, cand.end]
    now = time.perf_counter()
    timings = {"retrieve": round(state.retrieve_ms, 1),
               "generate": round((now - t0) * 1000, 1),
               "total": round((now - state.started) * 1000, 1)}
    yield ("done", Answer(question=question, answer=text, refused=refused,
                          mode="llm" if model else "extractive",
                          citations=citations, sources=sources, timings_ms=timings,
                          model=model, notice=notice, flagged=flagged,
                          refusal=_final(decision, refused).to_dict(),
                          confidence=None if confidence is None else round(confidence, 4),
                          outcome="refused" if refused else "hedged" if hedged else "answer",
                          diagnostics=AnswerDiagnostics(dropped, llm_errors)))


def _checked(checker: StreamChecker, tokens: Iterable[str]) -> Iterator[Event]:
    """``token`` events of the checked text only: the one place where answer text, from
    a model or from the articles, becomes what clients get (:class:`StreamChecker`)."""
    for token in tokens:
        if piece := checker.feed(token):
            yield ("token", piece)
    if rest := checker.finish():
        yield ("token", rest)


def _final(decision: Decision, refused: bool) -> Decision:
    """The recorded decision: the policy's, unless the model refused what it let through."""
    return decision.as_model_refusal() if refused and not decision.refused else decision


def _decide(assistant: Assistant, question: str, language: Language, retrieval: Retrieval,
            extract: extractive.Extract) -> Decision:
    """The policy's verdict on the measured evidence (LLM mode: before any model call)."""
    if not extract.sentences:
        return Decision.no_evidence()
    query_vector = retrieval.query_vector
    stats = retrieval.snapshot.stats if retrieval.snapshot is not None else None

    def standout() -> float:
        assert query_vector is not None and stats is not None
        return stats.standout(query_vector, extract.best_dense)

    measured = evidence(question, language, extract, retrieval.best_dense or None,
                        assistant.retriever.lexical, [c.chunk for c in retrieval.chunks],
                        standout if query_vector is not None and stats is not None else None,
                        retrieval.pool)
    # Fitted on hybrid evidence: without a dense side (the bm25 retriever) its inputs
    # mean nothing, and the rules decide alone, as weak_evidence does.
    if assistant.confidence is not None and measured.best_passage is not None:
        measured = replace(measured, confidence=assistant.confidence.probability(measured))
    return assistant.policy.decide(measured)


def _extract(assistant: Assistant, state: Retrieved, retrieval: Retrieval,
             language: Language) -> extractive.Extract:
    chunks = retrieval.chunks[: tuning().extractive.candidate_chunks]
    if not chunks:
        return extractive.Extract()
    vectors = assistant.sentence_vectors([c.chunk for c in chunks])
    query_vector = retrieval.query_vector or assistant.embeddings.embed_query(state.standalone)
    question = state.question
    terms = assistant.retriever.lexical.terms(question)
    # Once per question: ranking, choice and refusal share it.
    slot = asked_slot(question, language)
    ranked = extractive.candidates(chunks, vectors, query_vector, terms, slot)
    # A follow-up quotes what it asks about, or nothing; "vem/när/hur många" a sentence or two.
    asked = attribute_terms(terms.exact, question_names(question)) \
        if state.standalone != question else []
    few = slot is not None and slot.kind != "name" and len(question_words(question)) <= 1
    # A question in two parts is answered part by part: no one term anchors it.
    passages = [c.chunk for c in chunks]
    anchors = anchor_passages(terms.exact, assistant.retriever.lexical, passages) \
        if len(question_words(question)) <= 1 else set()
    return extractive.compose_choice(extractive.select(ranked, slot=slot), chunks,
                                     retrieval.municipalities, asked,
                                     tuning().extractive.slot_sentences if few else None,
                                     anchors, complementing_passages(question, passages),
                                     lead_slot(question, language),
                                     lead_cue(question, language))
