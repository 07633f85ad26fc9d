"""Hostile templates in rule parameters, workflow expressions (Jinja and YAQL) and webhook bodies:
refused, or bounded in time and memory; never executed, never crashing the caller.

Each case runs in a child with a memory ceiling and a deadline (:mod:`.contained`), so that removing
a defence fails its test rather than the test run."""

from __future__ import annotations

from typing import Any

import pytest

from attune_shared.rules import build_context, render_params
from attune_shared.rules.definition import RuleDefinition
from attune_shared.rules.templating import render_value, template_errors
from attune_shared.sandbox import MAX_SIZE
from attune_shared.workflows.expressions import evaluate, validate
from attune_shared.workflows.functions import Scope
from tests.security.contained import contained

RULE = RuleDefinition(ref="demo.page", pack_ref="demo", trigger_ref="demo.hook", action_ref="demo.notify")

# (payload, what the refusal says); the same payloads go through rules and workflows' Jinja
JINJA: list[tuple[str, str]] = [
    ("{{ ''.__class__.__mro__ }}", "access to attribute '__class__' of 'str' object is unsafe"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
    ("{{ cycler.__init__.__globals__ }}", "unsafe"),
    ("{{ joiner.__init__.__globals__.os }}", "unsafe"),
    ("{{ lipsum.__globals__['os'].popen('id').read() }}", "'lipsum' is undefined"),
    ("{{ lipsum(n=100000) }}", "'lipsum' is undefined"),
    ("{{ range.__call__.__self__ }}", "unsafe"),
    ("{{ (trigger|attr('__class__')) }}", "unsafe"),
    ("{{ trigger.keys.__self__ }}", "unsafe"),
    ("{{ self.__init__.__globals__ }}", "unsafe"),
    ("{{ namespace.__init__.__globals__ }}", "unsafe"),
    ("{{ range(10**9) | length }}", "Range too big"),
    ("{{ ('x' * 10**9) | length }}", f"repeating would build a value over the {MAX_SIZE} limit"),
    ("{{ ([1] * 10**9) | length }}", f"repeating would build a value over the {MAX_SIZE} limit"),
    ("{{ 2 ** (10 ** 9) }}", "the power would have more than"),
    ("{{ 'x' | center(10**9) | length }}", "an argument of 1000000000 is over the"),
    ("{{ 'x'.ljust(10**9) | length }}", "an argument of 1000000000 is over the"),
    ("{{ range(100000) | join('x' * 100000) | length }}", "joining would build a string over the"),
    ("{{ ('x' * 1000000) | replace('x', 'yyyyyyy') | length }}", "replacing would build a string over"),
    ("{{ '%0999999999d' % 1 }}", "a format width or precision over the limit"),
    ("{{ '%0999999999d' | format(1) }}", "a format width or precision over the limit"),
    ("{{ '{:>999999999}'.format(1) }}", "a format width or precision over the limit"),
    (
        "{% set ns = namespace(s='xxxxxxxxxx') %}{% for i in range(30) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s | length }}",
        f"characters or items is over the {MAX_SIZE} limit",
    ),
    (
        "{% set ns = namespace(s='xxxxxxxxxx') %}{% for i in range(30) %}{% set ns.s = ns.s + ns.s %}"
        "{% endfor %}{{ ns.s | length }}",
        "adding would build a value over the",
    ),
    (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "the evaluation ",  # steps or seconds, whichever the machine reaches first
    ),
    (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
        "the evaluation ",  # steps or seconds, whichever the machine reaches first
    ),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "maximum recursion depth exceeded"),
    ("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", "the rendered text is over the"),
]

YAQL: list[tuple[str, str]] = [
    ("<% ''.__class__ %>", "illegal character '_'"),
    ("<% $.__class__.__mro__ %>", "illegal character '_'"),
    ("<% 'x' * 1000000000 %>", "Expression consumed too much memory"),
    ("<% range(0, 1000000000).len() %>", "a collection of more than 100000 items"),
    ("<% sequence().len() %>", "a collection of more than 100000 items"),
    ("<% 1.repeat().len() %>", "a collection of more than 100000 items"),
    ("<% [1].cycle().len() %>", "a collection of more than 100000 items"),
    ("<% range(0, 100000).select(range(0, 100000).sum()).sum() %>", "the evaluation "),
]


def _render_rule(template: str) -> Any:
    context = build_context({"body": "hello"}, event={"id": 1, "trigger_ref": "demo.hook"}, rule=RULE)
    return render_value(template, context, field="action_params.message")


