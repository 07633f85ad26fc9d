"""Criteria evaluation: conditions, empty payloads, templated patterns, search, validation."""

import json
from typing import Any

import pytest

from attune_shared.rules import build_context, evaluate_criteria, validate_criteria
from attune_shared.rules.definition import RuleDefinition

ITEMS = [{"n": 1, "s": "a"}, {"n": 2, "s": "b"}]
PAYLOAD: dict[str, Any] = {"severity": "critical", "host": "db1", "count": 5, "items": ITEMS, "want": 2}
CONTEXT = build_context(PAYLOAD)


def criterion(operator: str, pattern: Any = None, **extra: Any) -> dict[str, Any]:
    return {"type": operator, "pattern": pattern, **extra}


def outcomes(result: Any) -> list[str]:
    return [c.outcome for c in result.criteria]


def test_empty_criteria_always_match_even_an_empty_payload() -> None:
    for criteria in ({}, None):
        result = evaluate_criteria(criteria, build_context({}))
        assert result.matched
        assert result.criteria == ()


def test_non_empty_criteria_never_match_an_empty_payload() -> None:
    for payload in ({}, None):
        result = evaluate_criteria({"trigger.x": criterion("nexists")}, build_context(payload))
        assert not result.matched
        assert outcomes(result) == ["skipped"]
        assert result.reason is not None and "payload is empty" in result.reason


def test_condition_all_stops_at_the_first_failure() -> None:
    criteria = {
        "trigger.severity": criterion("equals", "critical"),
        "trigger.host": criterion("startswith", "web"),
        "trigger.count": criterion("gt", 3),
    }
    result = evaluate_criteria(criteria, CONTEXT)
    assert not result.matched
    assert outcomes(result) == ["matched", "failed", "skipped"]
    assert result.reason == 'trigger.host: "db1" does not start with "web"'


def test_condition_all_matches_when_every_criterion_does() -> None:
    criteria = {"trigger.severity": criterion("equals", "critical"), "trigger.count": criterion("gt", 3)}
    result = evaluate_criteria(criteria, CONTEXT, condition="all")
    assert result.matched and result.reason is None
    assert outcomes(result) == ["matched", "matched"]


def test_condition_any_stops_at_the_first_match() -> None:
    criteria = {
        "trigger.host": criterion("startswith", "web"),
        "trigger.count": criterion("gt", 3),
        "trigger.severity": criterion("equals", "low"),
    }
    result = evaluate_criteria(criteria, CONTEXT, condition="any")
    assert result.matched
    assert outcomes(result) == ["failed", "matched", "skipped"]


def test_condition_any_fails_when_nothing_matches_errors_included() -> None:
    criteria = {"trigger.host": criterion("startswith", "web"), "trigger.count": criterion("iequals", "5")}
    result = evaluate_criteria(criteria, CONTEXT, condition="any")
    assert not result.matched
    assert outcomes(result) == ["failed", "error"]
    assert result.reason == "no criterion matched (condition any)"


def test_an_unknown_condition_matches_nothing() -> None:
    result = evaluate_criteria({"trigger.host": criterion("exists")}, CONTEXT, condition="most")
    assert not result.matched
    assert outcomes(result) == ["skipped"]


@pytest.mark.parametrize(
    ("pattern", "rendered"),
    [
        ("{{ trigger.count }}", 5),
        ("{{ trigger.items }}", ITEMS),
        ("{{ trigger.severity }}", "critical"),
        ("[{{ trigger.count }}, {{ trigger.want }}]", [5, 2]),
        ("{{ trigger.count * 2 }}", 10),
        ("{{ trigger.count > 3 }}", True),
        ("host-{{ trigger.host }}", "host-db1"),
        ("{{ pack.config.limit }}", 3),
        ("{{ rule.ref }}", "demo.r"),
        ("5", "5"),
        (5, 5),
    ],
)
def test_templated_patterns_render_typed_values(pattern: Any, rendered: Any) -> None:
    rule = RuleDefinition(ref="demo.r", pack_ref="demo", trigger_ref="demo.t", action_ref="core.noop")
    context = build_context(PAYLOAD, rule=rule, pack_config={"limit": 3})
    result = evaluate_criteria({"trigger.x": criterion("nexists", pattern)}, context)
    assert result.criteria[0].pattern == rendered


def test_a_templated_pattern_compares_typed() -> None:
    criteria = {"trigger.count": criterion("gt", "{{ trigger.want }}")}
    assert evaluate_criteria(criteria, CONTEXT).matched
    assert not evaluate_criteria({"trigger.count": criterion("equals", "5")}, CONTEXT).matched
    assert evaluate_criteria({"trigger.count": criterion("equals", "{{ 5 }}")}, CONTEXT).matched


def test_a_pattern_that_fails_to_render_is_an_error() -> None:
    result = evaluate_criteria({"trigger.count": criterion("equals", "{{ trigger.nope }}")}, CONTEXT)
    (c,) = result.criteria
    assert c.outcome == "error"
    assert c.reason == "pattern did not render: 'dict object' has no attribute 'nope'"


def test_tags_let_one_key_carry_several_criteria() -> None:
    criteria = {"trigger.count#low": criterion("gt", 1), "trigger.count#high": criterion("lt", 10)}
    result = evaluate_criteria(criteria, CONTEXT)
    assert result.matched
    assert [c.key for c in result.criteria] == ["trigger.count#low", "trigger.count#high"]
    assert [c.value for c in result.criteria] == [5, 5]


