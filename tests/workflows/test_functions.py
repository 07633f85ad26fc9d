import pytest

from attune_shared.workflows import ExpressionEvaluationException, Scope, evaluate

VARS = {
    "n": 3725,
    "name": "Ada",
    "data": {"a": [1, {"b": 2}]},
    "v": "1.2.3",
    "none": None,
    "text": "a1b22c333",
}


def run(expression, **variables):
    return evaluate(expression, Scope(vars={**VARS, **variables}))


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("<% ctx(name) %>", "Ada"),
        ("<% ctx().name %>", "Ada"),
        ("{{ ctx('name') }}", "Ada"),
        ("hi <% ctx(name) %>, <% ctx(n) %>", "hi Ada, 3725"),
        ("<% ctx(data) %>", {"a": [1, {"b": 2}]}),
        ("<% ctx(data).a[1].b %>", 2),
        ("{{ ctx('data').a | length }}", 2),
        ("<% json('{\"k\": [1, 2]}') %>", {"k": [1, 2]}),
        ("<% zip(list(1, 2, 3), list(a, b)) %>", [[1, "a"], [2, "b"], [3, None]]),
        ("<% zip(list(1, 2), list(a), pad => 0) %>", [[1, "a"], [2, 0]]),
        ("<% to_json_string(ctx(data)) %>", '{"a": [1,{"b": 2}]}'),
        (
            "<% to_json_string(ctx(data), indent => 2, sort_keys => true) %>",
            '{\n  "a": [\n    1,\n    {\n      "b": 2\n    }\n  ]\n}',
        ),
        ("{{ ctx('data') | to_yaml_string }}", "a:\n- 1\n- b: 2\n"),
        ("<% from_json_string('[1, 2]') %>", [1, 2]),
        ("<% json_parse('{\"x\": null}') %>", {"x": None}),
        ("<% from_yaml_string('a: [1, 2]') %>", {"a": [1, 2]}),
        ("<% json_escape('say \"hi\"') %>", 'say \\"hi\\'),  # StackStorm strips the escaped quote's " too
        ("<% jsonpath_query(ctx(data), 'a[*].b') %>", [2]),
        ("<% jsonpath_query(ctx(data), 'zzz') %>", None),
        ("<% regex_match(ctx(text), '\\w\\d') %>", True),
        ("<% regex_match(ctx(text), '\\d') %>", False),
        ("<% regex_search(ctx(text), '\\d{3}') %>", True),
        ("<% regex_replace(ctx(text), '\\d+', '#') %>", "a#b#c#"),
        ("<% regex_substring(ctx(text), '\\d+', 1) %>", "22"),
        ("<% regex_match(123, '1') %>", True),
        ("<% to_human_time_from_seconds(ctx(n)) %>", "1h2m5s"),
        ("<% to_human_time_from_seconds(0) %>", "0s"),
        ("<% to_human_time_from_seconds(3456000) %>", "9d0h0m0s"),
        ("<% to_human_time_from_seconds(31536001) %>", "1y0d0h0m1s"),
        ("<% version_compare(ctx(v), '1.10.0') %>", -1),
        ("<% version_more_than(ctx(v), '1.2.2') %>", True),
        ("<% version_less_than(ctx(v), '1.2.2') %>", False),
        ("<% version_equal(ctx(v), '1.2.3') %>", True),
        ("<% version_match(ctx(v), '>=1.0.0') %>", True),
        ("<% version_bump_major(ctx(v)) %>", "2.0.0"),
        ("<% version_bump_minor(ctx(v)) %>", "1.3.0"),
        ("<% version_bump_patch(ctx(v)) %>", "1.2.4"),
        ("<% version_strip_patch(ctx(v)) %>", "1.2"),
        ("<% use_none(ctx(none)) %>", "%*****__%NONE%__*****%"),
        ("<% basename('/a/b.txt') %>/<% dirname('/a/b.txt') %>", "b.txt//a"),
        ("{% for x in ctx('data').a %}[{{ x }}]{% endfor %}", "[1][{'b': 2}]"),
        ("<% item() %>", None),
        ("<% task_status(nothing) %>", "null"),
    ],
)
def test_functions_give_stackstorms_results(expression, expected):
    assert run(expression) == expected


def test_item_with_names():
    scope = Scope(vars={}, item={"host": "a", "port": 22})
    assert evaluate("<% item(host) %>:<% item(port) %>", scope) == "a:22"
    assert evaluate("{{ item('port') }}", scope) == 22


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            "<% ctx(missing) %>",
            "YaqlEvaluationException: Unable to evaluate expression '<% ctx(missing) %>'. "
            'VariableUndefinedError: The variable "missing" is undefined.',
        ),
        (
            "<% ctx(data).zz %>",
            "YaqlEvaluationException: Unable to resolve key 'zz' in expression "
            "'<% ctx(data).zz %>' from context.",
        ),
        (
            "<% abs(4).value %>",
            "YaqlEvaluationException: Unable to evaluate expression '<% abs(4).value %>'. "
            'NoFunctionRegisteredException: Unknown function "#property#value"',
        ),
        ("{{ ctx('data').zz }}", "JinjaEvaluationException: There are unresolved variables: ctx('data').zz"),
        (
            "<% json(1) %>",
            "YaqlEvaluationException: Unable to evaluate expression '<% json(1) %>'. "
            "TypeError: Given object is not typeof string.",
        ),
        (
            "<% st2kv('k') %>",
            "YaqlEvaluationException: Unable to evaluate expression '<% st2kv('k') %>'. "
            'ExpressionEvaluationException: Unable to read "k": no datastore is available to this evaluation.',
        ),
    ],
)
def test_errors_read_as_orquestas(expression, message):
    with pytest.raises(ExpressionEvaluationException) as raised:
        run(expression)
    assert f"{type(raised.value).__name__}: {raised.value}" == message


def test_st2kv_reads_the_pluggable_datastore_as_the_workflow_user():
    calls = []

    def datastore(key, decrypt, has_default, default, user):
        calls.append((key, decrypt, has_default, default, user))
        return "secret" if key == "system.token" else default

    scope = Scope(vars={"st2": {"user": "stanley"}}, datastore=datastore)
    assert evaluate("<% st2kv('system.token', decrypt => true) %>", scope) == "secret"
    assert evaluate("{{ st2kv('missing', default='d') }}", scope) == "d"
    assert calls == [("system.token", True, False, None, "stanley"), ("missing", False, True, "d", "stanley")]
