"""What criteria evaluation reports: every criterion with its value, pattern, outcome and reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

#: ``skipped``: not evaluated because the rule's condition was already decided.
Outcome = Literal["matched", "failed", "error", "skipped"]


@dataclass(frozen=True)
class CriterionResult:
    """One criterion as evaluated.

    ``pattern`` is the rendered pattern; ``value`` the resolved value (None when ``found`` is
    false); ``reason`` explains a ``failed``, ``error`` or ``skipped`` outcome.
    """

    key: str
    operator: str
    pattern: Any
    value: Any
    found: bool
    outcome: Outcome
    reason: str | None = None

    @property
    def matched(self) -> bool:
        return self.outcome == "matched"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for enforcement records and ``attune rule test --json``)."""
        return {
            "key": self.key,
            "operator": self.operator,
            "pattern": self.pattern,
            "value": self.value,
            "found": self.found,
            "outcome": self.outcome,
            "matched": self.matched,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class MatchResult:
    """The outcome of a rule's criteria: ``matched``, why not (``reason``), and each criterion."""

    matched: bool
    condition: str
    criteria: tuple[CriterionResult, ...]
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for enforcement records and ``attune rule test --json``)."""
        return {
            "matched": self.matched,
            "condition": self.condition,
            "reason": self.reason,
            "criteria": [c.to_dict() for c in self.criteria],
        }
