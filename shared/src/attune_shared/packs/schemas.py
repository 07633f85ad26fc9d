"""JSON Schema checks for pack files: schemas against their meta-schema, values against schemas."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attune_shared.json_schema import compiled, validator_class
from attune_shared.packs.problems import dotted
from attune_shared.yamlfile import yaml11_boolean

#: Keywords whose value is a boolean (JSON Schema's, and StackStorm's ``secret`` and ``immutable``;
#: ``required`` is one in a StackStorm parameter). Where a keyword also takes a schema or a number,
#: a YAML 1.1 ``yes``/``no`` is still only valid as a boolean.
BOOLEAN_KEYWORDS = frozenset(
    {
        "required",
        "secret",
        "immutable",
        "uniqueItems",
        "readOnly",
        "writeOnly",
        "deprecated",
        "additionalProperties",
        "additionalItems",
        "unevaluatedProperties",
        "unevaluatedItems",
        "exclusiveMinimum",
        "exclusiveMaximum",
    }
)
#: Keywords holding one subschema, a mapping of subschemas, or a list of them (``items`` in draft 4).
_SUBSCHEMA = (
    "items",
    "additionalProperties",
    "additionalItems",
    "unevaluatedProperties",
    "unevaluatedItems",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
)
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SUBSCHEMA_LISTS = ("items", "prefixItems", "allOf", "anyOf", "oneOf")


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


def flat_parameters_schema(
    parameters: Mapping[str, Mapping[str, Any]], *, closed: bool = False
) -> dict[str, Any]:
    """A StackStorm-style parameter map as a JSON Schema object.

    ``{name: {type, description, default, required: true, ...}}`` becomes
    ``{"type": "object", "properties": {name: {type, description, default, ...}}, "required": [...]}``;
    every key but ``required`` is kept as a keyword of the property's schema (``secret``,
    ``immutable`` and ``position`` as annotations). Nested ``properties`` written the same way
    (a boolean ``required`` on each) are converted too, and YAML 1.1 booleans where booleans are
    meant (:func:`schema_booleans`). ``closed`` refuses other parameters
    (``additionalProperties: false``, as StackStorm does for actions).
    """
    parameters = {name: _subschema(spec) for name, spec in parameters.items()}
    schema: dict[str, Any] = {"type": "object", "properties": _properties(parameters)}
    required = _required(parameters)
    if required:
        schema["required"] = required
    if closed:
        schema["additionalProperties"] = False
    return schema


def schema_booleans(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` with each YAML 1.1 ``yes``/``no``/``on``/``off`` where a boolean is meant made one.

    That is the value of a boolean keyword (:data:`BOOLEAN_KEYWORDS`), and the ``default``,
    ``const``, ``enum`` and ``examples`` of a ``type: boolean`` schema; in every subschema. Elsewhere
    (``enum: [yes, no]`` of a string) the words stay strings. See :mod:`attune_shared.yamlfile`.
    """
    out = dict(schema)
    for keyword in BOOLEAN_KEYWORDS & out.keys():
        out[keyword] = yaml11_boolean(out[keyword])
    if _is_boolean(out):
        for keyword in ("default", "const"):
            if keyword in out:
                out[keyword] = yaml11_boolean(out[keyword])
        for keyword in ("enum", "examples"):
            if isinstance(out.get(keyword), list):
                out[keyword] = [yaml11_boolean(v) for v in out[keyword]]
    for keyword in _SUBSCHEMA:
        if isinstance(out.get(keyword), Mapping):
            out[keyword] = schema_booleans(out[keyword])
    for keyword in _SUBSCHEMA_MAPS:
        if isinstance(out.get(keyword), Mapping):
            out[keyword] = {k: _subschema(v) for k, v in out[keyword].items()}
    for keyword in _SUBSCHEMA_LISTS:
        if isinstance(out.get(keyword), list):
            out[keyword] = [_subschema(v) for v in out[keyword]]
    return out


def instance_booleans(schema: Mapping[str, Any], instance: Any) -> Any:
    """``instance`` (a pack config, a rule's parameters) with each YAML 1.1 ``yes``/``no``/``on``/``off``
    that ``schema`` says is a boolean made one, following ``properties``, ``additionalProperties``
    and ``items``."""
    if _is_boolean(schema):
        return yaml11_boolean(instance)
    if isinstance(instance, Mapping):
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        others = schema.get("additionalProperties")
        return {key: _instance(properties.get(key, others), value) for key, value in instance.items()}
    if isinstance(instance, list):
        return [_instance(schema.get("items"), value) for value in instance]
    return instance


def _instance(schema: Any, instance: Any) -> Any:
    return instance_booleans(schema, instance) if isinstance(schema, Mapping) else instance


def _subschema(value: Any) -> Any:
    return schema_booleans(value) if isinstance(value, Mapping) else value


def _is_boolean(schema: Mapping[str, Any]) -> bool:
    """A schema whose instances are booleans (``type: boolean``, or ``[boolean, null]``; not with string)."""
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    return "boolean" in kinds and "string" not in kinds


def _properties(parameters: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _property(spec) for name, spec in parameters.items()}


def _property(spec: Any) -> Any:
    if not isinstance(spec, Mapping):
        return spec
    converted = {k: v for k, v in spec.items() if not (k == "required" and isinstance(v, bool))}
    nested = spec.get("properties")
    if isinstance(nested, Mapping) and all(isinstance(v, Mapping) for v in nested.values()):
        converted["properties"] = _properties(nested)
        required = _required(nested)
        if required:
            converted["required"] = sorted(set(required) | set(_list(spec.get("required"))))
    items = spec.get("items")
    if isinstance(items, Mapping):
        converted["items"] = _property(items)
    return converted


def _required(parameters: Mapping[str, Any]) -> list[str]:
    return [
        name
        for name, spec in parameters.items()
        if isinstance(spec, Mapping) and spec.get("required") is True
    ]


def _list(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
