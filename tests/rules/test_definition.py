"""Rule definitions: both YAML forms, normalization, and errors naming file and field."""

import json
from pathlib import Path
from typing import Any

import pytest

from attune_shared.errors import DefinitionError
from attune_shared.rules import build_context, evaluate_criteria, load_rule_file, render_params
from attune_shared.rules.definition import RuleDefinition

FIXTURES = Path(__file__).parent / "fixtures"


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "payloads" / f"{name}.json").read_text())
    return data


def errors_of(data: Any, pack_ref: str | None = "examples") -> list[tuple[str, str]]:
    with pytest.raises(DefinitionError) as info:
        RuleDefinition.parse(data, pack_ref=pack_ref)
    return info.value.errors


def test_stackstorm_webhook_rule_loads_unchanged_and_matches() -> None:
    rule = load_rule_file(FIXTURES / "stackstorm" / "github_push.yaml")
    assert rule.ref == "ci.github_push_to_main"
    assert rule.pack_ref == "ci"
    assert rule.label == "github_push_to_main"
    assert rule.trigger_ref == "core.st2.webhook"
    assert rule.trigger_params == {"url": "github"}
    assert rule.action_ref == "ci.deploy"
    assert rule.enabled

    context = build_context(payload("github_push"), rule=rule)
    result = evaluate_criteria(rule.criteria, context, condition=rule.condition)
    assert result.matched, result.reason
    params = render_params(rule.action_params, context)
    assert params["repo"] == "acme/api"
    assert params["commits"] == payload("github_push")["body"]["commits"]
    assert params["message"] == "push by ada to refs/heads/main"


def test_stackstorm_webhook_rule_does_not_match_other_events() -> None:
    rule = load_rule_file(FIXTURES / "stackstorm" / "github_push.yaml")
    event = payload("github_push")
    event["headers"]["X-GitHub-Event"] = "issues"
    result = evaluate_criteria(rule.criteria, build_context(event), condition=rule.condition)
    assert not result.matched
    assert result.reason == 'trigger.headers[\'X-GitHub-Event\']: "issues" does not equal "push"'


def test_stackstorm_rule_with_tags_and_mixed_case_operators() -> None:
    rule = load_rule_file(FIXTURES / "stackstorm" / "sensu_critical.yaml")
    event = payload("sensu_critical")
    assert evaluate_criteria(rule.criteria, build_context(event)).matched
    event["check"]["output"] = "CRITICAL: HTTPS down (Maintenance window)"
    result = evaluate_criteria(rule.criteria, build_context(event))
    assert not result.matched
    assert result.reason is not None and result.reason.startswith("trigger.check.output#not_maintenance:")
    assert render_params(rule.action_params, build_context(event))["hosts"] == "10.0.0.13"


def test_stackstorm_search_rule() -> None:
    rule = load_rule_file(FIXTURES / "stackstorm" / "jira_approved.yaml")
    event = payload("jira_approved")
    assert evaluate_criteria(rule.criteria, build_context(event)).matched
    event["changelog"]["items"][1]["toString"] = "Rejected"
    assert not evaluate_criteria(rule.criteria, build_context(event)).matched


def test_stackstorm_timer_rule_with_rule_type_and_tags() -> None:
    rule = load_rule_file(FIXTURES / "stackstorm" / "interval.yaml")
    assert rule.ref == "housekeeping.every_five_minutes"
    assert rule.trigger_ref == "core.st2.IntervalTimer"
    assert rule.trigger_params == {"unit": "minutes", "delta": 5}
    assert rule.criteria == {}
    assert rule.enabled is False
    assert rule.action_params == {"cmd": "find /tmp -mtime +1 -delete", "timeout": 60}


def test_attune_form_normalizes_short_refs_into_the_pack() -> None:
    rule = load_rule_file(FIXTURES / "attune" / "on_alert.yaml", "demo")
    assert rule.model_dump() == {
        "ref": "demo.on_alert",
        "pack_ref": "demo",
        "label": "On alert",
        "description": "Page for critical or repeated alerts on production hosts.",
        "trigger_ref": "demo.alert",
        "trigger_params": {},
        "criteria": {
            "trigger.severity": {"type": "in", "pattern": ["critical", "error"]},
            "trigger.count": {"type": "gt", "pattern": "{{ pack.config.threshold }}"},
        },
        "condition": "any",
        "action_ref": "demo.notify",
        "action_params": {
            "channel": "{{ pack.config.channel }}",
            "count": "{{ trigger.count }}",
            "summary": "{{ rule.ref }}: {{ trigger.severity }} on {{ event.payload.host }}",
            "details": {"host": "{{ trigger.host }}", "tags": "{{ trigger.tags }}"},
        },
        "enabled": True,
    }


