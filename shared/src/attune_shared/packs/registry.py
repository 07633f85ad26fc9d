"""Registering a pack: check it whole, then write it in one transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from attune_shared.bus.messages import RuleChanged
from attune_shared.constants import PACKS_DIR
from attune_shared.models import Action, Pack, Trigger
from attune_shared.packs.components import DIRECTORIES, Kind
from attune_shared.packs.config import ConfigSealError, open_config, seal_config
from attune_shared.packs.loader import LoadedPack, load_pack
from attune_shared.packs.problems import InvalidPackError, PackProblem
from attune_shared.packs.references import catalog_of, database_catalog, reference_problems
from attune_shared.packs.report import RegistrationReport
from attune_shared.packs.schemas import instance_booleans, instance_errors, with_defaults
from attune_shared.repos import (
    ActionRepository,
    PackRepository,
    PolicyRepository,
    RuleRepository,
    SensorRepository,
    TriggerRepository,
)
from attune_shared.repos.catalog import PackComponentRepository
from attune_shared.secrets import SecretBox
from attune_shared.types import Queryable

#: The core pack shipped with Attune, registered by ``attune migrate`` and :func:`register_core_pack`.
CORE_PACK_DIR = PACKS_DIR / "core"

_REPOSITORIES: dict[Kind, type[PackComponentRepository[Any]]] = {
    "trigger": TriggerRepository,
    "action": ActionRepository,
    "sensor": SensorRepository,
    "rule": RuleRepository,
    "policy": PolicyRepository,
}
#: Removal order: what refers to others goes first.
_REMOVAL_ORDER: tuple[Kind, ...] = ("rule", "policy", "sensor", "action", "trigger")


@dataclass(frozen=True)
class Validation:
    """The outcome of :func:`validate_pack`."""

    path: str
    pack_ref: str | None
    problems: list[PackProblem]
    #: references to other packs' components that are not installed (or, offline, not checked):
    #: they register, and cannot fire until the other pack is installed
    unresolved: list[PackProblem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems


async def validate_pack(path: Path | str, db: Queryable | None = None) -> Validation:
    """Check a pack directory without writing anything.

    With ``db``, references to other packs are checked against the database exactly as
    :func:`register_pack` would. Without it, they are checked against the bundled core pack; other
    packs' refs are returned in ``unresolved``.
    """
    try:
        pack = load_pack(path)
    except InvalidPackError as exc:
        return Validation(exc.path, None, exc.problems)
    if db is not None:
        catalog = await database_catalog(db, pack)
    else:
        catalog = catalog_of(*([] if pack.path == CORE_PACK_DIR.resolve() else [load_pack(CORE_PACK_DIR)]))
    problems, unresolved = reference_problems(pack, catalog)
    return Validation(str(pack.path), pack.ref, problems, unresolved)


async def register_pack(
    db: asyncpg.Pool | asyncpg.Connection,
    path: Path | str,
    *,
    configs_dir: Path | None = None,
    source: str | None = None,
    strict: bool = False,
    box: SecretBox | None = None,
) -> RegistrationReport:
    """Register (or re-register) the pack in directory ``path``, in one transaction.

    Every file is checked before anything is written; a pack with any problem raises
    :class:`InvalidPackError` listing them all, and nothing changes. Components are upserted by ref;
    components of this pack no longer in the directory are removed, except those created through
    the API (``is_adhoc``). An unchanged pack changes no row. References to other packs'
    components that are not installed register (the report lists them as ``unresolved``), and rules
    of other packs waiting for this pack's triggers and actions are linked to them.

    A StackStorm pack's config comes from ``<configs_dir>/<ref>.yaml`` (see :func:`load_pack`);
    without that file, the config stored before is kept (checked against the new schema).
    ``source`` records where an installed pack came from. A config holding secret values is
    stored sealed with ``box`` (see :mod:`attune_shared.packs.config`): without it, such a pack is
    refused with :class:`~attune_shared.packs.config.ConfigSealError`.

    Workflow actions register their workflow definition; a workflow that fails inspection
    registers too (``workflow_problems`` lists its errors), unless ``strict``: then the pack is
    refused with them.

    The returned report's ``rule_changes`` are for the caller to publish once this has returned
    (the transaction is committed by then).
    """
    pack = load_pack(path, configs_dir=configs_dir)
    async with _connection(db) as conn, conn.transaction():
        await PackRepository(conn).lock_registration(pack.ref)
        problems, unresolved = reference_problems(pack, await database_catalog(conn, pack))
        values = await _pack_values(conn, pack, source, box)
        problems += [PackProblem("pack config", field, message) for field, message in values.pop("_problems")]
        if problems:
            raise InvalidPackError(str(pack.path), problems)
        report = await _write(conn, pack, values)
        report.unresolved = [str(p) for p in unresolved]
        if strict and report.workflow_problems:
            failing = [p for problems in report.workflow_problems.values() for p in problems]
            raise InvalidPackError(str(pack.path), failing)
        return report


async def _pack_values(
    conn: asyncpg.Connection, pack: LoadedPack, source: str | None, box: SecretBox | None
) -> dict[str, Any]:
    """The ``pack`` row to write: a config not given by the directory is the one stored, with the
    new schema's defaults (its problems under ``_problems``); secret values sealed."""
    values: dict[str, Any] = {**pack.values, "_problems": []}
    if source is not None:
        values["source"] = source
    schema = pack.values["config_schema"]
    stored = await PackRepository(conn).get_by_ref(pack.ref)
    before = None if stored is None else _stored_config(stored, box)
    if not pack.config_given and before:
        values["config"] = with_defaults(schema, before)
        values["_problems"] = [
            (where, message) for where, message in instance_errors(schema, values["config"])
        ]
    if stored is not None and stored.config_secrets is not None and before == values["config"]:
        values["config"], values["config_secrets"] = stored.config, stored.config_secrets  # unchanged
    else:
        values["config"], values["config_secrets"] = seal_config(
            values["config"], schema, box, pack_ref=pack.ref
        )
    return values


