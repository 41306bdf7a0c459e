"""``assistant eval draft``: propose eval lines from the articles for a person to review.

Writing questions by hand is the bottleneck of a growing eval set. Drafts speed that
up without pretending to be finished: every line carries its source document, the
sentence that supports it and ``needs_review: true``, and is a valid eval line
(``expected_sources``, ``must_mention``, ``reference_answer``) so it runs as soon as
someone has read it.

- With an LLM endpoint configured, the model proposes question/answer pairs per
  article; the supporting sentence it quotes is checked against the article
  (``verified``), since a model can misquote.
- Offline, drafts are extractive: sentences that name a person with a role, an
  amount, a count or a year become questions whose answer is that span.
- Either way, *near-miss unanswerable* drafts are added: the same municipality or
  subject, asked about an attribute the article never mentions (a cost, a number
  of pupils, parents' views), checked by searching the article for it. These are
  the questions that catch an assistant inventing an answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.evaluation.metrics import normalise
from assistant.evaluation.running import RetryPolicy, run_ordered

if TYPE_CHECKING:
    from assistant.config import Settings

__all__ = ["Article", "draft_corpus", "extractive_drafts", "llm_complete", "llm_drafts",
           "load_articles", "near_miss_drafts"]

DRAFT_PROMPT = "draft-questions.sv"
DRAFT_TEMPERATURE = 0.2  # some variety between the questions of one article
_NAME = r"[A-ZÅÄÖ][a-zåäöéü]+(?:-[A-ZÅÄÖ][a-zåäöéü]+)?"
PERSON_ROLE = re.compile(
    rf"(?P<name>{_NAME}(?: {_NAME})+),? som (?:är|var|blir) (?P<role>[a-zåäö][^,.;:!?]{{3,80}})")
AMOUNT = re.compile(
    r"(?P<span>\d[\d  ,.]*(?: ?(?:miljoner|miljarder|tusen|mnkr|mkr))? ?(?:kronor|kr)\b)")
COUNT = re.compile(r"(?P<span>\b\d[\d  ]*) (?P<noun>elever|lärare|skolor|rektorer|barn|förskolor|"
                   r"klasser|personer|kommuner|medarbetare|pedagoger)\b")
YEAR = re.compile(r"\b(?:år |i |sedan |under |från )(?P<span>(?:19|20)\d\d)\b")


@dataclass(frozen=True)
class Article:
    doc_id: str
    title: str
    municipality: str | None
    text: str
    sentences: tuple[str, ...]


def load_articles(corpus_dir: Path, settings: Settings) -> tuple[list[Article], list[str]]:
    """Every readable article, cleaned and split the way the index sees it; skipped files
    come back as messages so the caller can say which and why."""
    from assistant.ingest.cleaning import clean_text, load_patterns
    from assistant.ingest.loaders import SUPPORTED_SUFFIXES, LoadError, load_document
    from assistant.ingest.metadata import document_meta, read_sidecar
    from assistant.ingest.pipeline import discover
    from assistant.text import sentence_spans

    corpus = Path(corpus_dir)
    if not corpus.is_dir():
        raise FileNotFoundError(f"korpusmappen finns inte: {corpus}")
    sidecar = read_sidecar(corpus, settings.metadata_file)
    patterns = load_patterns(settings.clean_patterns_file)
    articles: list[Article] = []
    skipped: list[str] = []
    for doc_id, path in discover([corpus], corpus, settings.metadata_file):
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            continue
        try:
            loaded = load_document(path)
        except (LoadError, OSError) as exc:
            skipped.append(f"{doc_id}: {getattr(exc, 'reason', exc)}")
            continue
        text = clean_text(loaded.text, patterns).text
        meta = document_meta(doc_id, loaded.text, sidecar, loaded.title_hint, patterns)
        sentences = tuple(" ".join(text[s:e].split()) for s, e in sentence_spans(text))
        articles.append(Article(doc_id, meta.title, meta.municipality, text, sentences))
    return articles, skipped


def _line(article: Article, number: int, question: str, must: list[list[str]],
          sentence: str, reference: str, method: str, **extra: Any) -> dict[str, Any]:
    stem = Path(article.doc_id).stem[:12]
    return {"id": f"draft-{stem}-{number:02d}", "question": question, "kind": "draft",
            "expected_sources": [article.doc_id], "must_mention": must,
            "reference_answer": reference, "source_doc": article.doc_id,
            "supporting_sentence": sentence, "needs_review": True, "draft_method": method,
            **extra}


def _place(article: Article) -> str:
    return f" i {article.municipality}" if article.municipality else ""


def _blank(sentence: str, span: str) -> str:
    return sentence.replace(span, "…", 1).strip(" -–")


def extractive_drafts(article: Article, limit: int = 5) -> list[dict[str, Any]]:
    """Questions whose answer is a span of one sentence: a person with a role, an amount,
    a count, a year. Wording is template-made; the reviewer rewrites it naturally."""
    drafts: list[dict[str, Any]] = []
    seen: set[str] = set()
    title = f"”{article.title}”"
    for sentence in article.sentences:
        if len(drafts) >= limit:
            break
        if not 6 <= len(sentence.split()) <= 60:
            continue
        found: tuple[str, list[list[str]], str] | None = None
        if match := PERSON_ROLE.search(sentence):
            name, role = match["name"], match["role"].strip()
            found = (f"Vem är {role}{_place(article)}?", [[name, name.split()[-1]]],
                     f"{name} är {role}.")
        elif match := AMOUNT.search(sentence):
            found = (f"Hur mycket pengar gäller det, enligt artikeln {title}: "
                     f"”{_blank(sentence, match['span'])}”?", [[match["span"].strip()]], sentence)
        elif match := COUNT.search(sentence):
            found = (f"Hur många {match['noun']} handlar det om, enligt artikeln {title}: "
                     f"”{_blank(sentence, match['span'])}”?", [[match["span"].strip()]], sentence)
        elif match := YEAR.search(sentence):
            found = (f"Vilket år gäller det, enligt artikeln {title}: "
                     f"”{_blank(sentence, match['span'])}”?", [[match["span"]]], sentence)
        if found is None or found[0] in seen:
            continue
        seen.add(found[0])
        drafts.append(_line(article, len(drafts) + 1, found[0], found[1], sentence, found[2],
                            "extractive"))
    return drafts


# Attributes a near-miss question asks about, and how to tell the article mentions them.
NEAR_MISSES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("Hur mycket kostade satsningen{place}?",
     re.compile(r"\bkron|\bkr\b|\bmnkr\b|\bmkr\b|\bbudget|\bkosta", re.I), "belopp eller kostnad"),
    ("Hur många elever berördes av arbetet{place}?",
     re.compile(r"\d[\d  ]* (?:\w+ ){0,2}elever", re.I), "antal elever"),
    ("Vad tyckte föräldrarna{place} om {subject}?",
     re.compile(r"föräld|vårdnadshav", re.I), "föräldrarnas syn"),
    ("Hur förändrades meritvärdena{place} efter {subject}?",
     re.compile(r"meritvärde", re.I), "meritvärden"),
)


def near_miss_drafts(article: Article, limit: int = 2) -> list[dict[str, Any]]:
    """Same entity, an attribute the article lacks: the correct answer is a refusal."""
    title = article.title or "arbetet"
    # "Kommunalt kunskapslyft" → "kommunalt kunskapslyft", but "SKR-nätverk" stays as is.
    subject = title[:1].lower() + title[1:] if title[1:2].islower() else title
    drafts: list[dict[str, Any]] = []
    for template, present, attribute in NEAR_MISSES:
        if len(drafts) >= limit:
            break
        if present.search(article.text):
            continue
        question = template.format(place=_place(article), subject=f"”{subject}”")
        stem = Path(article.doc_id).stem[:12]
        drafts.append({"id": f"draft-{stem}-nm{len(drafts) + 1}", "question": question,
                       "kind": "unanswerable", "expected_sources": [],
                       "near_miss_of": article.doc_id, "missing_attribute": attribute,
                       "needs_review": True, "draft_method": "near-miss"})
    return drafts


# --- LLM ---------------------------------------------------------------------------------


def _verified(sentence: str, article: Article) -> bool:
    return bool(sentence.strip()) and normalise(sentence) in normalise(article.text)


def llm_drafts(article: Article, complete: Callable[[list[dict[str, str]]], str],
               limit: int = 5) -> list[dict[str, Any]]:
    """Ask the model for question/answer pairs; keep only well-formed ones, check quotes."""
    from assistant.errors import DraftError
    from assistant.evaluation.judge import parse_json_reply
    from assistant.prompts import load_prompt

    rendered = load_prompt(DRAFT_PROMPT).render(
        title=article.title, municipality=article.municipality or "okänd", count=str(limit),
        text=article.text[:12000])
    messages = [{"role": role, "content": content} for role, content in rendered]
    try:
        reply = parse_json_reply(complete(messages), DraftError)
    except DraftError as exc:
        return [{"error": f"{article.doc_id}: {exc}"}]
    drafts: list[dict[str, Any]] = []
    for item in reply.get("questions") or []:
        if len(drafts) >= limit:
            break
        if not isinstance(item, dict) or not str(item.get("question", "")).strip():
            continue
        sentence = str(item.get("supporting_sentence", "")).strip()
        must = [[str(term)] for term in item.get("must_mention") or [] if str(term).strip()
                and normalise(str(term)) in normalise(sentence)]
        drafts.append(_line(article, len(drafts) + 1, str(item["question"]).strip(), must,
                            sentence, str(item.get("answer", "")).strip(), "llm",
                            verified=_verified(sentence, article)))
    return drafts


def llm_complete(settings: Settings, retry: RetryPolicy | None = None,
                 ) -> Callable[[list[dict[str, str]]], str]:
    """The drafting model (``ASSISTANT_LLM_*``); a failed call raises :class:`DraftError`,
    whose cause is the :class:`~assistant.errors.LLMError` subclass that says why."""
    from assistant.errors import DraftError, LLMError
    from assistant.openai_client import DRAFT, chat_endpoint, mapped_errors

    # No client retries: RetryPolicy retries transient failures with backoff.
    endpoint = replace(chat_endpoint(settings, DRAFT), temperature=DRAFT_TEMPERATURE,
                       max_retries=0)
    client = endpoint.client()
    retry = retry or RetryPolicy()

    def complete(messages: list[dict[str, str]]) -> str:
        def call() -> str:
            response = client.chat.completions.create(
                model=endpoint.model, messages=messages,  # type: ignore[arg-type]
                temperature=endpoint.temperature)
            return response.choices[0].message.content or ""

        try:
            with mapped_errors(DRAFT, endpoint.timeout):
                return retry.run(call)
        except LLMError as exc:
            raise DraftError(exc.message_sv) from exc

    return complete


def draft_corpus(articles: list[Article], settings: Settings, *, per_doc: int = 5,
                 near_misses: int = 2, use_llm: bool | None = None, concurrency: int = 1,
                 complete: Callable[[list[dict[str, str]]], str] | None = None,
                 ) -> Iterator[dict[str, Any]]:
    """Drafts for every article: LLM ones when an endpoint is configured, else extractive,
    then the near-miss unanswerable ones. Lines with ``error`` report a failed article."""
    llm = settings.mode == "llm" if use_llm is None else use_llm
    if llm:
        ask = complete or llm_complete(settings)
        batches, _ = run_ordered(lambda a: llm_drafts(a, ask, per_doc), articles, concurrency)
    else:
        batches = [extractive_drafts(a, per_doc) for a in articles]
    for article, batch in zip(articles, batches, strict=True):
        yield from batch or []
        yield from near_miss_drafts(article, near_misses)


def write_drafts(path: Path, drafts: Iterator[dict[str, Any]]) -> tuple[int, list[str]]:
    """Write the valid drafts as JSONL; return (count, errors) for the caller to show."""
    errors: list[str] = []
    lines: list[str] = []
    for draft in drafts:
        if "error" in draft:
            errors.append(str(draft["error"]))
        else:
            lines.append(json.dumps(draft, ensure_ascii=False))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines), errors
