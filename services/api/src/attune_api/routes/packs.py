"""Packs: list, get, create (an empty ad-hoc pack), update, delete, register a pack directory, and
install a pack (git URL, directory or archive). Secret config values are masked."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from attune_api.audit import audited
from attune_api.deps import Admin, BoxDep, BusDep, PoolDep, SettingsDep, Viewer
from attune_api.problems import ProblemError, invalid, not_found
from attune_api.routes import _catalog as catalog
from attune_api.schemas import API_PREFIX, PACK_REF, SEMVER, BeforeId, Limit, Page, RefFilter, RefPath, page
from attune_shared.bus import RuleChanged
from attune_shared.errors import RetryableError
from attune_shared.masking import mask_secrets
from attune_shared.models import Pack
from attune_shared.packs import (
    InstallError,
    InstallReport,
    InvalidPackError,
    RegistrationReport,
    install_pack,
    register_pack,
    remove_pack,
)
from attune_shared.packs.config import open_config, seal_config
from attune_shared.repos import PackRepository

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


#: Sources and paths are handed to the file system and git: no control characters (NUL included).
_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"


class PackInstall(BaseModel):
    source: str = Field(
        min_length=1,
        max_length=4096,
        pattern=_NO_CONTROL,
        description="a git URL (`URL@ref` for a branch, tag or commit), or a directory or .tar.gz on the API server",
    )
    force: bool = Field(
        default=False, description="install even if stackstorm_version or python_versions exclude it"
    )


def _shown(pack: Pack) -> Pack:
    return pack.model_copy(update={"config": mask_secrets(pack.config, pack.config_schema)})


class PackRegister(BaseModel):
    path: str = Field(
        min_length=1, max_length=4096, pattern=_NO_CONTROL, description="a pack directory on the API server"
    )


@router.get("", summary="List packs")
async def list_packs(
    _: Viewer, pool: PoolDep, ref: RefFilter = None, limit: Limit = 100, before_id: BeforeId = None
) -> Page[Pack]:
    rows = await PackRepository(pool).list(ref=ref, limit=limit, before_id=before_id)
    return Page[Pack](**page([_shown(p) for p in rows], limit))


@router.get("/{ref}", summary="Get a pack", responses={404: {"description": "no such pack"}})
async def get_pack(_: Viewer, pool: PoolDep, ref: RefPath) -> Pack:
    return _shown(await catalog.get_or_404(PackRepository(pool), ref, KIND))


@router.post(
    "",
    status_code=201,
    summary="Create an empty pack (to hold components created through the API)",
    openapi_extra=audited("pack.create", body=("ref",)),
)
async def create_pack(_: Admin, pool: PoolDep, box: BoxDep, body: PackCreate) -> Pack:
    catalog.check_schema("config_schema", body.config_schema)
    values = body.model_dump()
    values["config"], values["config_secrets"] = seal_config(
        body.config, body.config_schema, box, pack_ref=body.ref
    )
    return _shown(await catalog.insert(PackRepository(pool), values, KIND))


@router.patch(
    "/{ref}",
    summary="Update a pack's label, description, version or config",
    openapi_extra=audited("pack.update"),
)
async def update_pack(_: Admin, pool: PoolDep, box: BoxDep, ref: RefPath, body: PackUpdate) -> Pack:
    values = body.model_dump(exclude_unset=True)
    for field in ("config", "config_schema"):
        if field in values and values[field] is None:
            raise invalid(field, "null is not an object (send {} to empty it)")
    if "config_schema" in values:
        catalog.check_schema("config_schema", values["config_schema"])
    if "config" in values or "config_schema" in values:  # the secrets of the config to be, sealed
        current = await catalog.get_or_404(PackRepository(pool), ref, KIND)
        values["config"], values["config_secrets"] = seal_config(
            values.get("config", open_config(current, box)),
            values.get("config_schema", current.config_schema),
            box,
            pack_ref=ref,
        )
    return _shown(await catalog.update(PackRepository(pool), ref, values, KIND))


@router.delete(
    "/{ref}",
    status_code=204,
    summary="Delete a pack and every component in it (and its files, when it was installed)",
    openapi_extra=audited("pack.delete"),
)
async def delete_pack(_: Admin, pool: PoolDep, bus: BusDep, settings: SettingsDep, ref: RefPath) -> None:
    if await PackRepository(pool).get_by_ref(ref) is None:
        raise not_found(f"{KIND} {ref}")
    try:
        changes = await remove_pack(pool, ref, settings.packs)
    except InstallError as exc:
        raise ProblemError(409, str(exc)) from None
    await _publish(bus, changes)


@router.post(
    "/install",
    summary="Install a pack: fetch, build its virtual environment, check and register it (admin)",
    responses={
        422: {"description": "the pack is invalid; `errors` lists every problem as file:field"},
        409: {"description": "it cannot be fetched or built, or its requirements are not met"},
    },
    openapi_extra=audited("pack.install", body=("source", "force")),
)
async def install(
    _: Admin, pool: PoolDep, bus: BusDep, box: BoxDep, settings: SettingsDep, body: PackInstall
) -> InstallReport:
    try:
        report = await install_pack(pool, body.source, settings.packs, force=body.force, box=box)
    except InvalidPackError as exc:
        raise _invalid(exc) from None
    except InstallError as exc:
        raise ProblemError(409, f"cannot install {body.source}: {exc}", slug="install-failed") from None
    await _publish(bus, report.rule_changes)
    return report


@router.post(
    "/register",
    summary="Register a pack directory on the server (create, update and remove its components)",
    responses={422: {"description": "the pack is invalid; `errors` lists every problem as file:field"}},
    openapi_extra=audited("pack.register", body=("path",)),
)
async def register(
    _: Admin, pool: PoolDep, bus: BusDep, box: BoxDep, body: PackRegister
) -> RegistrationReport:
    if "\x00" in body.path:
        raise ProblemError(422, "path: must not contain NUL", errors=[("path", "must not contain NUL")])
    try:
        report = await register_pack(pool, body.path, box=box)
    except InvalidPackError as exc:
        raise _invalid(exc) from None
    except OSError as exc:
        raise ProblemError(422, f"path: cannot read {body.path}: {exc.strerror or exc}") from None
    await _publish(bus, report.rule_changes)
    return report


def _invalid(exc: InvalidPackError) -> ProblemError:
    errors = [(f"{p.file}:{p.field}", p.message) for p in exc.problems]
    first = f"{errors[0][0]}: {errors[0][1]}" if errors else "invalid"
    return ProblemError(
        422,
        f"pack {exc.path} is invalid ({len(errors)} problem(s)); first: {first}",
        slug="invalid-pack",
        errors=errors,
    )


async def _publish(bus: BusDep, changes: list[RuleChanged]) -> None:
    for change in changes:
        try:
            await bus.rule_changed(change)
        except RetryableError as exc:  # committed already; services reconcile rules on start
            catalog.log.warning(
                "api.rule_change_not_published", extra={"rule_ref": change.rule_ref, "error": str(exc)}
            )
