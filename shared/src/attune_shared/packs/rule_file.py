"""``rules/*.yaml``: the one place the loader turns a rule file into a rule row.

Parsing, both forms (Attune and StackStorm) and criteria checks belong to
:class:`attune_shared.rules.RuleDefinition`; this adds where each reference came from in the
file, so a later problem (an unknown trigger) names the field the author wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from attune_shared.errors import DefinitionError
from attune_shared.rules import RuleDefinition


@dataclass(frozen=True)
class RuleEntry:
    """A rule file read: its row values, refs qualified, and which field of the file each came from."""

    values: dict[str, Any]
    #: column -> field as written in the file (``trigger_ref`` -> ``trigger.type`` in StackStorm form)
    fields: dict[str, str] = field(default_factory=dict)


def parse_rule(data: Mapping[str, Any], pack_ref: str) -> RuleEntry | list[tuple[str, str]]:
    """The rule row of one rule file, or its problems as ``(field, message)`` pairs."""
    try:
        rule = RuleDefinition.parse(data, pack_ref=pack_ref)
    except DefinitionError as exc:
        return exc.errors
    return RuleEntry(rule.model_dump(exclude={"pack_ref"}), _fields(data))


def _fields(data: Mapping[str, Any]) -> dict[str, str]:
    if "name" in data or isinstance(data.get("trigger"), Mapping):
        return {
            "ref": "name",
            "trigger_ref": "trigger.type",
            "trigger_params": "trigger.parameters",
            "action_ref": "action.ref",
        }
    return {
        "ref": "ref",
        "trigger_ref": "trigger_ref" if "trigger_ref" in data else "trigger",
        "action_ref": "action_ref" if "action_ref" in data else "action",
    }
