"""Rules: list, get, create, update, delete, enable, disable. Every change is announced on ``rule.changed``."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from attune_api.audit import SIDE_EFFECT_FREE, audited
from attune_api.deps import Admin, BoxDep, BusDep, Operator, PoolDep, Viewer
from attune_api.problems import ProblemError
from attune_api.routes import _catalog as catalog
from attune_api.schemas import (
    API_PREFIX,
    COMPONENT_REF,
    CatalogQuery,
    Page,
    RefPath,
    page,
)
from attune_shared.constants import SYSTEM_USER
from attune_shared.datastore import Datastore
from attune_shared.errors import DefinitionError
from attune_shared.models import Rule
from attune_shared.models.rule import Condition
from attune_shared.packs.config import open_config
from attune_shared.readiness import cannot_fire
from attune_shared.repos import ActionRepository, PackRepository, RuleRepository, TriggerRepository
from attune_shared.rules import RuleDefinition, try_rule
from attune_shared.types import Queryable

router = APIRouter(prefix=f"{API_PREFIX}/rules", tags=["rules"])
KIND = "rule"


class RuleCreate(BaseModel):
    ref: str = Field(pattern=COMPONENT_REF, max_length=255)
    label: str = ""
    description: str = ""
    trigger_ref: str = Field(max_length=255)
    trigger_params: dict[str, Any] = Field(default_factory=dict)
    criteria: dict[str, Any] = Field(
        default_factory=dict, description="StackStorm criteria: `{key: {type, pattern}}`"
    )
    condition: Condition = "all"
    action_ref: str = Field(max_length=255)
    action_params: dict[str, Any] = Field(default_factory=dict, description="Jinja-templated parameters")
    enabled: bool = True


class RuleView(Rule):
    """A rule with the reasons it cannot fire (empty when it can): a trigger or action not
    installed (a pack registers rules naming other packs' components before those are installed),
    disabled, or whose runner does not run here."""

    cannot_fire: list[str]


async def _views(db: Queryable, rules: list[Rule]) -> list[RuleView]:
    reasons = await cannot_fire(db, rules)
    return [RuleView(**r.model_dump(), cannot_fire=reasons[r.ref]) for r in rules]


class RuleUpdate(BaseModel):
    label: str | None = None
    description: str | None = None
    trigger_ref: str | None = Field(default=None, max_length=255)
    trigger_params: dict[str, Any] | None = None
    criteria: dict[str, Any] | None = None
    condition: Condition | None = None
    action_ref: str | None = Field(default=None, max_length=255)
    action_params: dict[str, Any] | None = None
    enabled: bool | None = None


class RuleTry(BaseModel):
    payload: dict[str, Any] = Field(description="a trigger payload", examples=[{"severity": "critical"}])


class CriterionOut(BaseModel):
    key: str
    operator: str
    pattern: Any
    value: Any
    found: bool
    outcome: Literal["matched", "failed", "error", "skipped"]
    matched: bool
    reason: str | None


class RuleTrialOut(BaseModel):
    """What the rule would do with an event carrying the payload (as `attune rule test --json`)."""

    rule: str
    trigger_ref: str
    action_ref: str
    enabled: bool
    matched: bool = Field(description="enabled, criteria matched and parameters rendered and valid")
    criteria_matched: bool
    reason: str | None = Field(description="why it does not match, when it does not")
    condition: str
    criteria: list[CriterionOut]
    action_params: dict[str, Any] | None = Field(description="rendered and validated; secrets masked")
    parameters_error: dict[str, Any] | None
    parameters_validated: bool


async def _checked(db: Queryable, fields: dict[str, Any]) -> dict[str, Any]:
    """Validate a rule (criteria, templates, refs) and resolve its trigger and action ids."""
    try:
        rule = RuleDefinition.parse(fields)
    except DefinitionError as exc:
        first = f"{exc.errors[0][0]}: {exc.errors[0][1]}"
        raise ProblemError(422, f"invalid rule: {first}", errors=exc.errors) from None
    trigger = await TriggerRepository(db).get_by_ref(rule.trigger_ref)
    catalog.require_exists(trigger, "trigger_ref", "trigger", rule.trigger_ref)
    action = await ActionRepository(db).get_by_ref(rule.action_ref)
    catalog.require_exists(action, "action_ref", "action", rule.action_ref)
    assert trigger is not None and action is not None
    values = rule.model_dump(exclude={"pack_ref"})
    return values | {"trigger": trigger.id, "action": action.id}


@router.get("", summary="List rules")
async def list_rules(
    _: Viewer,
    pool: PoolDep,
    query: CatalogQuery,
) -> Page[RuleView]:
    rows = await RuleRepository(pool).list(**query.of())
    return Page[RuleView](**page(await _views(pool, rows), query.limit))


@router.get("/{ref}", summary="Get a rule", responses={404: {"description": "no such rule"}})
async def get_rule(_: Viewer, pool: PoolDep, ref: RefPath) -> RuleView:
    [view] = await _views(pool, [await catalog.get_or_404(RuleRepository(pool), ref, KIND)])
    return view


@router.post(
    "",
    status_code=201,
    summary="Create a rule (ad hoc); criteria and templates are checked, trigger and action must exist",
    openapi_extra=audited("rule.create", body=("ref",)),
)
async def create_rule(_: Admin, pool: PoolDep, bus: BusDep, body: RuleCreate) -> Rule:
    fields = body.model_dump()
    fields["label"] = fields["label"] or None
    values = await _checked(pool, fields)
    values |= await catalog.owner(pool, body.ref) | {"is_adhoc": True}
    rule = await catalog.insert(RuleRepository(pool), values, KIND)
    await catalog.announce_rule(bus, rule, "created")
    return rule


@router.patch("/{ref}", summary="Update a rule", openapi_extra=audited("rule.update"))
async def update_rule(_: Admin, pool: PoolDep, bus: BusDep, ref: RefPath, body: RuleUpdate) -> Rule:
    repo = RuleRepository(pool)
    current = await catalog.get_or_404(repo, ref, KIND)
    changes = body.model_dump(exclude_unset=True)
    merged = (
        current.model_dump(
            include={
                "ref",
                "label",
                "description",
                "trigger_ref",
                "trigger_params",
                "criteria",
                "condition",
                "action_ref",
                "action_params",
                "enabled",
            }
        )
        | changes
    )
    values = await _checked(pool, merged)
    rule = await catalog.update(repo, ref, {k: v for k, v in values.items() if k != "ref"}, KIND)
    await catalog.announce_rule(bus, rule, "updated")
    return rule


@router.delete("/{ref}", status_code=204, summary="Delete a rule", openapi_extra=audited("rule.delete"))
async def delete_rule(_: Admin, pool: PoolDep, bus: BusDep, ref: RefPath) -> None:
    repo = RuleRepository(pool)
    rule = await catalog.get_or_404(repo, ref, KIND)
    await catalog.delete(repo, ref, KIND)
    await catalog.announce_rule(bus, rule, "deleted")


async def _set_enabled(pool: Queryable, bus: BusDep, ref: str, enabled: bool) -> Rule:
    repo = RuleRepository(pool)
    current = await catalog.get_or_404(repo, ref, KIND)
    if current.enabled == enabled:
        return current
    rule = await catalog.update(repo, ref, {"enabled": enabled}, KIND)
    await catalog.announce_rule(bus, rule, "enabled" if enabled else "disabled")
    return rule


@router.post("/{ref}/enable", summary="Enable a rule (operator)", openapi_extra=audited("rule.enable"))
async def enable_rule(_: Operator, pool: PoolDep, bus: BusDep, ref: RefPath) -> Rule:
    return await _set_enabled(pool, bus, ref, True)


@router.post("/{ref}/disable", summary="Disable a rule (operator)", openapi_extra=audited("rule.disable"))
async def disable_rule(_: Operator, pool: PoolDep, bus: BusDep, ref: RefPath) -> Rule:
    return await _set_enabled(pool, bus, ref, False)


@router.post(
    "/{ref}/test",
    summary="Try a rule on a payload: each criterion, the verdict, the rendered parameters (nothing is stored)",
    responses={404: {"description": "no such rule"}},
    openapi_extra=SIDE_EFFECT_FREE,
)
async def try_rule_on_payload(
    _: Viewer, pool: PoolDep, box: BoxDep, ref: RefPath, body: RuleTry
) -> RuleTrialOut:
    rule = await catalog.get_or_404(RuleRepository(pool), ref, KIND)
    action = await ActionRepository(pool).get_by_ref(rule.action_ref)
    pack = await PackRepository(pool).get_by_ref(rule.pack_ref)
    schema = action.parameters_schema if action else None
    # the datastore as the executor sees it when it evaluates rules
    keys = await Datastore(pool, box).template_context(
        [rule.action_params, rule.criteria, schema or {}], user=SYSTEM_USER
    )
    trial = try_rule(
        rule, body.payload, pack_config=open_config(pack, box), parameters_schema=schema, keys=keys
    )
    return RuleTrialOut(**trial.to_dict())
