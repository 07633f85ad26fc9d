"""Events (immutable trigger instances): list, get with their enforcements, live stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header
from sse_starlette import EventSourceResponse

from attune_api import streams
from attune_api.deps import HubDep, PoolDep, SettingsDep, Viewer
from attune_api.problems import not_found
from attune_api.schemas import API_PREFIX, BeforeId, IdPath, Limit, Page, RefFilter, Since, Until, page, utc
from attune_api.sse import EVENTS, Item
from attune_shared.models import Enforcement, Event
from attune_shared.repos import EnforcementRepository, EventRepository

router = APIRouter(prefix=f"{API_PREFIX}/events", tags=["events"])


class EventDetail(Event):
    """An event and the enforcements it caused (one per matching rule)."""

    enforcements: list[Enforcement]


@router.get("", summary="List events, newest first")
async def list_events(
    _: Viewer,
    pool: PoolDep,
    trigger_ref: RefFilter = None,
    rule_ref: RefFilter = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
    before_id: BeforeId = None,
) -> Page[Event]:
    rows = await EventRepository(pool).list(
        trigger_ref=trigger_ref,
        rule_ref=rule_ref,
        since=utc(since),
        until=utc(until),
        before_id=before_id,
        limit=limit,
    )
    return Page[Event](**page(rows, limit))


@router.get(
    "/stream",
    summary="Live stream of new events (SSE; id = event id; Last-Event-ID replays newer events)",
    response_class=EventSourceResponse,
    responses=streams.SSE_RESPONSES,
)
async def stream_events(
    _: Viewer,
    pool: PoolDep,
    hub: HubDep,
    settings: SettingsDep,
    trigger_ref: RefFilter = None,
    last_event_id: Annotated[str | None, Header(description="resume after this event id")] = None,
) -> EventSourceResponse:
    matches = streams.ref_matcher(trigger_ref)
    after = streams.last_event_id(last_event_id)

    def accepts(data: dict[str, Any]) -> bool:
        return matches(data.get("trigger_ref"))

    async def prelude() -> AsyncIterator[Item]:
        if after is None:
            return
        rows = await EventRepository(pool).list(
            trigger_ref=trigger_ref, after_id=after, limit=streams.REPLAY_PAGE
        )
        for item in streams.replayed(rows, _event_item, "events"):
            yield item

    return await streams.response(settings, hub, EVENTS, accepts, prelude)


def _event_item(row: Event) -> Item:
    data = {"event_id": row.id, "created": row.created.isoformat(), "trigger_ref": row.trigger_ref}
    return Item("event", row.id, data)


@router.get(
    "/{id}", summary="Get an event and its enforcements", responses={404: {"description": "no such event"}}
)
async def get_event(_: Viewer, pool: PoolDep, id: IdPath) -> EventDetail:
    event = await EventRepository(pool).get(id)
    if event is None:
        raise not_found(f"event {id}")
    enforcements = await EnforcementRepository(pool).for_events([event.id])
    return EventDetail(**event.model_dump(), enforcements=enforcements)
