"""Dead letters: messages that will never be processed, and why, read from the DLQ stream."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from attune_api.deps import ServicesDep, Viewer
from attune_api.schemas import API_PREFIX, BeforeId, Limit
from attune_shared.bus import DeadLetter
from attune_shared.bus.deadletters import recent_dead_letters

router = APIRouter(prefix=f"{API_PREFIX}/deadletters", tags=["dead letters"])


class DeadLetterOut(DeadLetter):
    seq: int


class DeadLetterPage(BaseModel):
    data: list[DeadLetterOut]
    next: int | None


@router.get("", summary="Dead letters, newest first (`next` is a stream sequence, passed as `before_id`)")
async def list_dead_letters(
    _: Viewer,
    services: ServicesDep,
    reason: Annotated[str | None, Query(max_length=64, description="only this reason")] = None,
    limit: Limit = 100,
    before_id: BeforeId = None,
) -> DeadLetterPage:
    found = await recent_dead_letters(
        services.nc, services.spec, limit=limit, reason=reason, before_seq=before_id
    )
    rows = [DeadLetterOut(seq=seq, **letter.model_dump()) for seq, letter in found]
    return DeadLetterPage(data=rows, next=rows[-1].seq if len(rows) >= limit else None)
