"""Search filters: parsed once from user input, applied by the store and the lexical path.

A separate module because both the store (which translates them into Chroma's ``where``)
and the hybrid retriever (which applies them to lexical hits) need them, and the store
must not import the retriever.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from assistant.errors import FilterError

__all__ = ["FILTER_KEYS", "FilterError", "Filters"]

FILTER_KEYS = ("municipality", "doc_id", "date_from", "date_to")


class Described(Protocol):
    """What filters look at: a chunk or a manifest record."""

    @property
    def doc_id(self) -> str: ...
    @property
    def municipality(self) -> str | None: ...
    @property
    def date(self) -> str | None: ...


@dataclass(frozen=True)
class Filters:
    municipality: str | None = None
    doc_id: str | None = None
    date_from: str | None = None  # ISO dates, inclusive
    date_to: str | None = None
    # Documents to leave out, as if they were not indexed: the leave-the-answer-out eval
    # suite's ``exclude_sources``. Set by code, never parsed from user input.
    exclude_doc_ids: tuple[str, ...] = ()

    @classmethod
    def parse(cls, pairs: dict[str, str] | Sequence[str] | None) -> Filters:
        """From ``{"municipality": "Lund"}`` or ``["municipality=Lund"]``; unknown keys fail."""
        if not pairs:
            return cls()
        items: dict[str, str] = {}
        if isinstance(pairs, dict):
            items = {str(k): str(v) for k, v in pairs.items() if v not in (None, "")}
        else:
            for pair in pairs:
                key, sep, value = pair.partition("=")
                if not sep:
                    raise FilterError(f"Filtret {pair!r} ska ha formen nyckel=värde")
                items[key.strip()] = value.strip()
        unknown = sorted(set(items) - set(FILTER_KEYS))
        if unknown:
            raise FilterError(
                f"Okänt filter: {', '.join(unknown)}. Tillåtna: {', '.join(FILTER_KEYS)}"
            )
        for key in ("date_from", "date_to"):
            if key in items and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", items[key]):
                raise FilterError(f"{key} ska vara ett datum som 2023-11-09")
        return cls(municipality=items.get("municipality"), doc_id=items.get("doc_id"),
                   date_from=items.get("date_from"), date_to=items.get("date_to"))

    def __bool__(self) -> bool:
        """Whether anything is filtered out, exclusions included (a leave-out question
        with no other filter must not read as "no filters")."""
        return any((self.municipality, self.doc_id, self.date_from, self.date_to,
                    self.exclude_doc_ids))

    def matches(self, chunk: Described) -> bool:
        """Every filter is a property of the document, so a chunk and its document's
        manifest record answer alike."""
        if self.municipality and (chunk.municipality or "").casefold() != \
                self.municipality.casefold():
            return False
        if self.doc_id and chunk.doc_id != self.doc_id:
            return False
        if chunk.doc_id in self.exclude_doc_ids:
            return False
        if (self.date_from or self.date_to) and not chunk.date:
            return False
        if self.date_from and (chunk.date or "") < self.date_from:
            return False
        return not (self.date_to and (chunk.date or "") > self.date_to)
