"""Action parameters checked against the action's ``parameters_schema`` (JSON Schema).

Used on rendered rule parameters (executor) and on parameters given to ``POST /executions``
(API) alike, before any execution row exists.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema import ValidationError
from jsonschema.exceptions import SchemaError, relevance

from attune_shared.errors import DefinitionError, ParameterError
from attune_shared.json_schema import compiled, validator_class

#: The field of a problem with the parameters as a whole.
ROOT = "(root)"


def validate_parameters(params: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """Apply the ``default`` of each top-level property that ``params`` lacks, then validate.

    Returns the parameters with defaults applied (a new dict; ``params`` is not modified).
    An empty schema accepts anything. ``format`` is an annotation only, as JSON Schema specifies.

    :raises ParameterError: with the failing field (``count``, ``hosts[1]``, ``(root)``) and
        message of every problem, the most relevant first.
    :raises DefinitionError: when the schema itself is invalid (see :func:`schema_errors`).
    """
    try:
        validator = compiled(schema)
    except DefinitionError:
        raise DefinitionError(schema_errors(schema)) from None
    values = dict(params)
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        for name, spec in properties.items():
            if name not in values and isinstance(spec, Mapping) and "default" in spec:
                values[name] = copy.deepcopy(spec["default"])
    errors = sorted(validator.iter_errors(values), key=relevance, reverse=True)
    if errors:
        raise ParameterError([problem for error in errors for problem in _describe(error)])
    return values


def schema_errors(schema: Any, *, field: str = "parameters_schema") -> list[tuple[str, str]]:
    """Why ``schema`` is not a valid JSON Schema for parameters, as ``(field, message)``; empty if valid."""
    if not isinstance(schema, Mapping):
        return [(field or ROOT, "must be a JSON Schema object")]
    try:
        validator_class(schema).check_schema(schema)
    except SchemaError as exc:
        return [(_join(field, exc.absolute_path) or ROOT, exc.message)]
    return []


def _describe(error: ValidationError) -> list[tuple[str, str]]:
    path = list(error.absolute_path)
    instance, schema = error.instance, error.schema
    if error.validator == "required" and isinstance(instance, Mapping):
        missing = [n for n in error.validator_value if n not in instance]
        name = next((n for n in missing if error.message.startswith(repr(n))), None)
        if name is not None:
            return [(_join("", [*path, name]), "required")]
    if (
        error.validator == "additionalProperties"
        and error.validator_value is False
        and isinstance(instance, Mapping)
        and isinstance(schema, Mapping)
        and "patternProperties" not in schema
    ):
        known = schema.get("properties") or {}
        return [
            (_join("", [*path, name]), "unexpected (not in the schema)")
            for name in instance
            if name not in known
        ]
    return [(_join("", path) or ROOT, error.message)]


def _join(base: str, path: Iterable[str | int]) -> str:
    field = base
    for part in path:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    return field
