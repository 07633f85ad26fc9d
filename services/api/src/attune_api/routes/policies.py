"""Execution policies (concurrency, rate limits): list, get, create, update, delete."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from attune_api.audit import audited
from attune_api.deps import Admin, PoolDep, Viewer
from attune_api.routes import _catalog as catalog
from attune_api.schemas import (
    API_PREFIX,
    COMPONENT_REF,
    MAX_INT,
    CatalogQuery,
    Page,
    RefPath,
    page,
)
from attune_shared.models import Policy
from attune_shared.models.policy import ConcurrencyMethod
from attune_shared.repos import ActionRepository, PolicyRepository

router = APIRouter(prefix=f"{API_PREFIX}/policies", tags=["policies"])
KIND = "policy"


class PolicyCreate(BaseModel):
    ref: str = Field(pattern=COMPONENT_REF, max_length=255)
    description: str = ""
    action_ref: str = Field(max_length=255)
    enabled: bool = True
    concurrency_limit: int | None = Field(default=None, ge=1, le=MAX_INT)
    concurrency_method: ConcurrencyMethod = "enqueue"
    concurrency_group_by: list[str] = Field(default_factory=list)
    rate_limit_max: int | None = Field(default=None, ge=1, le=MAX_INT)
    rate_limit_window_seconds: int | None = Field(default=None, ge=1, le=MAX_INT)


class PolicyUpdate(BaseModel):
    description: str | None = None
    enabled: bool | None = None
    concurrency_limit: int | None = Field(default=None, ge=1, le=MAX_INT)
    concurrency_method: ConcurrencyMethod | None = None
    concurrency_group_by: list[str] | None = None
    rate_limit_max: int | None = Field(default=None, ge=1, le=MAX_INT)
    rate_limit_window_seconds: int | None = Field(default=None, ge=1, le=MAX_INT)


@router.get("", summary="List policies")
async def list_policies(
    _: Viewer,
    pool: PoolDep,
    query: CatalogQuery,
) -> Page[Policy]:
    rows = await PolicyRepository(pool).list(**query.of())
    return Page[Policy](**page(rows, query.limit))


@router.get("/{ref}", summary="Get a policy", responses={404: {"description": "no such policy"}})
async def get_policy(_: Viewer, pool: PoolDep, ref: RefPath) -> Policy:
    return await catalog.get_or_404(PolicyRepository(pool), ref, KIND)


@router.post(
    "",
    status_code=201,
    summary="Create a policy (ad hoc); it needs a concurrency limit or a rate limit",
    openapi_extra=audited("policy.create", body=("ref",)),
)
async def create_policy(_: Admin, pool: PoolDep, body: PolicyCreate) -> Policy:
    action = await ActionRepository(pool).get_by_ref(body.action_ref)
    catalog.require_exists(action, "action_ref", "action", body.action_ref)
    assert action is not None
    values = body.model_dump() | await catalog.owner(pool, body.ref) | {"is_adhoc": True, "action": action.id}
    return await catalog.insert(PolicyRepository(pool), values, KIND)


@router.patch("/{ref}", summary="Update a policy", openapi_extra=audited("policy.update"))
async def update_policy(_: Admin, pool: PoolDep, ref: RefPath, body: PolicyUpdate) -> Policy:
    return await catalog.update(PolicyRepository(pool), ref, body.model_dump(exclude_unset=True), KIND)


@router.delete("/{ref}", status_code=204, summary="Delete a policy", openapi_extra=audited("policy.delete"))
async def delete_policy(_: Admin, pool: PoolDep, ref: RefPath) -> None:
    await catalog.delete(PolicyRepository(pool), ref, KIND)