def _evaluate(statement: Any, variables: dict[str, Any] | None = None) -> Any:
    return evaluate(statement, Scope(vars=variables or {"body": "hello"}))


@pytest.mark.parametrize(("template", "refusal"), JINJA)
def test_rule_parameters_refuse_hostile_jinja(template: str, refusal: str) -> None:
    outcome, detail = contained(_render_rule, template)
    assert outcome == "raised", detail
    assert detail.startswith("TemplateRenderError: template_error: action_params.message: "), detail
    assert refusal in detail.splitlines()[0]


@pytest.mark.parametrize(("template", "refusal"), [case for case in JINJA if "trigger" not in case[0]])
def test_workflow_jinja_refuses_hostile_expressions(template: str, refusal: str) -> None:
    outcome, detail = contained(_evaluate, template)
    assert outcome == "raised", detail
    first = detail.splitlines()[0]
    assert first.startswith("JinjaEvaluationException: Unable to evaluate expression"), detail
    assert refusal in first


@pytest.mark.parametrize(("expression", "refusal"), YAQL)
def test_workflow_yaql_refuses_hostile_expressions(expression: str, refusal: str) -> None:
    outcome, detail = contained(_evaluate, expression)
    assert outcome == "raised", detail
    assert detail.startswith("YaqlEvaluationException: Unable to evaluate expression"), detail
    assert refusal in detail.splitlines()[0]


def test_ordinary_templates_still_render() -> None:
    assert _render_rule("{{ trigger.body | upper }} {% for i in range(3) %}{{ i ~ '.' }}{% endfor %}") == (
        "HELLO 0.1.2."
    )
    assert _render_rule("{{ ('x' * 1000) | length }}") == 1000
    assert _render_rule("{{ trigger.nothing | default(86400000) }}") == 86400000  # a big number is data
    assert _evaluate("<% range(0, 3).select($ * 2) %>") == [0, 2, 4]
    assert _evaluate("<% sequence(5).take(2) %>") == [5, 6]
    assert _evaluate("{{ ctx().body ~ '!' }}") == "hello!"


# -- webhook bodies: data, never templates -----------------------------------------------------------

HOSTILE_BODY: dict[str, Any] = {
    "jinja": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "block": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "yaql": "<% range(0, 1000000000).len() %>",
}


def _render_body(body: dict[str, Any]) -> dict[str, Any]:
    context = build_context(body, event={"id": 1, "trigger_ref": "demo.hook"}, rule=RULE)
    return render_params(
        {"whole": "{{ trigger }}", "text": "got {{ trigger.jinja }}", "one": "{{ trigger.block }}"}, context
    )


def test_rule_passes_a_hostile_webhook_body_as_data() -> None:
    outcome, rendered = contained(_render_body, HOSTILE_BODY)
    assert outcome == "returned", rendered
    assert rendered == {
        "whole": HOSTILE_BODY,
        "text": f"got {HOSTILE_BODY['jinja']}",
        "one": HOSTILE_BODY["block"],
    }


@pytest.mark.parametrize(
    ("expression", "field"),
    [("{{ ctx().body }}", "jinja"), ("{{ ctx().body }}", "block"), ("<% ctx().body %>", "yaql")],
)
def test_workflow_input_holding_expressions_is_evaluated_bounded(expression: str, field: str) -> None:
    """Orquesta evaluates a string result that holds an expression of its own language again
    (documented in docs/security.md); the sandbox keeps that evaluation bounded."""
    outcome, detail = contained(_evaluate, expression, {"body": HOSTILE_BODY[field]})
    assert outcome == "raised", detail
    assert any(word in detail.splitlines()[0] for word in ("unsafe", "the evaluation", "more than 100000"))


def test_yaql_result_holding_jinja_is_data() -> None:
    outcome, value = contained(_evaluate, "<% ctx().body %>", {"body": HOSTILE_BODY["jinja"]})
    assert (outcome, value) == ("returned", HOSTILE_BODY["jinja"])


DEEP = "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"


def test_deeply_nested_templates_are_reported_not_raised() -> None:
    assert template_errors(DEEP, field="action_params.x") == [
        ("action_params.x", "template syntax error: nested too deeply")
    ]
    assert validate(DEEP) == [{"type": "jinja", "expression": DEEP, "message": "nested too deeply"}]
    outcome, detail = contained(_render_rule, DEEP)
    assert outcome == "raised"
    assert "maximum recursion depth exceeded" in detail.splitlines()[0]
