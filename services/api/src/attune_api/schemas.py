"""Types shared by the routes: id and pagination parameters, the list envelope, ref patterns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Path, Query
from pydantic import BaseModel, Field

T = TypeVar("T")

#: Where the REST resources live.
API_PREFIX = "/api/v1"

MAX_ID = 2**63 - 1
MAX_INT = 2**31 - 1
MAX_PAGE = 1000
DEFAULT_PAGE = 100

#: As the catalog's CHECK constraints (migrations/0001_catalog.sql).
PACK_REF = r"^[a-z0-9][a-z0-9_-]*$"
COMPONENT_REF = r"^[a-z0-9][a-z0-9_-]*\.[A-Za-z0-9_][A-Za-z0-9_.-]*$"
KEY_REF = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
SEMVER = r"^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"

IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="numeric id")]
RefPath = Annotated[str, Path(min_length=1, max_length=255, description="the ref, e.g. `core.echo`")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="page size (at most 1000)")]
BeforeId = Annotated[
    int | None,
    Query(
        ge=1, le=MAX_ID, description="cursor: only rows with a smaller id (the `next` of the previous page)"
    ),
]
RefFilter = Annotated[
    str | None, Query(max_length=255, description="exact ref, or a wildcard such as `demo.*`")
]
PackFilter = Annotated[str | None, Query(max_length=255, description="only components of this pack")]
EnabledFilter = Annotated[bool | None, Query(description="only enabled (true) or disabled (false) rows")]
Since = Annotated[datetime | None, Query(description="created at or after (ISO 8601; UTC if no offset)")]
Until = Annotated[datetime | None, Query(description="created before (ISO 8601; UTC if no offset)")]
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]


@dataclass(frozen=True)
class CatalogFilters:
    """The query of every catalog list: ``pack``, ``enabled``, ``ref`` (wildcards), and the page."""

    pack: str | None
    enabled: bool | None
    ref: str | None
    limit: int
    before_id: int | None

    def of(self) -> dict[str, Any]:
        """Keyword arguments of ``CatalogRepository.list``."""
        return {
            "pack": self.pack,
            "enabled": self.enabled,
            "ref": self.ref,
            "limit": self.limit,
            "before_id": self.before_id,
        }


async def _catalog_filters(
    pack: PackFilter = None,
    enabled: EnabledFilter = None,
    ref: RefFilter = None,
    limit: Limit = DEFAULT_PAGE,
    before_id: BeforeId = None,
) -> CatalogFilters:
    return CatalogFilters(pack, enabled, ref, limit, before_id)


CatalogQuery = Annotated[CatalogFilters, Depends(_catalog_filters)]


class Page(BaseModel, Generic[T]):
    """A page of a list, newest first. ``next`` is the ``before_id`` of the next page, or null at the end."""

    data: list[T]
    next: int | None = Field(
        description="pass as `before_id` to get the next page; null when this is the last"
    )


def page(rows: Sequence[Any], limit: int) -> dict[str, Any]:
    """The list envelope: a full page has a ``next`` cursor (the last id)."""
    return {"data": list(rows), "next": rows[-1].id if len(rows) >= limit and rows else None}


def utc(moment: datetime | None) -> datetime | None:
    """Timestamps without an offset are taken as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


class RefLink(BaseModel):
    """A catalog row an execution or enforcement points to (null in a response when it is gone)."""

    id: int
    ref: str
