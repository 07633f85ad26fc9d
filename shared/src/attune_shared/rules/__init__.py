"""Rules: definitions (both YAML forms), criteria evaluation, action-parameter templating.

Pure code, no I/O besides :func:`load_rule_file`. The executor evaluates a stored rule with::

    context = event_context(event, rule, pack_config)
    result = evaluate_criteria(rule.criteria, context, condition=rule.condition)
    if result.matched:
        params = validate_parameters(render_params(rule.action_params, context), action.parameters_schema)
"""

from attune_shared.rules.context import build_context, event_context
from attune_shared.rules.criteria import evaluate_criteria, validate_criteria
from attune_shared.rules.definition import RuleDefinition, load_rule_file
from attune_shared.rules.results import CriterionResult, MatchResult
from attune_shared.rules.templating import render_params, render_value
from attune_shared.rules.trial import RuleTrial, try_rule

__all__ = [
    "CriterionResult",
    "MatchResult",
    "RuleDefinition",
    "RuleTrial",
    "build_context",
    "evaluate_criteria",
    "event_context",
    "load_rule_file",
    "render_params",
    "render_value",
    "try_rule",
    "validate_criteria",
]
