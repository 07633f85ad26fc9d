"""Triggers: list, get, create, update, delete; webhook settings and secret."""

from __future__ import annotations

import ipaddress
import secrets
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator

from attune_api.audit import audited
from attune_api.deps import Admin, BoxDep, PoolDep, Viewer
from attune_api.routes import _catalog as catalog
from attune_api.schemas import (
    API_PREFIX,
    COMPONENT_REF,
    CatalogQuery,
    Page,
    RefPath,
    page,
)
from attune_shared.models import Trigger
from attune_shared.repos import TriggerRepository
from attune_shared.secrets import SecretBox

router = APIRouter(prefix=f"{API_PREFIX}/triggers", tags=["triggers"])
KIND = "trigger"


class TriggerOut(BaseModel):
    """A trigger; the webhook secret itself is never returned, only whether one is set."""

    id: int
    ref: str
    pack: int | None
    pack_ref: str
    label: str
    description: str
    enabled: bool
    parameters_schema: dict[str, Any]
    payload_schema: dict[str, Any]
    webhook_enabled: bool
    webhook_secret_set: bool
    webhook_rate_limit: int | None
    webhook_rate_window: int
    webhook_allowed_ips: list[str] | None
    is_adhoc: bool
    created: datetime
    updated: datetime

    @classmethod
    def of(cls, row: Trigger) -> TriggerOut:
        return cls(
            **row.model_dump(exclude={"webhook_secret"}), webhook_secret_set=row.webhook_secret is not None
        )


class TriggerCreate(BaseModel):
    ref: str = Field(pattern=COMPONENT_REF, max_length=255)
    label: str = ""
    description: str = ""
    enabled: bool = True
    parameters_schema: dict[str, Any] = Field(default_factory=dict)
    payload_schema: dict[str, Any] = Field(default_factory=dict)
    webhook_enabled: bool = False
    webhook_secret: str | None = Field(
        default=None,
        min_length=8,
        max_length=1024,
        description="HMAC-SHA256 secret for webhooks (write-only)",
    )
    webhook_rate_limit: int | None = Field(
        default=None, ge=1, le=1_000_000, description="deliveries accepted per window; null: no limit"
    )
    webhook_rate_window: int = Field(default=60, ge=1, le=86_400, description="the rate window, in seconds")
    webhook_allowed_ips: list[str] | None = Field(
        default=None, max_length=256, description="addresses or CIDR networks allowed to deliver; null: any"
    )

    @field_validator("webhook_allowed_ips")
    @classmethod
    def _networks(cls, value: list[str] | None) -> list[str] | None:
        return allowed_networks(value)


class TriggerUpdate(BaseModel):
    label: str | None = None
    description: str | None = None
    enabled: bool | None = None
    parameters_schema: dict[str, Any] | None = None
    payload_schema: dict[str, Any] | None = None
    webhook_enabled: bool | None = None
    webhook_secret: str | None = Field(
        default=None, min_length=8, max_length=1024, description="set a new secret; null removes it"
    )
    webhook_rate_limit: int | None = Field(
        default=None, ge=1, le=1_000_000, description="deliveries accepted per window; null: no limit"
    )
    webhook_rate_window: int | None = Field(
        default=None, ge=1, le=86_400, description="the rate window, in seconds"
    )
    webhook_allowed_ips: list[str] | None = Field(
        default=None, max_length=256, description="addresses or CIDR networks allowed to deliver; null: any"
    )

    @field_validator("webhook_allowed_ips")
    @classmethod
    def _networks(cls, value: list[str] | None) -> list[str] | None:
        return allowed_networks(value)


def allowed_networks(value: list[str] | None) -> list[str] | None:
    """The allow-list written the way PostgreSQL and :mod:`ipaddress` agree on (``10.0.0.0/8``)."""
    if value is None:
        return None
    networks = []
    for entry in value:
        try:
            networks.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR network") from None
    return networks


class WebhookSecret(BaseModel):
    trigger_ref: str
    webhook_secret: str = Field(description="the new secret: shown this once")


def _values(body: BaseModel, box: SecretBox, *, exclude_unset: bool) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=exclude_unset)
    if "webhook_rate_window" in values and values["webhook_rate_window"] is None:
        del values["webhook_rate_window"]  # the window always has a length
    for field in ("parameters_schema", "payload_schema"):
        if values.get(field) is not None:
            catalog.check_schema(field, values[field])
    if values.get("webhook_secret") is not None:
        values["webhook_secret"] = box.encrypt(values["webhook_secret"])
    return values


@router.get("", summary="List triggers")
async def list_triggers(
    _: Viewer,
    pool: PoolDep,
    query: CatalogQuery,
) -> Page[TriggerOut]:
    rows = await TriggerRepository(pool).list(**query.of())
    return Page[TriggerOut](data=[TriggerOut.of(r) for r in rows], next=page(rows, query.limit)["next"])


@router.get("/{ref}", summary="Get a trigger", responses={404: {"description": "no such trigger"}})
async def get_trigger(_: Viewer, pool: PoolDep, ref: RefPath) -> TriggerOut:
    return TriggerOut.of(await catalog.get_or_404(TriggerRepository(pool), ref, KIND))


@router.post(
    "",
    status_code=201,
    summary="Create a trigger (ad hoc: pack registration never removes it)",
    openapi_extra=audited("trigger.create", body=("ref",)),
)
async def create_trigger(_: Admin, pool: PoolDep, box: BoxDep, body: TriggerCreate) -> TriggerOut:
    values = (
        _values(body, box, exclude_unset=False) | await catalog.owner(pool, body.ref) | {"is_adhoc": True}
    )
    return TriggerOut.of(await catalog.insert(TriggerRepository(pool), values, KIND))


@router.patch(
    "/{ref}", summary="Update a trigger (also its webhook settings)", openapi_extra=audited("trigger.update")
)
async def update_trigger(
    _: Admin, pool: PoolDep, box: BoxDep, ref: RefPath, body: TriggerUpdate
) -> TriggerOut:
    values = _values(body, box, exclude_unset=True)
    return TriggerOut.of(await catalog.update(TriggerRepository(pool), ref, values, KIND))


@router.delete("/{ref}", status_code=204, summary="Delete a trigger", openapi_extra=audited("trigger.delete"))
async def delete_trigger(_: Admin, pool: PoolDep, ref: RefPath) -> None:
    await catalog.delete(TriggerRepository(pool), ref, KIND)


@router.post(
    "/{ref}/webhook/secret",
    summary="Generate a new webhook secret (returned once) and enable the trigger's webhook",
    openapi_extra=audited("trigger.webhook_secret.rotate"),
)
async def rotate_webhook_secret(_: Admin, pool: PoolDep, box: BoxDep, ref: RefPath) -> WebhookSecret:
    secret = secrets.token_hex(32)
    await catalog.update(
        TriggerRepository(pool), ref, {"webhook_secret": box.encrypt(secret), "webhook_enabled": True}, KIND
    )
    return WebhookSecret(trigger_ref=ref, webhook_secret=secret)
