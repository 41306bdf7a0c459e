"""Search filters: parsing user input and matching chunks (the store's translation into
Chroma's ``where`` is tested with the store)."""

from __future__ import annotations

import pytest

from assistant.errors import FilterError
from assistant.retrieval.filters import Filters
from assistant.types import Chunk


def test_unknown_filter_key_raises() -> None:
    with pytest.raises(FilterError, match="kommun"):
        Filters.parse({"kommun": "Lund"})
    with pytest.raises(FilterError):
        Filters.parse(["municipality"])
    with pytest.raises(FilterError):
        Filters.parse({"date_from": "10 okt 2012"})
    assert Filters.parse(["municipality=Lund"]) == Filters(municipality="Lund")


def test_matches_checks_municipality_case_insensitively_and_dates_inclusively() -> None:
    chunk = Chunk(chunk_id="c", doc_id="a.txt", doc_hash="h", ordinal=0, text="t", start=0,
                  end=1, content_hash="x", title="T", municipality="Lund", date="2012-10-10")
    assert Filters(municipality="lund").matches(chunk)
    assert not Filters(municipality="Malmö").matches(chunk)
    assert Filters(date_from="2012-10-10", date_to="2012-10-10").matches(chunk)
    assert not Filters(date_to="2012-10-09").matches(chunk)
    undated = Chunk(chunk_id="c", doc_id="a.txt", doc_hash="h", ordinal=0, text="t", start=0,
                    end=1, content_hash="x", title="T")
    assert not Filters(date_from="2000-01-01").matches(undated)


def test_an_exclusion_alone_counts_as_a_filter() -> None:
    """The leave-out suite sends only exclusions; they must survive ``filters or Filters()``."""
    assert not Filters()
    assert Filters(exclude_doc_ids=("a.txt",))
