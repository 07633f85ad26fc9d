"""Building SSE responses: filters, ``Last-Event-ID`` parsing and the response itself."""

from __future__ import annotations

import fnmatch
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, TypeVar

from sse_starlette import EventSourceResponse

from attune_api.schemas import MAX_PAGE
from attune_api.sse import Hub, Item, dropped, follow
from attune_shared.settings import Settings

RowT = TypeVar("RowT")

#: Rows a resume replays from the database per connection (one page, oldest first).
REPLAY_PAGE = MAX_PAGE

SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "a text/event-stream that stays open", "content": {"text/event-stream": {}}}
}


def ref_matcher(pattern: str | None) -> Callable[[str | None], bool]:
    """Exact match, or a wildcard such as ``demo.*``; no pattern matches everything."""
    if pattern is None:
        return lambda _: True
    if "*" in pattern:
        return lambda ref: ref is not None and fnmatch.fnmatchcase(ref, pattern)
    return lambda ref: ref == pattern


def last_event_id(value: str | None) -> int | None:
    """The numeric ``Last-Event-ID`` a client sent, or ``None`` (absent or not ours)."""
    if value is None or not value.strip().isdigit():
        return None
    number = int(value.strip())
    return number if number < 2**63 else None


def replayed(rows: Sequence[RowT], item: Callable[[RowT], Item], what: str) -> Iterator[Item]:
    """The items of the rows a resume found (at most :data:`REPLAY_PAGE`, oldest first), then, if
    they fill the page, a ``dropped`` item: the client reconnects from the last one for the rest."""
    yield from (item(row) for row in rows)
    if len(rows) >= REPLAY_PAGE:
        yield dropped(f"more than {REPLAY_PAGE} {what} to replay")


async def response(
    settings: Settings,
    hub: Hub,
    channel: str,
    accepts: Callable[[dict[str, Any]], bool],
    prelude: Callable[[], AsyncIterator[Item]],
    skip_through: int | None = None,
) -> EventSourceResponse:
    # before the response starts: nothing published after this is lost
    client = await hub.register(channel, accepts)
    return EventSourceResponse(
        follow(hub, client, prelude, skip_through),
        ping=settings.api.sse_ping_seconds,
        send_timeout=settings.api.sse_send_timeout,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
