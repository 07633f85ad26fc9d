"""References from a pack's rules, policies and sensors to triggers and actions, here or in other packs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from attune_shared.packs.components import Component
from attune_shared.packs.loader import LoadedPack
from attune_shared.packs.problems import ROOT, PackProblem
from attune_shared.packs.refs import pack_of
from attune_shared.packs.schemas import instance_booleans, instance_errors, schema_errors
from attune_shared.repos import ActionRepository, TriggerRepository
from attune_shared.types import Queryable


@dataclass(frozen=True)
class Catalog:
    """Triggers (ref -> parameters schema) and actions a pack may refer to besides its own.

    ``complete`` says whether a ref missing here does not exist at all (the database), or only
    is not known (offline validation).
    """

    triggers: dict[str, dict[str, Any]] = field(default_factory=dict)
    actions: frozenset[str] = frozenset()
    complete: bool = True


@dataclass(frozen=True)
class _Reference:
    component: Component
    column: str
    ref: str
    kind: str
    field: str


def _references(pack: LoadedPack) -> list[_Reference]:
    found = []
    for rule in pack.of("rule"):
        found.append(
            _Reference(
                rule, "trigger_ref", rule.values["trigger_ref"], "trigger", rule.field_of("trigger_ref")
            )
        )
        found.append(
            _Reference(rule, "action_ref", rule.values["action_ref"], "action", rule.field_of("action_ref"))
        )
    for policy in pack.of("policy"):
        found.append(_Reference(policy, "action_ref", policy.values["action_ref"], "action", "action"))
    for sensor in pack.of("sensor"):
        for i, ref in enumerate(sensor.values["trigger_types"]):
            found.append(_Reference(sensor, "trigger_types", ref, "trigger", f"trigger_types.{i}"))
    return found


def catalog_of(*packs: LoadedPack) -> Catalog:
    """What these (loaded, not registered) packs provide; refs elsewhere count as unknown."""
    return Catalog(
        triggers={t.ref: t.values["parameters_schema"] for p in packs for t in p.of("trigger")},
        actions=frozenset(a.ref for p in packs for a in p.of("action")),
        complete=False,
    )


async def database_catalog(db: Queryable, pack: LoadedPack) -> Catalog:
    """The registered triggers and actions ``pack`` refers to, minus those its registration would remove."""
    refs = _references(pack)
    triggers = await TriggerRepository(db).get_by_refs({r.ref for r in refs if r.kind == "trigger"})
    actions = await ActionRepository(db).get_by_refs({r.ref for r in refs if r.kind == "action"})

    def survives(pack_ref: str, is_adhoc: bool) -> bool:
        return pack_ref != pack.ref or is_adhoc

    return Catalog(
        triggers={
            ref: t.parameters_schema for ref, t in triggers.items() if survives(t.pack_ref, t.is_adhoc)
        },
        actions=frozenset(ref for ref, a in actions.items() if survives(a.pack_ref, a.is_adhoc)),
    )


def reference_problems(pack: LoadedPack, catalog: Catalog) -> tuple[list[PackProblem], list[PackProblem]]:
    """Problems with ``pack``'s references, and its references to other packs' components that do
    not exist (yet): those register, as StackStorm registers them, and cannot fire until the other
    pack is installed (offline, they are the refs that could not be checked).

    A rule's ``trigger_params`` are checked against its trigger's ``parameters_schema`` when the
    trigger is known.
    """
    triggers = {**catalog.triggers, **{t.ref: t.values["parameters_schema"] for t in pack.of("trigger")}}
    actions = catalog.actions | {a.ref for a in pack.of("action")}
    problems: list[PackProblem] = []
    unresolved: list[PackProblem] = []
    for reference in _references(pack):
        known = reference.ref in (triggers if reference.kind == "trigger" else actions)
        if not known and pack_of(reference.ref) == pack.ref:
            problems.append(
                PackProblem(
                    reference.component.file, reference.field, f"unknown {reference.kind} {reference.ref!r}"
                )
            )
        elif not known:
            what = "checked" if not catalog.complete else "installed"
            unresolved.append(
                PackProblem(
                    reference.component.file,
                    reference.field,
                    f"{reference.kind} {reference.ref} is not {what}",
                )
            )
        elif reference.column == "trigger_ref":
            problems += _trigger_params_problems(reference.component, triggers[reference.ref])
    return sorted(problems), sorted(set(unresolved))


def _trigger_params_problems(rule: Component, parameters_schema: dict[str, Any]) -> list[PackProblem]:
    if schema_errors(parameters_schema):
        return []  # a broken schema registered by other means is not this pack's problem
    base = rule.field_of("trigger_params")
    return [
        PackProblem(rule.file, base if where == ROOT else f"{base}.{where}", message)
        for where, message in instance_errors(
            parameters_schema, instance_booleans(parameters_schema, rule.values["trigger_params"])
        )
    ]
