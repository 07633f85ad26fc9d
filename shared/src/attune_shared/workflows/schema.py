"""The JSON Schema of an Orquesta 1.0 workflow, as Orquesta validates it (draft 4).

Syntax errors carry paths into this schema (``properties.tasks.patternProperties.^\\w+$
.properties.input.oneOf``), so its shape follows Orquesta's, key for key.
"""

from __future__ import annotations

from typing import Any, Final

from attune_shared.workflows.expressions import JINJA_PATTERN, YAQL_PATTERN

_STRING: Final[dict[str, Any]] = {"type": "string", "minLength": 1}
_STRINGS: Final[dict[str, Any]] = {"type": "array", "items": _STRING, "uniqueItems": True, "minItems": 1}
_COUNT: Final[dict[str, Any]] = {"type": "integer", "minimum": 0}
_ANY: Final[dict[str, Any]] = {
    "anyOf": [
        {"type": kind} for kind in ("null", "array", "boolean", "integer", "number", "object", "string")
    ]
}
_NAME: Final = r"^\w+$"
_ONE_KEY: Final[dict[str, Any]] = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "patternProperties": {_NAME: _ANY},
}
_ONE_KEY_LIST: Final[dict[str, Any]] = {
    "type": "array",
    "items": _ONE_KEY,
    "uniqueItems": True,
    "minItems": 1,
}
_STRING_OR_COUNT: Final[dict[str, Any]] = {"oneOf": [_STRING, _COUNT]}

_EXPRESSION: Final = f"{YAQL_PATTERN}|{JINJA_PATTERN}"
#: ``<expr>``, ``x in <expr>`` or ``x, y in <expr>``.
ITEMS_PATTERN: Final = (
    rf"^(\s+)?({_EXPRESSION})(\s+)?$|^(\s+)?((\w+,\s?|\s+)+)?(\w+)\s+in\s+({_EXPRESSION})(\s+)?$"
)

TRANSITION: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "when": _STRING,
        "publish": {"oneOf": [_STRING, _ONE_KEY_LIST]},
        "do": {"oneOf": [_STRING, _STRINGS]},
    },
    "additionalProperties": False,
}

TASK: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "delay": _STRING_OR_COUNT,
        "join": {"oneOf": [{"enum": ["all"]}, _COUNT]},
        "with": {
            "type": "object",
            "properties": {
                "items": {"type": "string", "minLength": 1, "pattern": ITEMS_PATTERN},
                "concurrency": _STRING_OR_COUNT,
            },
            "additionalProperties": False,
        },
        "action": _STRING,
        "input": {
            "oneOf": [_STRING, {"type": "object", "minProperties": 1, "patternProperties": {_NAME: _ANY}}]
        },
        "retry": {
            "type": "object",
            "properties": {"when": _STRING, "count": _STRING_OR_COUNT, "delay": _STRING_OR_COUNT},
            "required": ["count"],
            "additionalProperties": False,
        },
        "next": {"type": "array", "items": TRANSITION},
    },
    "additionalProperties": False,
}

WORKFLOW: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "vars": _ONE_KEY_LIST,
        "input": {
            "type": "array",
            "items": {"oneOf": [_STRING, _ONE_KEY]},
            "uniqueItems": True,
            "minItems": 1,
        },
        "output": _ONE_KEY_LIST,
        "tasks": {"type": "object", "minProperties": 1, "patternProperties": {_NAME: TASK}},
        "name": _STRING,
        "version": {"anyOf": [_STRING, _COUNT, {"type": "number", "minimum": 0.0}], "enum": ["1.0", 1.0]},
        "description": _STRING,
        "tags": _STRINGS,
    },
    "required": ["tasks"],
    "additionalProperties": False,
}

#: The task names that are engine commands in ``do``.
RESERVED_NAMES: Final = ("continue", "fail", "noop", "retry")
