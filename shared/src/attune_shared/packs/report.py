"""What a registration did, per kind of row, and the rule changes to publish after the commit."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from attune_shared.bus.messages import RuleChanged
from attune_shared.packs.problems import PackProblem
from attune_shared.repos.base import UpsertOutcome

Outcome = UpsertOutcome | Literal["removed"]

#: Report sections, in the order they are registered and shown (components are named like their directories).
SECTIONS = ("pack", "triggers", "actions", "workflows", "sensors", "rules", "policies")


class Changes(BaseModel):
    """Refs by what registration did to their row."""

    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)

    def add(self, ref: str, outcome: Outcome) -> None:
        getattr(self, outcome).append(ref)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)


class RegistrationReport(BaseModel):
    """The outcome of :func:`attune_shared.packs.register_pack`.

    ``rule_changes`` are not published yet: the caller publishes them to ``<p>.rule.changed``
    after the registration's transaction has committed.
    """

    pack_ref: str
    path: str
    pack: Changes = Field(default_factory=Changes)
    triggers: Changes = Field(default_factory=Changes)
    actions: Changes = Field(default_factory=Changes)
    #: workflow definitions, by their action's ref
    workflows: Changes = Field(default_factory=Changes)
    sensors: Changes = Field(default_factory=Changes)
    rules: Changes = Field(default_factory=Changes)
    policies: Changes = Field(default_factory=Changes)
    rule_changes: list[RuleChanged] = Field(default_factory=list)
    #: references to other packs' components that are not installed, as ``file:field: why``: they
    #: are registered, and cannot fire until the other pack is installed
    unresolved: list[str] = Field(default_factory=list)
    #: workflows that registered but fail inspection (they fail when run): their errors by ref
    workflow_problems: dict[str, list[PackProblem]] = Field(default_factory=dict)

    def section(self, name: str) -> Changes:
        """The :class:`Changes` of one of :data:`SECTIONS`."""
        changes: Changes = getattr(self, name)
        return changes

    @property
    def changed(self) -> bool:
        """Whether any row was created, updated or removed."""
        return any(self.section(name).changed for name in SECTIONS)
