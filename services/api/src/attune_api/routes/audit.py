"""The audit log (admin): who did what, to which target, when, from where, and how it ended."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from attune_api.deps import Admin, PoolDep
from attune_api.schemas import API_PREFIX, BeforeId, Limit, Page, RefFilter, Since, Until, page, utc
from attune_shared.models import AuditRecord
from attune_shared.models.audit import Outcome
from attune_shared.repos import AuditRepository

router = APIRouter(prefix=f"{API_PREFIX}/audit", tags=["audit"])


@router.get("", summary="List audit records, newest first (admin)")
async def list_audit(
    _: Admin,
    pool: PoolDep,
    actor: Annotated[
        str | None, Query(max_length=255, description="the login, or `cli:<user>` for database commands")
    ] = None,
    action: RefFilter = None,
    target: Annotated[
        str | None, Query(max_length=4096, description="exact target, e.g. a rule's ref")
    ] = None,
    outcome: Outcome | None = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
    before_id: BeforeId = None,
) -> Page[AuditRecord]:
    rows = await AuditRepository(pool).list(
        actor=actor,
        action=action,
        target=target,
        outcome=outcome,
        since=utc(since),
        until=utc(until),
        before_id=before_id,
        limit=limit,
    )
    return Page[AuditRecord](**page(rows, limit))
