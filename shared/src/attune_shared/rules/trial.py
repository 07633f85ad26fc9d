"""Trying a rule on a payload without storing anything: each criterion, the verdict and the
rendered (and validated) action parameters. ``attune rule test`` and ``POST /rules/{ref}/test``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from attune_shared.errors import DefinitionError, ParameterError, TemplateRenderError
from attune_shared.models.rule import Condition
from attune_shared.parameters import revealing_parameters, secret_parameters, validate_parameters
from attune_shared.rules.context import RuleLike, build_context
from attune_shared.rules.criteria import evaluate_criteria
from attune_shared.rules.results import MatchResult
from attune_shared.rules.templating import render_params
from attune_shared.secrets import MASK


class TriedRule(RuleLike, Protocol):
    """What a trial needs of a rule: a stored row or a definition from a file."""

    @property
    def criteria(self) -> dict[str, Any]: ...
    @property
    def condition(self) -> Condition: ...
    @property
    def action_params(self) -> dict[str, Any]: ...
    @property
    def enabled(self) -> bool: ...


@dataclass(frozen=True)
class RuleTrial:
    """The outcome: ``matched`` only when the rule is enabled, its criteria match and its
    parameters render (and validate, when the action's schema was given)."""

    rule: TriedRule
    criteria: MatchResult
    reason: str | None
    parameters: dict[str, Any] | None
    parameters_error: dict[str, Any] | None
    validated: bool

    @property
    def matched(self) -> bool:
        return self.criteria.matched and self.rule.enabled and self.parameters_error is None

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (``attune rule test --json`` and the API)."""
        return {
            "rule": self.rule.ref,
            "trigger_ref": self.rule.trigger_ref,
            "action_ref": self.rule.action_ref,
            "enabled": self.rule.enabled,
            "matched": self.matched,
            "criteria_matched": self.criteria.matched,
            "reason": self.reason,
            "condition": self.criteria.condition,
            "criteria": [c.to_dict() for c in self.criteria.criteria],
            "action_params": self.parameters,
            "parameters_error": self.parameters_error,
            "parameters_validated": self.validated and self.parameters is not None,
        }


def try_rule(
    rule: TriedRule,
    payload: Mapping[str, Any],
    *,
    pack_config: Mapping[str, Any] | None = None,
    parameters_schema: Mapping[str, Any] | None = None,
    keys: Mapping[str, Any] | None = None,
) -> RuleTrial:
    """Evaluate ``rule`` on ``payload`` as the executor would on an event carrying it.

    ``keys`` is the datastore's template context (``st2kv``), when there is one. With
    ``parameters_schema`` (the action's), its defaults are rendered and the parameters validated.
    Secret parameters, and those rendered from a secret, are masked.
    """
    event = {
        "id": None,
        "created": datetime.now(UTC).isoformat(),
        "trigger_ref": rule.trigger_ref,
        "trace_tag": None,
    }
    context = {
        **build_context(dict(payload), event=event, rule=rule, pack_config=pack_config),
        **(keys or {}),
    }
    result = evaluate_criteria(rule.criteria, context, condition=rule.condition)
    reason = result.reason
    if not rule.enabled:
        criteria = "its criteria match" if result.matched else reason
        reason = f"the rule is disabled (enabled: false); {criteria}"
    params: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    if result.matched:
        try:
            params = render_params(rule.action_params, context)
            secret = revealing_parameters(rule.action_params)
            if parameters_schema is not None:
                defaults = {**context, "config_context": dict(pack_config or {})}
                params = validate_parameters(params, parameters_schema, context=defaults)
                secret |= secret_parameters(parameters_schema)
            params |= dict.fromkeys(secret & params.keys(), MASK)
        except TemplateRenderError as exc:
            error = {"kind": "template", "field": exc.field, "message": exc.message}
        except ParameterError as exc:
            error = {"kind": "schema", "field": exc.field, "message": exc.message, "errors": exc.errors}
        except DefinitionError as exc:
            error = {"kind": "schema", "field": "parameters_schema", "message": "; ".join(exc.lines())}
    validated = parameters_schema is not None and error is None
    return RuleTrial(rule, result, reason, params, error, validated)
