"""JSON Schema checks for pack files: schemas against their meta-schema, values against schemas."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attune_shared.json_schema import compiled, validator_class
from attune_shared.packs.problems import dotted


def schema_errors(schema: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Where and why ``schema`` is not a valid JSON Schema, as ``(dotted path, message)`` pairs."""
    meta = validator_class(schema)
    checker = meta(meta.META_SCHEMA)
    return sorted((dotted(error.absolute_path), error.message) for error in checker.iter_errors(dict(schema)))


def instance_errors(schema: Mapping[str, Any], instance: Any) -> list[tuple[str, str]]:
    """Where and why ``instance`` does not match ``schema`` (which must itself be valid)."""
    validator = compiled(schema, check_formats=True)
    return sorted((dotted(error.absolute_path), error.message) for error in validator.iter_errors(instance))


def with_defaults(schema: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` plus the ``default`` of every top-level property it does not set."""
    properties = schema.get("properties")
    filled = dict(values)
    if isinstance(properties, Mapping):
        for name, spec in properties.items():
            if name not in filled and isinstance(spec, Mapping) and "default" in spec:
                filled[name] = spec["default"]
    return filled


def flat_parameters_schema(parameters: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A StackStorm-style parameter map as a JSON Schema object.

    ``{name: {type, description, default, required: true, ...}}`` becomes
    ``{"type": "object", "properties": {name: {type, description, default, ...}}, "required": [...]}``;
    every key but ``required`` is kept as a keyword of the property's schema.
    """
    properties = {
        name: {k: v for k, v in spec.items() if k != "required"} for name, spec in parameters.items()
    }
    required = [name for name, spec in parameters.items() if spec.get("required") is True]
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema
