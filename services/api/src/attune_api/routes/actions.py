"""Actions: list, get, create, update, delete."""

from __future__ import annotations

from typing import Any

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
from attune_shared.models import Action
from attune_shared.models.action import OutputFormat, RunnerType
from attune_shared.repos import ActionRepository

router = APIRouter(prefix=f"{API_PREFIX}/actions", tags=["actions"])
KIND = "action"


class ActionCreate(BaseModel):
    ref: str = Field(pattern=COMPONENT_REF, max_length=255)
    label: str = ""
    description: str = ""
    runner_type: RunnerType
    entry_point: str = ""
    parameters_schema: dict[str, Any] = Field(
        default_factory=dict, description="JSON Schema of the parameters"
    )
    output_format: OutputFormat = "text"
    timeout_seconds: int | None = Field(default=None, ge=1, le=MAX_INT)
    max_retries: int = Field(default=0, ge=0, le=100)
    enabled: bool = True


class ActionUpdate(BaseModel):
    label: str | None = None
    description: str | None = None
    runner_type: RunnerType | None = None
    entry_point: str | None = None
    parameters_schema: dict[str, Any] | None = None
    output_format: OutputFormat | None = None
    timeout_seconds: int | None = Field(default=None, ge=1, le=MAX_INT)
    max_retries: int | None = Field(default=None, ge=0, le=100)
    enabled: bool | None = None


@router.get("", summary="List actions")
async def list_actions(
    _: Viewer,
    pool: PoolDep,
    query: CatalogQuery,
) -> Page[Action]:
    rows = await ActionRepository(pool).list(**query.of())
    return Page[Action](**page(rows, query.limit))


@router.get("/{ref}", summary="Get an action", responses={404: {"description": "no such action"}})
async def get_action(_: Viewer, pool: PoolDep, ref: RefPath) -> Action:
    return await catalog.get_or_404(ActionRepository(pool), ref, KIND)


@router.post(
    "",
    status_code=201,
    summary="Create an action (ad hoc)",
    openapi_extra=audited("action.create", body=("ref",)),
)
async def create_action(_: Admin, pool: PoolDep, body: ActionCreate) -> Action:
    catalog.check_schema("parameters_schema", body.parameters_schema)
    values = body.model_dump() | await catalog.owner(pool, body.ref) | {"is_adhoc": True}
    return await catalog.insert(ActionRepository(pool), values, KIND)


@router.patch("/{ref}", summary="Update an action", openapi_extra=audited("action.update"))
async def update_action(_: Admin, pool: PoolDep, ref: RefPath, body: ActionUpdate) -> Action:
    values = body.model_dump(exclude_unset=True)
    if values.get("parameters_schema") is not None:
        catalog.check_schema("parameters_schema", values["parameters_schema"])
    return await catalog.update(ActionRepository(pool), ref, values, KIND)


@router.delete("/{ref}", status_code=204, summary="Delete an action", openapi_extra=audited("action.delete"))
async def delete_action(_: Admin, pool: PoolDep, ref: RefPath) -> None:
    await catalog.delete(ActionRepository(pool), ref, KIND)