def _stored_config(stored: Pack, box: SecretBox | None) -> dict[str, Any]:
    if stored.config_secrets is not None and box is None:
        raise ConfigSealError(
            f"the config of pack {stored.ref} holds secrets: registering it needs the secret key"
        )
    return stored.config if box is None else open_config(stored, box)


async def register_core_pack(db: asyncpg.Pool | asyncpg.Connection) -> RegistrationReport:
    """Register the bundled core pack (a no-op when it is registered and unchanged).

    Services may call this on start; concurrent calls are serialized by the registration lock.
    The core pack has no rules, so there is nothing to publish.
    """
    return await register_pack(db, CORE_PACK_DIR)


@asynccontextmanager
async def _connection(db: asyncpg.Pool | asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            yield conn
    else:
        yield db


async def _write(conn: asyncpg.Connection, pack: LoadedPack, values: dict[str, Any]) -> RegistrationReport:
    report = RegistrationReport(pack_ref=pack.ref, path=str(pack.path))
    pack_row, outcome = await PackRepository(conn).upsert(values)
    report.pack.add(pack.ref, outcome)
    owner = {"pack": pack_row.id, "pack_ref": pack.ref}
    for kind in ("trigger", "action", "sensor"):
        for component in pack.of(kind):
            row, outcome = await _REPOSITORIES[kind](conn).upsert({**component.values, **owner})
            report.section(DIRECTORIES[kind]).add(component.ref, outcome)
            if kind != "sensor":
                await RuleRepository(conn).link(kind, row.ref, row.id)
    triggers = await TriggerRepository(conn).get_by_refs({r.values["trigger_ref"] for r in pack.of("rule")})
    actions = await ActionRepository(conn).get_by_refs(
        {c.values["action_ref"] for c in [*pack.of("rule"), *pack.of("policy")]}
    )
    for rule in pack.of("rule"):
        trigger, action = triggers.get(rule.values["trigger_ref"]), actions.get(rule.values["action_ref"])
        values = {
            **rule.values,
            **owner,
            "trigger": _id(triggers, rule.values["trigger_ref"]),
            "action": _id(actions, rule.values["action_ref"]),
            "trigger_params": _booleans(trigger, rule.values["trigger_params"]),
            "action_params": _booleans(action, rule.values["action_params"]),
        }
        row, outcome = await RuleRepository(conn).upsert(values)
        report.rules.add(rule.ref, outcome)
        if outcome != "unchanged":
            report.rule_changes.append(
                RuleChanged(rule_ref=row.ref, trigger_ref=row.trigger_ref, enabled=row.enabled, op=outcome)
            )
    for policy in pack.of("policy"):
        values = {**policy.values, **owner, "action": _id(actions, policy.values["action_ref"])}
        _, outcome = await PolicyRepository(conn).upsert(values)
        report.policies.add(policy.ref, outcome)
    await _remove_missing(conn, pack, report)
    # imported here: the workflow language reads pack files (attune_shared.packs.yamlfile, refs)
    from attune_shared.workflows.registration import register_workflows

    workflows = await register_workflows(conn, pack_row, pack.path)
    for ref, change in workflows.outcomes:
        report.workflows.add(ref, change)
    for ref, checked in workflows.failing.items():
        report.workflow_problems[ref] = checked.problems()
    return report


def _booleans(target: Trigger | Action | None, params: dict[str, Any]) -> dict[str, Any]:
    """A rule's parameters with the YAML 1.1 booleans its trigger's or action's schema types as
    booleans made booleans (see :func:`attune_shared.packs.schemas.schema_booleans`)."""
    if target is None:
        return params
    coerced: dict[str, Any] = instance_booleans(target.parameters_schema, params)
    return coerced


def _id(rows: Mapping[str, Trigger | Action], ref: str) -> int | None:
    # checked before writing; None only if another pack's registration removed it since (as SET NULL would)
    row = rows.get(ref)
    return None if row is None else row.id


async def _remove_missing(conn: asyncpg.Connection, pack: LoadedPack, report: RegistrationReport) -> None:
    for kind in _REMOVAL_ORDER:
        repository = _REPOSITORIES[kind](conn)
        present = {c.ref for c in pack.of(kind)}
        for row in await repository.owned_by_pack(pack.ref):
            if row.ref in present:
                continue
            await repository.delete_by_ref(row.ref)
            report.section(DIRECTORIES[kind]).add(row.ref, "removed")
            if kind == "rule":
                report.rule_changes.append(
                    RuleChanged(rule_ref=row.ref, trigger_ref=row.trigger_ref, enabled=False, op="deleted")
                )