def test_both_forms_normalize_to_the_same_shape() -> None:
    attune = RuleDefinition.parse(
        {
            "ref": "r",
            "trigger": "alert",
            "trigger_params": {"a": 1},
            "criteria": {"trigger.x": {"type": "eq", "pattern": 1}},
            "action": "core.echo",
            "action_params": {"message": "{{ trigger.x }}"},
            "enabled": True,
        },
        pack_ref="examples",
    )
    stackstorm = RuleDefinition.parse(
        {
            "name": "r",
            "pack": "examples",
            "enabled": True,
            "trigger": {"type": "alert", "parameters": {"a": 1}},
            "criteria": {"trigger.x": {"type": "eq", "pattern": 1}},
            "action": {"ref": "core.echo", "parameters": {"message": "{{ trigger.x }}"}},
        }
    )
    assert attune == stackstorm


def test_the_normalized_shape_parses_back() -> None:
    rule = load_rule_file(FIXTURES / "attune" / "on_alert.yaml", "demo")
    assert RuleDefinition.parse(rule.model_dump()) == rule


def test_defaults() -> None:
    attune = RuleDefinition.parse({"ref": "examples.r", "trigger": "examples.t", "action": "core.noop"})
    assert (attune.enabled, attune.condition, attune.criteria, attune.action_params) == (True, "all", {}, {})
    assert attune.label == "r"
    stackstorm = RuleDefinition.parse(
        {"name": "r", "trigger": {"type": "core.t"}, "action": {"ref": "core.a"}}
    )
    assert stackstorm.ref == "default.r"  # StackStorm's default pack
    assert stackstorm.enabled is False  # StackStorm's RuleAPI default


@pytest.mark.parametrize(
    ("data", "pack_ref", "expected"),
    [
        (
            {"ref": "r", "trigger": "t", "action": "a"},
            None,
            [("ref", "'r' names no pack: write <pack>.r or set 'pack'")],
        ),
        (
            {"ref": "other.r", "trigger": "t", "action": "a"},
            "examples",
            [("ref", "'other.r' is not in pack 'examples'")],
        ),
        (
            {"name": "r", "pack": "other", "trigger": {"type": "t"}, "action": {"ref": "a"}},
            "examples",
            [("pack", "'other' is not the pack 'examples' the rule is loaded from")],
        ),
        (
            {"ref": "r", "trigger": "t", "trigger_ref": "t", "action": "a"},
            "examples",
            [("trigger_ref", "give trigger or trigger_ref, not both")],
        ),
        ({"ref": "r", "action": "a"}, "examples", [("trigger", "required")]),
        (
            {"ref": "Bad Name", "trigger": "t", "action": "a"},
            "examples",
            [("ref", "'Bad Name' is not a valid ref (expected <pack>.<name>)")],
        ),
        (
            {"ref": "r", "trigger": "t", "action": "core echo"},
            "examples",
            [("action", "'core echo' is not a valid ref (expected <pack>.<name>)")],
        ),
        (
            {"ref": "r", "pack": "Bad", "trigger": "t", "action": "a"},
            None,
            [("pack", "'Bad' is not a valid pack ref (lowercase letters, digits, '_', '-')")],
        ),
        (
            {"ref": "r", "trigger": "t", "action": "a", "condition": "most"},
            "examples",
            [("condition", "Input should be 'all' or 'any'")],
        ),
        (
            {"ref": "r", "trigger": "t", "action": "a", "enabled": "yes"},
            "examples",
            [("enabled", "Input should be a valid boolean")],
        ),
        (
            {"ref": "r", "trigger": "t", "action": "a", "critera": {}},
            "examples",
            [("critera", "unknown key")],
        ),
        (
            {"name": "r", "trigger": {"type": "t"}, "action": {"ref": "a"}, "type": {"ref": "backstop"}},
            "examples",
            [("type.ref", "'backstop' rules are not supported (only 'standard')")],
        ),
        (
            {"name": "r", "trigger": {"parameters": {}}, "action": {"ref": "a", "params": {}}},
            "examples",
            [("trigger.type", "required"), ("action.params", "unknown key")],
        ),
        ([1], "examples", [("(root)", "a rule must be a mapping, not list")]),
    ],
)
def test_errors_name_the_field(data: Any, pack_ref: str | None, expected: list[tuple[str, str]]) -> None:
    assert errors_of(data, pack_ref) == expected


