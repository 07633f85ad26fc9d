"""Subject names, derived once from the prefix (``attune`` by default)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Subjects:
    """Every subject of the bus contract for one prefix (design.md §3)."""

    prefix: str

    def trigger(self, trigger_ref: str) -> str:
        """``attune.trigger.demo.alert`` for trigger ``demo.alert``."""
        return f"{self.prefix}.trigger.{trigger_ref}"

    @property
    def triggers(self) -> str:
        return f"{self.prefix}.trigger.>"

    def trigger_ref_of(self, subject: str) -> str:
        """The trigger ref a trigger subject names (``attune.trigger.demo.alert`` -> ``demo.alert``)."""
        head = f"{self.prefix}.trigger."
        if not subject.startswith(head) or len(subject) == len(head):
            raise ValueError(f"{subject!r} is not a trigger subject of prefix {self.prefix!r}")
        return subject[len(head) :]

    @property
    def event_created(self) -> str:
        """Events a rule may match: the executor's wake-up."""
        return f"{self.prefix}.event.created"

    @property
    def event_unheard(self) -> str:
        """Events of a trigger no enabled rule uses, which need no wake-up (plain NATS; in no
        stream): for live followers only."""
        return f"{self.prefix}.event.unheard"

    @property
    def events(self) -> str:
        """Both event subjects: every event stored shows on one of them."""
        return f"{self.prefix}.event.*"

    @property
    def enforcement_created(self) -> str:
        return f"{self.prefix}.enforcement.created"

    @property
    def enforcement_processed(self) -> str:
        """Enforcements created already resolved, which need no wake-up (plain NATS; in no
        stream): for live followers only."""
        return f"{self.prefix}.enforcement.processed"

    @property
    def enforcements(self) -> str:
        """Both enforcement subjects: every enforcement created shows on one of them."""
        return f"{self.prefix}.enforcement.*"

    @property
    def execution_requested(self) -> str:
        return f"{self.prefix}.execution.requested"

    def execution_status(self, action_ref: str) -> str:
        return f"{self.prefix}.execution.status.{action_ref}"

    @property
    def execution_statuses(self) -> str:
        return f"{self.prefix}.execution.status.>"

    @property
    def execution_cancel(self) -> str:
        """Cancel requests for running executions (plain NATS; in no stream)."""
        return f"{self.prefix}.execution.cancel"

    @property
    def rule_changed(self) -> str:
        return f"{self.prefix}.rule.changed"

    def dlq(self, reason: str) -> str:
        return f"{self.prefix}.dlq.{reason}"

    @property
    def dead_letters(self) -> str:
        return f"{self.prefix}.dlq.>"
