"""Inquiries (StackStorm's ``core.ask``): list, get, respond. An inquiry's id is its execution's id.

``POST /inquiries/{id}/respond`` (and StackStorm's ``PUT /inquiries/{id}``) checks that the inquiry
is still pending (409), that the caller may answer it (403: its ``users`` / ``roles``; operators when
it names neither), and the response against the inquiry's schema (422 naming the field); then the
execution completes with the response and its workflow resumes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from attune_api.audit import audited
from attune_api.deps import BusDep, PoolDep, Viewer, WorkflowsDep
from attune_api.problems import ProblemError, not_found
from attune_api.schemas import API_PREFIX, BeforeId, IdPath, Limit, Page, page
from attune_shared import inquiries
from attune_shared.models import Inquiry
from attune_shared.repos import InquiryRepository
from attune_shared.statuses import InquiryStatus

router = APIRouter(prefix=f"{API_PREFIX}/inquiries", tags=["inquiries"])


class InquiryOut(BaseModel):
    id: int = Field(description="the inquiry's id: its execution's id")
    action_ref: str
    parent: int | None = Field(description="the workflow execution that asks, if any")
    route: str
    schema_: dict[str, Any] = Field(alias="schema", description="JSON Schema of the response")
    roles: list[str]
    users: list[str]
    ttl: int = Field(description="minutes to answer (0 or less: never times out)")
    status: InquiryStatus
    response: dict[str, Any] | None
    responded_by: str | None
    responded_at: datetime | None
    timeout_at: datetime | None
    created: datetime

    model_config = {"populate_by_name": True}


class Response(BaseModel):
    response: dict[str, Any] = Field(description="the answer, checked against the inquiry's schema")


class StackStormResponse(Response):
    id: int | None = None


def _out(row: Inquiry) -> InquiryOut:
    return InquiryOut(
        schema=row.response_schema,
        **row.model_dump(exclude={"response_schema", "updated", "execution_created"}),
    )


@router.get("", summary="List inquiries, newest first (the pending ones by default)")
async def list_inquiries(
    _: Viewer,
    pool: PoolDep,
    status: InquiryStatus | None = InquiryStatus.PENDING,
    parent: int | None = None,
    limit: Limit = 100,
    before_id: BeforeId = None,
) -> Page[InquiryOut]:
    rows = await InquiryRepository(pool).list(status=status, parent=parent, before_id=before_id, limit=limit)
    listed = page(rows, limit)
    return Page[InquiryOut](data=[_out(r) for r in rows], next=listed["next"])


@router.get("/{id}", summary="Get an inquiry", responses={404: {"description": "no such inquiry"}})
async def get_inquiry(_: Viewer, pool: PoolDep, id: IdPath) -> InquiryOut:
    row = await InquiryRepository(pool).get(id)
    if row is None:
        raise not_found(f"inquiry {id}")
    return _out(row)


_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "the caller may not answer this inquiry"},
    404: {"description": "no such inquiry"},
    409: {"description": "already answered, timed out or cancelled"},
    422: {"description": "the response does not satisfy the inquiry's schema"},
}


@router.post(
    "/{id}/respond",
    summary="Answer an inquiry",
    responses=_RESPONSES,
    openapi_extra=audited("inquiry.respond"),
)
async def respond(
    principal: Viewer, pool: PoolDep, bus: BusDep, workflows: WorkflowsDep, id: IdPath, body: Response
) -> InquiryOut:
    try:
        answered = await inquiries.respond(
            pool,
            bus,
            id,
            body.response,
            login=principal.login,
            role_allows=principal.allows,  # type: ignore[arg-type]
            child_changed=workflows.child_changed,
            resume=workflows.resume,
        )
    except inquiries.InquiryInvalid as exc:
        raise ProblemError(exc.status, str(exc), slug="invalid-response", errors=exc.errors) from None
    except inquiries.InquiryError as exc:
        raise ProblemError(exc.status, str(exc)) from None
    return _out(answered)


@router.put(
    "/{id}",
    summary="Answer an inquiry (StackStorm's form: {id, response})",
    responses=_RESPONSES,
    openapi_extra=audited("inquiry.respond"),
)
async def respond_stackstorm(
    principal: Viewer,
    pool: PoolDep,
    bus: BusDep,
    workflows: WorkflowsDep,
    id: IdPath,
    body: StackStormResponse,
) -> InquiryOut:
    return await respond(principal, pool, bus, workflows, id, body)
