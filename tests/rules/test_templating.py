"""Action-parameter templating: types kept, text interpolated, sandboxed, errors naming the parameter."""

from datetime import UTC, datetime
from typing import Any

import pytest

from attune_shared.errors import TemplateRenderError
from attune_shared.models.event import Event
from attune_shared.rules import build_context, event_context, render_params
from attune_shared.rules.definition import RuleDefinition
from attune_shared.rules.templating import render_value, template_errors

RULE = RuleDefinition(ref="demo.page", pack_ref="demo", trigger_ref="demo.alert", action_ref="demo.notify")
PAYLOAD: dict[str, Any] = {
    "host": "web-1",
    "count": 5,
    "ratio": 0.5,
    "up": False,
    "none": None,
    "digits": "123",
    "tags": ["a", "b"],
    "details": {"disk": "/var", "items": [1, 2]},
}
CONTEXT = build_context(
    PAYLOAD, event={"id": 42, "trigger_ref": "demo.alert"}, rule=RULE, pack_config={"channel": "#ops"}
)


@pytest.mark.parametrize(
    ("template", "value"),
    [
        ("{{ trigger.count }}", 5),
        ("{{ trigger.ratio }}", 0.5),
        ("{{ trigger.up }}", False),
        ("{{ trigger.none }}", None),
        ("{{ trigger.digits }}", "123"),
        ("{{ trigger.tags }}", ["a", "b"]),
        ("{{ trigger.details }}", {"disk": "/var", "items": [1, 2]}),
        ("{{ trigger.details.items }}", [1, 2]),
        ("{{ event.payload.count }}", 5),
        ("{{ event.id }}", 42),
        ("{{ rule.ref }}", "demo.page"),
        ("{{ pack.config.channel }}", "#ops"),
        ("{{trigger.count}}", 5),
        ("{{- trigger.count -}}", 5),
        ("{{ trigger.count + 1 }}", 6),
        ("{{ trigger.tags | length }}", 2),
        ("{{ trigger.missing | default('n/a') }}", "n/a"),
        # StackStorm's separators: (",", ": ")
        ("{{ trigger.details | to_json_string(sort_keys=True) }}", '{"disk": "/var","items": [1,2]}'),
    ],
)
def test_a_whole_string_template_keeps_the_type(template: str, value: Any) -> None:
    assert render_value(template, CONTEXT, field="p") == value


@pytest.mark.parametrize(
    ("template", "text"),
    [
        ("{{ trigger.host }}: {{ trigger.count }} alerts", "web-1: 5 alerts"),
        ("up={{ trigger.up }} none={{ trigger.none }}", "up=false none=null"),
        ("tags: {{ trigger.tags }}", 'tags: ["a", "b"]'),
        ("{{ trigger.count }}{{ trigger.count }}", "55"),
        (" {{ trigger.count }}", " 5"),
        ("{% for t in trigger.tags %}{{ t }};{% endfor %}", "a;b;"),
        ("{{ trigger.host | regex_replace('-\\\\d+$', '') }} ok", "web ok"),
        ("no template here", "no template here"),
        ("line\n", "line\n"),
    ],
)
def test_a_mixed_string_interpolates(template: str, text: str) -> None:
    assert render_value(template, CONTEXT, field="p") == text


def test_nested_structures_render_recursively() -> None:
    params = {
        "host": "{{ trigger.host }}",
        "options": {"count": "{{ trigger.count }}", "labels": ["{{ rule.ref }}", "static", 3, None]},
        "{{ trigger.host }}": "keys are not rendered",
        "number": 7,
    }
    assert render_params(params, CONTEXT) == {
        "host": "web-1",
        "options": {"count": 5, "labels": ["demo.page", "static", 3, None]},
        "{{ trigger.host }}": "keys are not rendered",
        "number": 7,
    }


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"message": "{{ trigger.x }}"}, "action_params.message", "'dict object' has no attribute 'x'"),
        ({"message": "host {{ trigger.x }}"}, "action_params.message", "'dict object' has no attribute 'x'"),
        ({"message": "{{ trigger.x.y }}"}, "action_params.message", "'dict object' has no attribute 'x'"),
        ({"a": {"b": ["ok", "{{ nope }}"]}}, "action_params.a.b[1]", "'nope' is undefined"),
        ({"n": "{{ [trigger.x] }}"}, "action_params.n", "'dict object' has no attribute 'x'"),
        ({"n": "{{ trigger.count / 0 }}"}, "action_params.n", "division by zero"),
        ({"n": "{{ trigger.host + 1 }}"}, "action_params.n", 'can only concatenate str (not "int") to str'),
    ],
)
def test_a_render_failure_names_the_parameter(params: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(TemplateRenderError) as info:
        render_params(params, CONTEXT)
    assert (info.value.field, info.value.message) == (field, message)
    assert str(info.value) == f"template_error: {field}: {message}"


@pytest.mark.parametrize(
    "template",
    [
        "{{ trigger.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ trigger.host.__class__ }}",
        "{{ trigger.tags.append('x') }}",
        "{{ trigger.details.update({'disk': '/'}) }}",
        "{{ trigger.tags.pop() }}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_the_sandbox_refuses_unsafe_access(template: str) -> None:
    with pytest.raises(TemplateRenderError, match="unsafe|undefined"):
        render_value(template, CONTEXT, field="p")
    assert PAYLOAD["tags"] == ["a", "b"]
    assert PAYLOAD["details"]["disk"] == "/var"


def test_template_errors_report_syntax_by_field() -> None:
    errors = template_errors(
        {"a": "{{ x", "b": ["ok", "{% if %}"], "c": "{{ fine }}", "d": 5}, field="action_params"
    )
    assert [field for field, _ in errors] == ["action_params.a", "action_params.b[1]"]
    assert all(message.startswith("template syntax error: ") for _, message in errors)


def test_event_context_from_a_stored_event() -> None:
    created = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    event = Event(
        id=9,
        created=created,
        trigger=None,
        trigger_ref="demo.alert",
        config={},
        payload={"host": "db-1"},
        source=None,
        source_ref=None,
        rule=None,
        rule_ref=None,
        trace_tag="t-1",
        dedup_id="d-1",
    )
    context = event_context(event, RULE, {"channel": "#db"})
    params = {
        "id": "{{ event.id }}",
        "created": "{{ event.created }}",
        "tag": "{{ event.trace_tag }}",
        "host": "{{ trigger.host }}",
        "same": "{{ event.payload.host }}",
        "channel": "{{ pack.config.channel }}",
        "pack": "{{ pack.ref }}",
        "rule": "{{ rule.ref }} -> {{ rule.action_ref }}",
    }
    assert render_params(params, context) == {
        "id": 9,
        "created": "2024-05-01T12:00:00+00:00",
        "tag": "t-1",
        "host": "db-1",
        "same": "db-1",
        "channel": "#db",
        "pack": "demo",
        "rule": "demo.page -> demo.notify",
    }
