"""Enforcements (a rule matched an event): list, get with event and executions, live stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header
from pydantic import BaseModel
from sse_starlette import EventSourceResponse

from attune_api import streams
from attune_api.deps import HubDep, PoolDep, SettingsDep, Viewer
from attune_api.problems import not_found
from attune_api.schemas import (
    API_PREFIX,
    BeforeId,
    IdFilter,
    IdPath,
    Limit,
    Page,
    RefFilter,
    RefLink,
    Since,
    Until,
    page,
    utc,
)
from attune_api.sse import ENFORCEMENTS, Item
from attune_shared.joins import events_of
from attune_shared.models import Enforcement, Event, Execution
from attune_shared.repos import EnforcementRepository, ExecutionRepository, RuleRepository
from attune_shared.statuses import EnforcementStatus

router = APIRouter(prefix=f"{API_PREFIX}/enforcements", tags=["enforcements"])


class EnforcementLinks(BaseModel):
    """What the enforcement points to; null for a dangling reference (the row is gone)."""

    event: Event | None
    rule: RefLink | None


class EnforcementDetail(Enforcement):
    """An enforcement with its event and rule, and the executions it created.
    ``resolved_at`` is null while the enforcement is pending (status ``created``)."""

    links: EnforcementLinks
    executions: list[Execution]


@router.get("", summary="List enforcements, newest first")
async def list_enforcements(
    _: Viewer,
    pool: PoolDep,
    rule_ref: RefFilter = None,
    trigger_ref: RefFilter = None,
    event: IdFilter = None,
    status: EnforcementStatus | None = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
    before_id: BeforeId = None,
) -> Page[Enforcement]:
    rows = await EnforcementRepository(pool).list(
        rule_ref=rule_ref,
        trigger_ref=trigger_ref,
        event=event,
        status=status,
        since=utc(since),
        until=utc(until),
        before_id=before_id,
        limit=limit,
    )
    return Page[Enforcement](**page(rows, limit))


@router.get(
    "/stream",
    summary="Live stream of new enforcements (SSE; id = enforcement id)",
    response_class=EventSourceResponse,
    responses=streams.SSE_RESPONSES,
)
async def stream_enforcements(
    _: Viewer,
    pool: PoolDep,
    hub: HubDep,
    settings: SettingsDep,
    rule_ref: RefFilter = None,
    last_event_id: Annotated[str | None, Header(description="resume after this enforcement id")] = None,
) -> EventSourceResponse:
    matches = streams.ref_matcher(rule_ref)
    after = streams.last_event_id(last_event_id)

    def accepts(data: dict[str, Any]) -> bool:
        return matches(data.get("rule_ref"))

    async def prelude() -> AsyncIterator[Item]:
        if after is None:
            return
        rows = await EnforcementRepository(pool).list(
            rule_ref=rule_ref, after_id=after, limit=streams.REPLAY_PAGE
        )
        for item in streams.replayed(rows, _enforcement_item, "enforcements"):
            yield item

    return await streams.response(settings, hub, ENFORCEMENTS, accepts, prelude)


def _enforcement_item(row: Enforcement) -> Item:
    data = {"enforcement_id": row.id, "created": row.created.isoformat(), "rule_ref": row.rule_ref}
    return Item("enforcement", row.id, data)


@router.get(
    "/{id}",
    summary="Get an enforcement with its event and executions",
    responses={404: {"description": "no such enforcement"}},
)
async def get_enforcement(_: Viewer, pool: PoolDep, id: IdPath) -> EnforcementDetail:
    enforcement = await EnforcementRepository(pool).get(id)
    if enforcement is None:
        raise not_found(f"enforcement {id}")
    events = await events_of(pool, [enforcement])
    rules = await RuleRepository(pool).get_many([enforcement.rule] if enforcement.rule is not None else [])
    rule = rules.get(enforcement.rule) if enforcement.rule is not None else None
    executions = await ExecutionRepository(pool).list(enforcement=enforcement.id)
    links = EnforcementLinks(
        event=events[enforcement.id], rule=None if rule is None else RefLink(id=rule.id, ref=rule.ref)
    )
    return EnforcementDetail(**enforcement.model_dump(), links=links, executions=list(reversed(executions)))