def test_every_error_is_reported_at_once() -> None:
    errors = errors_of(
        {
            "ref": "r",
            "trigger": "t",
            "action": "a",
            "condition": "most",
            "criteria": {"trigger.x": {"type": "equalz"}},
            "action_params": {"m": "{{ oops"},
        }
    )
    assert [field for field, _ in errors] == ["condition", "criteria.trigger.x.type", "action_params.m"]


@pytest.mark.parametrize(
    ("name", "line"),
    [
        (
            "unknown_operator.yaml",
            "unknown_operator.yaml:criteria.trigger.severity.type: unknown operator 'equalz'",
        ),
        (
            "missing_type.yaml",
            "missing_type.yaml:criteria.trigger.severity.type: required (the operator, e.g. equals)",
        ),
        ("bad_condition.yaml", "bad_condition.yaml:condition: Input should be 'all' or 'any'"),
        ("bad_ref.yaml", "bad_ref.yaml:ref: 'Examples.Bad Rule' is not a valid ref (expected <pack>.<name>)"),
        (
            "bad_search.yaml",
            "bad_search.yaml:criteria.trigger.items.condition: must be one of any, all, any2any, all2any",
        ),
        ("bad_template.yaml", "bad_template.yaml:action.parameters.message: template syntax error:"),
        ("not_yaml.yaml", "not_yaml.yaml:(root): invalid YAML:"),
        (
            "does_not_exist.yaml",
            "does_not_exist.yaml:(root): cannot read the file: No such file or directory",
        ),
    ],
)
def test_malformed_rule_files_name_file_and_field(name: str, line: str) -> None:
    path = FIXTURES / "invalid" / name
    with pytest.raises(DefinitionError) as info:
        load_rule_file(path)
    assert info.value.source == str(path)
    assert any(text.startswith(f"{FIXTURES / 'invalid'}/{line}") for text in info.value.lines()), (
        info.value.lines()
    )


def test_bad_search_lists_every_child_problem() -> None:
    with pytest.raises(DefinitionError) as info:
        load_rule_file(FIXTURES / "invalid" / "bad_search.yaml")
    assert [field for field, _ in info.value.errors] == [
        "criteria.trigger.items.condition",
        "criteria.trigger.items.pattern.item.size.type",
    ]


def test_bad_ref_reports_both_refs() -> None:
    with pytest.raises(DefinitionError) as info:
        load_rule_file(FIXTURES / "invalid" / "bad_ref.yaml")
    assert [field for field, _ in info.value.errors] == ["ref", "action"]


def test_a_stackstorm_name_is_never_a_qualified_ref() -> None:
    data = {"name": "other.r", "pack": "examples", "trigger": {"type": "t"}, "action": {"ref": "a"}}
    assert RuleDefinition.parse(data, pack_ref="examples").ref == "examples.other.r"
    data["name"] = "other r"
    assert errors_of(data) == [
        ("name", "'other r' is not a valid rule name (letters, digits, '_', '-', '.')")
    ]


def test_a_rule_file_is_yaml_1_2_with_yaml_1_1_booleans_where_meant(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "name: r\npack: p\nenabled: yes\ntrigger: {type: t}\n"
        "criteria: {trigger.mode: {type: equals, pattern: off}}\naction: {ref: a, parameters: {x: on}}\n"
    )
    rule = load_rule_file(path)
    assert rule.enabled is True
    assert rule.criteria == {"trigger.mode": {"type": "equals", "pattern": "off"}}
    assert rule.action_params == {"x": "on"}  # typed by the action's schema, at registration
    path.write_text("ref: p.r\ntrigger: t\naction: a\naction: b\n")
    with pytest.raises(DefinitionError) as info:
        load_rule_file(path)
    assert info.value.lines() == [f"{path}:(root): invalid YAML: duplicate key 'action' (line 4, column 1)"]
