"""Parameters against an action's JSON Schema: defaults first, then the failing field by name."""

from typing import Any

import pytest

from attune_shared.errors import DefinitionError, ParameterError
from attune_shared.parameters import schema_errors, validate_parameters

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message": {"type": "string"},
        "count": {"type": "integer", "minimum": 1, "default": 1},
        "options": {"type": "object", "default": {"retries": 3}},
        "hosts": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "level": {"enum": ["low", "high"]},
    },
    "required": ["message"],
    "additionalProperties": False,
}


def failure(params: dict[str, Any], schema: dict[str, Any] = SCHEMA) -> ParameterError:
    with pytest.raises(ParameterError) as info:
        validate_parameters(params, schema)
    return info.value


def test_defaults_of_top_level_properties_are_applied() -> None:
    params = {"message": "hi"}
    result = validate_parameters(params, SCHEMA)
    assert result == {"message": "hi", "count": 1, "options": {"retries": 3}}
    assert params == {"message": "hi"}
    result["options"]["retries"] = 0
    assert SCHEMA["properties"]["options"]["default"] == {"retries": 3}


def test_given_values_win_over_defaults() -> None:
    assert validate_parameters({"message": "hi", "count": 5}, SCHEMA)["count"] == 5


def test_a_default_must_still_satisfy_the_schema() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "default": "x"}}}
    assert failure({}, schema).errors == [("n", "'x' is not of type 'integer'")]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({}, "message", "required"),
        ({"message": 5}, "message", "5 is not of type 'string'"),
        ({"message": "m", "count": 0}, "count", "0 is less than the minimum of 1"),
        (
            {"message": "m", "hosts": [{"name": "a"}, {"name": 2}]},
            "hosts[1].name",
            "2 is not of type 'string'",
        ),
        ({"message": "m", "level": "mid"}, "level", "'mid' is not one of ['low', 'high']"),
        ({"message": "m", "colour": "red"}, "colour", "unexpected (not in the schema)"),
    ],
)
def test_the_failing_field_is_named(params: dict[str, Any], field: str, message: str) -> None:
    error = failure(params)
    assert (error.field, error.message) == (field, message)
    assert error.reason == "invalid_parameters"
    assert str(error) == f"invalid_parameters: {field}: {message}"


def test_every_problem_is_listed() -> None:
    error = failure({"count": "2", "x": 1, "y": 2})
    assert sorted(error.errors) == [
        ("count", "'2' is not of type 'integer'"),
        ("message", "required"),
        ("x", "unexpected (not in the schema)"),
        ("y", "unexpected (not in the schema)"),
    ]


def test_a_root_problem_names_the_root() -> None:
    error = failure({"a": 1}, {"type": "object", "maxProperties": 0})
    assert error.field == "(root)"


def test_an_empty_schema_accepts_anything() -> None:
    assert validate_parameters({"anything": [1]}, {}) == {"anything": [1]}


def test_an_invalid_schema_is_a_definition_error() -> None:
    assert schema_errors({"type": "obj"}) == [
        ("parameters_schema.type", "'obj' is not valid under any of the given schemas")
    ]
    assert schema_errors([]) == [("parameters_schema", "must be a JSON Schema object")]
    assert schema_errors(SCHEMA) == []
    with pytest.raises(DefinitionError, match="parameters_schema.type"):
        validate_parameters({}, {"type": "obj"})


def test_a_schema_used_again_gives_fresh_defaults_and_the_same_verdicts() -> None:
    """The same schema object is prepared once and reused: its defaults are still copied per call,
    and each call is judged on its own parameters."""
    first = validate_parameters({"message": "a"}, SCHEMA)
    first["options"]["retries"] = 99
    assert validate_parameters({"message": "b"}, SCHEMA)["options"] == {"retries": 3}
    assert failure({"message": "c", "count": 0}).errors == [("count", "0 is less than the minimum of 1")]
    assert validate_parameters({"message": "d", "count": 2}, SCHEMA)["count"] == 2
    # an equal schema, another object: the same verdict
    assert failure({"count": 0}, dict(SCHEMA)).errors == failure({"count": 0}).errors
