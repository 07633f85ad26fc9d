"""Sensors: list and get (with the status of a pack sensor's process), enable, disable, create,
update, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from attune_api.audit import audited
from attune_api.deps import Admin, Operator, PoolDep, Viewer
from attune_api.routes import _catalog as catalog
from attune_api.schemas import (
    API_PREFIX,
    COMPONENT_REF,
    CatalogQuery,
    Page,
    RefPath,
    page,
)
from attune_shared.models import Sensor, SensorProcess
from attune_shared.repos import SensorProcessRepository, SensorRepository
from attune_shared.types import Queryable

router = APIRouter(prefix=f"{API_PREFIX}/sensors", tags=["sensors"])
KIND = "sensor"


class SensorCreate(BaseModel):
    ref: str = Field(pattern=COMPONENT_REF, max_length=255)
    label: str = ""
    description: str = ""
    runner_type: str = "builtin"
    entry_point: str = ""
    trigger_types: list[str] = Field(default_factory=list)
    enabled: bool = True
    config: dict[str, Any] = Field(default_factory=dict)


class SensorView(Sensor):
    """A sensor and, for a pack sensor that was started, its process as the replica running it
    reports it: ``running``, ``backoff`` (crashed, waiting to start again), ``stopped``, with its
    restarts and the last lines it wrote to stderr before it stopped."""

    process: SensorProcess | None


async def _views(db: Queryable, sensors: list[Sensor]) -> list[SensorView]:
    processes = await SensorProcessRepository(db).of([s.ref for s in sensors])
    return [SensorView(**s.model_dump(), process=processes.get(s.ref)) for s in sensors]


class SensorUpdate(BaseModel):
    label: str | None = None
    description: str | None = None
    runner_type: str | None = None
    entry_point: str | None = None
    trigger_types: list[str] | None = None
    enabled: bool | None = None
    config: dict[str, Any] | None = None


@router.get("", summary="List sensors")
async def list_sensors(
    _: Viewer,
    pool: PoolDep,
    query: CatalogQuery,
) -> Page[SensorView]:
    rows = await SensorRepository(pool).list(**query.of())
    return Page[SensorView](**page(await _views(pool, rows), query.limit))


@router.get(
    "/{ref}", summary="Get a sensor and its process", responses={404: {"description": "no such sensor"}}
)
async def get_sensor(_: Viewer, pool: PoolDep, ref: RefPath) -> SensorView:
    [view] = await _views(pool, [await catalog.get_or_404(SensorRepository(pool), ref, KIND)])
    return view


@router.post(
    "/{ref}/enable",
    summary="Enable a sensor: a replica starts it within the reconcile interval (operator)",
    openapi_extra=audited("sensor.enable"),
)
async def enable_sensor(_: Operator, pool: PoolDep, ref: RefPath) -> SensorView:
    return await _set_enabled(pool, ref, True)


@router.post(
    "/{ref}/disable",
    summary="Disable a sensor: its process is stopped (operator)",
    openapi_extra=audited("sensor.disable"),
)
async def disable_sensor(_: Operator, pool: PoolDep, ref: RefPath) -> SensorView:
    return await _set_enabled(pool, ref, False)


async def _set_enabled(pool: Queryable, ref: str, enabled: bool) -> SensorView:
    repo = SensorRepository(pool)
    current = await catalog.get_or_404(repo, ref, KIND)
    sensor = (
        current if current.enabled == enabled else await catalog.update(repo, ref, {"enabled": enabled}, KIND)
    )
    [view] = await _views(pool, [sensor])
    return view


@router.post(
    "",
    status_code=201,
    summary="Create a sensor (ad hoc)",
    openapi_extra=audited("sensor.create", body=("ref",)),
)
async def create_sensor(_: Admin, pool: PoolDep, body: SensorCreate) -> Sensor:
    values = body.model_dump() | await catalog.owner(pool, body.ref) | {"is_adhoc": True}
    return await catalog.insert(SensorRepository(pool), values, KIND)


@router.patch("/{ref}", summary="Update a sensor", openapi_extra=audited("sensor.update"))
async def update_sensor(_: Admin, pool: PoolDep, ref: RefPath, body: SensorUpdate) -> Sensor:
    return await catalog.update(SensorRepository(pool), ref, body.model_dump(exclude_unset=True), KIND)


@router.delete("/{ref}", status_code=204, summary="Delete a sensor", openapi_extra=audited("sensor.delete"))
async def delete_sensor(_: Admin, pool: PoolDep, ref: RefPath) -> None:
    await catalog.delete(SensorRepository(pool), ref, KIND)
