"""The context criteria keys and templates are resolved against.

``trigger`` is the event payload (the StackStorm name), ``event`` the event with its payload,
``rule`` the rule, ``pack`` the rule's pack with its config. Values are JSON-like: ``created`` is
an ISO 8601 string, so a whole-string ``{{ event.created }}`` stays JSON-serializable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from attune_shared.models.event import Event


class RuleLike(Protocol):
    """What the context shows of a rule: a :class:`~attune_shared.models.rule.Rule` row or a
    :class:`~attune_shared.rules.definition.RuleDefinition`."""

    @property
    def ref(self) -> str: ...
    @property
    def pack_ref(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def trigger_ref(self) -> str: ...
    @property
    def action_ref(self) -> str: ...


def build_context(
    payload: Any,
    *,
    event: Mapping[str, Any] | None = None,
    rule: RuleLike | None = None,
    pack_config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The context for ``payload``; ``event`` adds event fields (id, created, trigger_ref, …)."""
    return {
        "trigger": payload,
        "event": {**(event or {}), "payload": payload},
        "rule": rule_fields(rule) if rule is not None else {},
        "pack": {"ref": rule.pack_ref if rule is not None else None, "config": dict(pack_config or {})},
    }


def event_context(
    event: Event, rule: RuleLike, pack_config: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The context for a stored event matched against ``rule`` (what the executor uses)."""
    return build_context(event.payload, event=event_fields(event), rule=rule, pack_config=pack_config)


def event_fields(event: Event) -> dict[str, Any]:
    """The fields of an event row templates may read, besides ``payload``."""
    return {
        "id": event.id,
        "created": event.created.isoformat(),
        "trigger": event.trigger,
        "trigger_ref": event.trigger_ref,
        "source_ref": event.source_ref,
        "trace_tag": event.trace_tag,
        "dedup_id": event.dedup_id,
    }


def rule_fields(rule: RuleLike) -> dict[str, Any]:
    """The fields of a rule templates may read (``{{ rule.ref }}``), plus ``id`` for stored rules."""
    fields: dict[str, Any] = {
        "ref": rule.ref,
        "pack_ref": rule.pack_ref,
        "label": rule.label,
        "description": rule.description,
        "trigger_ref": rule.trigger_ref,
        "action_ref": rule.action_ref,
    }
    rule_id = getattr(rule, "id", None)
    if rule_id is not None:
        fields["id"] = rule_id
    return fields
