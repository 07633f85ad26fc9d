"""``rules/*.yaml``: the one place the loader turns a rule file into a rule row.

Two forms are accepted. Attune: ``ref``, ``trigger`` + ``trigger_params``, ``criteria``,
``condition``, ``action`` + ``action_params``. StackStorm: ``name`` (+ ``pack``),
``trigger: {type, parameters}``, ``criteria``, ``action: {ref, parameters}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from attune_shared.packs.format import JsonObject, PackFileModel
from attune_shared.packs.problems import dotted, from_validation_error
from attune_shared.packs.refs import qualify


@dataclass(frozen=True)
class RuleEntry:
    """A rule file read: its row values, refs qualified, and which field of the file each came from."""

    values: dict[str, Any]
    #: column -> field as written in the file (``trigger_ref`` -> ``trigger.type`` in StackStorm form)
    fields: dict[str, str] = field(default_factory=dict)


class Criterion(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    type: str
    pattern: Any = None


class AttuneRule(PackFileModel):
    ref: str
    label: str = ""
    description: str = ""
    trigger: str
    trigger_params: JsonObject = Field(default_factory=dict)
    criteria: dict[str, Criterion] = Field(default_factory=dict)
    condition: Literal["all", "any"] = "all"
    action: str
    action_params: JsonObject = Field(default_factory=dict)
    enabled: bool = True


class StackStormTrigger(PackFileModel):
    type: str
    parameters: JsonObject = Field(default_factory=dict)


class StackStormAction(PackFileModel):
    ref: str
    parameters: JsonObject = Field(default_factory=dict)


class StackStormRule(PackFileModel):
    name: str
    pack: str | None = None
    description: str = ""
    enabled: bool = True
    trigger: StackStormTrigger
    criteria: dict[str, Criterion] = Field(default_factory=dict)
    condition: Literal["all", "any"] = "all"
    action: StackStormAction


def parse_rule(data: Mapping[str, Any], pack_ref: str) -> RuleEntry | list[tuple[str, str]]:
    """The rule row of one rule file, or its problems as ``(field, message)`` pairs."""
    stackstorm = "name" in data or isinstance(data.get("trigger"), Mapping)
    model: type[AttuneRule | StackStormRule] = StackStormRule if stackstorm else AttuneRule
    try:
        rule = model.model_validate(data)
    except ValidationError as exc:
        return [(p.field, p.message) for p in from_validation_error("", exc, model)]
    criteria = {key: c.model_dump(exclude_unset=True) for key, c in rule.criteria.items()}
    common = {"description": rule.description, "criteria": criteria, "condition": rule.condition}
    if isinstance(rule, AttuneRule):
        return RuleEntry(
            {
                **common,
                "ref": qualify(rule.ref, pack_ref),
                "label": rule.label,
                "trigger_ref": qualify(rule.trigger, pack_ref),
                "trigger_params": rule.trigger_params,
                "action_ref": qualify(rule.action, pack_ref),
                "action_params": rule.action_params,
                "enabled": rule.enabled,
            },
            {
                "ref": "ref",
                "trigger_ref": "trigger",
                "trigger_params": "trigger_params",
                "action_ref": "action",
            },
        )
    if rule.pack is not None and rule.pack != pack_ref:
        return [("pack", f"{rule.pack!r} is not this pack {pack_ref!r}")]
    return RuleEntry(
        {
            **common,
            "ref": qualify(rule.name, pack_ref),
            "label": "",
            "trigger_ref": qualify(rule.trigger.type, pack_ref),
            "trigger_params": rule.trigger.parameters,
            "action_ref": qualify(rule.action.ref, pack_ref),
            "action_params": rule.action.parameters,
            "enabled": rule.enabled,
        },
        {
            "ref": "name",
            "trigger_ref": dotted(("trigger", "type")),
            "trigger_params": dotted(("trigger", "parameters")),
            "action_ref": dotted(("action", "ref")),
        },
    )
