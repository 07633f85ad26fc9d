"""Whatever a rule file or a stored rule holds, loading fails only with DefinitionError and
evaluation never raises."""

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attune_shared.errors import DefinitionError
from attune_shared.rules import build_context, evaluate_criteria
from attune_shared.rules.definition import RuleDefinition
from attune_shared.rules.operators import operator_names

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
)
keys = st.sampled_from(
    ["trigger.a", "trigger.items[0]", "trigger.x#t", "event.id", "item.a", "nope", "trigger..", ""]
)
operators = st.sampled_from([*operator_names(), "EQ", "bogus"]) | scalars
patterns = json_values | st.sampled_from(["{{ trigger.a }}", "{{ oops", "[{{ trigger.a }}]", "(", "*"])
criterion = st.fixed_dictionaries(
    {},
    optional={
        "type": operators,
        "pattern": patterns,
        "condition": st.sampled_from(["any", "all", "any2any", "all2any", "x"]),
        "extra": scalars,
    },
)
search = st.fixed_dictionaries(
    {"type": st.just("search"), "condition": st.sampled_from(["any", "all2any", "x"])},
    optional={"pattern": st.dictionaries(keys, criterion, max_size=2)},
)
criteria = st.dictionaries(keys, criterion | search | scalars, max_size=4)
payloads = st.dictionaries(st.sampled_from(["a", "items", "x"]), json_values, max_size=3)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(criteria=criteria, payload=payloads, condition=st.sampled_from(["all", "any", "most"]))
def test_evaluation_never_raises(criteria: dict[str, Any], payload: dict[str, Any], condition: str) -> None:
    result = evaluate_criteria(criteria, build_context(payload), condition=condition)
    assert len(result.criteria) == len(criteria)
    if not criteria:
        assert result.matched


rule_fields = st.fixed_dictionaries(
    {},
    optional={
        "ref": scalars,
        "name": scalars,
        "pack": scalars,
        "trigger": scalars
        | st.dictionaries(st.sampled_from(["type", "parameters", "x"]), json_values, max_size=2),
        "action": scalars
        | st.dictionaries(st.sampled_from(["ref", "parameters", "x"]), json_values, max_size=2),
        "criteria": criteria | json_values,
        "condition": scalars,
        "action_params": json_values,
        "trigger_params": json_values,
        "enabled": scalars,
    },
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=rule_fields | json_values, pack_ref=st.none() | st.sampled_from(["examples", "Bad Pack"]))
def test_loading_fails_only_with_definition_errors(data: Any, pack_ref: str | None) -> None:
    try:
        rule = RuleDefinition.parse(data, pack_ref=pack_ref)
    except DefinitionError as exc:
        assert exc.errors and all(field and message for field, message in exc.errors)
    else:
        assert RuleDefinition.parse(rule.model_dump()) == rule
