"""Packs: list, get, create (an empty ad-hoc pack), update, delete, and register a pack directory."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from attune_api.deps import Admin, BusDep, PoolDep, Viewer
from attune_api.problems import ProblemError
from attune_api.routes import _catalog as catalog
from attune_api.schemas import API_PREFIX, PACK_REF, SEMVER, BeforeId, Limit, Page, RefFilter, RefPath, page
from attune_shared.errors import RetryableError
from attune_shared.models import Pack
from attune_shared.packs import InvalidPackError, RegistrationReport, register_pack
from attune_shared.repos import PackRepository, RuleRepository

router = APIRouter(prefix=f"{API_PREFIX}/packs", tags=["packs"])
KIND = "pack"


class PackCreate(BaseModel):
    ref: str = Field(pattern=PACK_REF, max_length=255)
    label: str = ""
    description: str = ""
    version: str = Field(default="0.1.0", pattern=SEMVER, max_length=255)
    config_schema: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)


class PackUpdate(BaseModel):
    label: str | None = None
    description: str | None = None
    version: str | None = Field(default=None, pattern=SEMVER, max_length=255)
    config_schema: dict[str, Any] | None = None
    config: dict[str, Any] | None = None


class PackRegister(BaseModel):
    path: str = Field(min_length=1, max_length=4096, description="a pack directory on the API server")


@router.get("", summary="List packs")
async def list_packs(
    _: Viewer, pool: PoolDep, ref: RefFilter = None, limit: Limit = 100, before_id: BeforeId = None
) -> Page[Pack]:
    rows = await PackRepository(pool).list(ref=ref, limit=limit, before_id=before_id)
    return Page[Pack](**page(rows, limit))


@router.get("/{ref}", summary="Get a pack", responses={404: {"description": "no such pack"}})
async def get_pack(_: Viewer, pool: PoolDep, ref: RefPath) -> Pack:
    return await catalog.get_or_404(PackRepository(pool), ref, KIND)


@router.post("", status_code=201, summary="Create an empty pack (to hold components created through the API)")
async def create_pack(_: Admin, pool: PoolDep, body: PackCreate) -> Pack:
    catalog.check_schema("config_schema", body.config_schema)
    return await catalog.insert(PackRepository(pool), body.model_dump(), KIND)


@router.patch("/{ref}", summary="Update a pack's label, description, version or config")
async def update_pack(_: Admin, pool: PoolDep, ref: RefPath, body: PackUpdate) -> Pack:
    values = body.model_dump(exclude_unset=True)
    if "config_schema" in values:
        catalog.check_schema("config_schema", values["config_schema"])
    return await catalog.update(PackRepository(pool), ref, values, KIND)


@router.delete("/{ref}", status_code=204, summary="Delete a pack and every component in it")
async def delete_pack(_: Admin, pool: PoolDep, bus: BusDep, ref: RefPath) -> None:
    rules = await RuleRepository(pool).list(pack=ref)
    await catalog.delete(PackRepository(pool), ref, KIND)
    for rule in rules:
        await catalog.announce_rule(bus, rule, "deleted")


@router.post(
    "/register",
    summary="Register a pack directory on the server (create, update and remove its components)",
    responses={422: {"description": "the pack is invalid; `errors` lists every problem as file:field"}},
)
async def register(_: Admin, pool: PoolDep, bus: BusDep, body: PackRegister) -> RegistrationReport:
    if "\x00" in body.path:
        raise ProblemError(422, "path: must not contain NUL", errors=[("path", "must not contain NUL")])
    try:
        report = await register_pack(pool, body.path)
    except InvalidPackError as exc:
        errors = [(f"{p.file}:{p.field}", p.message) for p in exc.problems]
        first = f"{errors[0][0]}: {errors[0][1]}" if errors else "invalid"
        raise ProblemError(
            422,
            f"pack {exc.path} is invalid ({len(errors)} problem(s)); first: {first}",
            slug="invalid-pack",
            errors=errors,
        ) from None
    except OSError as exc:
        raise ProblemError(422, f"path: cannot read {body.path}: {exc.strerror or exc}") from None
    for change in report.rule_changes:
        try:
            await bus.rule_changed(change)
        except RetryableError as exc:  # committed already; services reconcile rules on start
            catalog.log.warning(
                "api.rule_change_not_published", extra={"rule_ref": change.rule_ref, "error": str(exc)}
            )
    return report