def test_event_keys_resolve_against_the_event() -> None:
    context = build_context({"a": 1}, event={"trigger_ref": "demo.alert"})
    criteria = {"event.trigger_ref": criterion("eq", "demo.alert"), "event.payload.a": criterion("eq", 1)}
    assert evaluate_criteria(criteria, context).matched


def search(condition: str, children: dict[str, Any], value: Any = ITEMS) -> str:
    context = build_context({"items": value, "want": 2})
    result = evaluate_criteria({"trigger.items": criterion("search", children, condition=condition)}, context)
    return result.criteria[0].outcome


N_IS_2 = {"item.n": criterion("equals", 2)}
S_IS_A = {"item.s": criterion("equals", "a")}
S_IS_B = {"item.s": criterion("equals", "b")}
NOTHING = {"item.s": criterion("equals", "zzz")}


@pytest.mark.parametrize(
    ("condition", "children", "expected"),
    [
        ("any", {**N_IS_2, **S_IS_B}, "matched"),
        ("any", {**N_IS_2, **S_IS_A}, "failed"),
        ("all", {"item.n": criterion("gt", 0)}, "matched"),
        ("all", N_IS_2, "failed"),
        ("any2any", {**N_IS_2, **NOTHING}, "matched"),
        ("any2any", {"item.n": criterion("eq", 9), **NOTHING}, "failed"),
        ("all2any", {**N_IS_2, **S_IS_A}, "matched"),
        ("all2any", {**N_IS_2, **NOTHING}, "failed"),
        ("any", {"item.n": criterion("eq", "{{ trigger.want }}")}, "matched"),
        ("any", {"item.n": criterion("ieq", "1")}, "failed"),
    ],
)
def test_search(condition: str, children: dict[str, Any], expected: str) -> None:
    assert search(condition, children) == expected


def test_search_treats_a_dict_as_a_one_item_list() -> None:
    assert search("any", N_IS_2, {"n": 2}) == "matched"
    assert search("all", N_IS_2, {"n": 1}) == "failed"


def test_search_over_an_empty_list() -> None:
    assert search("any", N_IS_2, []) == "failed"
    assert search("all", N_IS_2, []) == "matched"


def test_search_over_a_missing_or_scalar_value_is_an_error() -> None:
    context = build_context({"other": 1})
    result = evaluate_criteria({"trigger.items": criterion("search", N_IS_2, condition="any")}, context)
    assert result.criteria[0].outcome == "error"
    assert search("any", N_IS_2, "text") == "error"


def test_search_reports_how_many_items_matched() -> None:
    context = build_context({"items": ITEMS})
    result = evaluate_criteria({"trigger.items": criterion("search", N_IS_2, condition="all")}, context)
    assert result.reason == "trigger.items: 1 of 2 items match all child criteria (condition all)"


def test_invalid_stored_criteria_are_errors_not_exceptions() -> None:
    criteria: dict[str, Any] = {
        "trigger.a": {"type": "equalz", "pattern": 1},
        "trigger.b": {"pattern": 1},
        "trigger.c": "equals",
        "nowhere.d": {"type": "exists"},
        "trigger.e": {"type": "search", "condition": "some", "pattern": N_IS_2},
    }
    result = evaluate_criteria(criteria, CONTEXT, condition="any")
    assert outcomes(result) == ["error"] * 5
    assert result.criteria[0].reason == "trigger.a.type: unknown operator 'equalz'"
    assert result.criteria[1].reason == "trigger.b.type: required (the operator, e.g. equals)"


def test_results_serialize_to_json() -> None:
    result = evaluate_criteria(
        {"trigger.host": criterion("eq", "db1"), "trigger.x": criterion("exists")}, CONTEXT
    )
    data = json.loads(json.dumps(result.to_dict()))
    assert data["matched"] is False
    assert data["criteria"][0] == {
        "key": "trigger.host",
        "operator": "eq",
        "pattern": "db1",
        "value": "db1",
        "found": True,
        "outcome": "matched",
        "matched": True,
        "reason": None,
    }
    assert data["criteria"][1]["found"] is False
    assert data["criteria"][1]["reason"] == "(missing) does not exist"


def test_validate_criteria_names_each_field() -> None:
    errors = validate_criteria(
        {
            "trigger.severity": {"type": "equalz", "pattern": "x"},
            "trigger.a": {"pattern": 1},
            "trigger.b": {"type": "eq", "pattern": 1, "condition": "any", "extra": 1},
            "trigger.c": {"type": "regex", "pattern": "("},
            "trigger.d": {"type": "td_lt", "pattern": "soon"},
            "trigger.e": {"type": "eq", "pattern": "{{ x"},
            "trigger.f": {"type": "search", "condition": "some", "pattern": {"item.x": {"type": "bad"}}},
            "trigger.g": {"type": "search", "condition": "any", "pattern": {}},
            "trigger..h": {"type": "eq"},
            "payload.i": {"type": "eq"},
            "trigger.j": [],
        }
    )
    fields = [field for field, _ in errors]
    assert errors[0] == ("criteria.trigger.severity.type", "unknown operator 'equalz'")
    assert fields == [
        "criteria.trigger.severity.type",
        "criteria.trigger.a.type",
        "criteria.trigger.b.extra",
        "criteria.trigger.b.condition",
        "criteria.trigger.c.pattern",
        "criteria.trigger.d.pattern",
        "criteria.trigger.e.pattern",
        "criteria.trigger.f.condition",
        "criteria.trigger.f.pattern.item.x.type",
        "criteria.trigger.g.pattern",
        "criteria.trigger..h",
        "criteria.payload.i",
        "criteria.trigger.j",
    ]
    assert validate_criteria([1]) == [("criteria", "must be a mapping of keys to {type, pattern}")]
    assert validate_criteria(None) == []
