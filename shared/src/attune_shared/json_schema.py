"""JSON Schema validators, compiled once per schema.

Schemas without ``$schema`` are read as JSON Schema 2020-12. Compiled validators are cached by the
schema's canonical JSON, so callers may ask for one per message or per request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from attune_shared.errors import DefinitionError

DEFAULT_VALIDATOR = Draft202012Validator


def _date_time(value: object) -> bool:
    if isinstance(value, str):
        datetime.fromisoformat(value)
    return True


#: Checks ``format`` where a document asks for it (pack files); elsewhere it is an annotation only,
#: as JSON Schema specifies.
FORMAT_CHECKER = FormatChecker()
# jsonschema checks date-time only with an optional package; ISO 8601 as the standard library reads it
# is enough here (a timer's `fire_at` may omit the offset and name a `timezone` instead)
FORMAT_CHECKER.checkers["date-time"] = (_date_time, ValueError)


def validator_class(schema: Mapping[str, Any]) -> type[Validator]:
    """The validator class of ``schema``'s ``$schema`` (2020-12 when it names none)."""
    cls: type[Validator] = validator_for(schema, default=DEFAULT_VALIDATOR)
    return cls


def compiled(schema: Mapping[str, Any], *, check_formats: bool = False) -> Validator:
    """A validator for ``schema``, compiled once per distinct schema.

    :raises DefinitionError: naming the field of the schema that is invalid.
    """
    return _compile(json.dumps(schema, sort_keys=True, default=str), check_formats)


@lru_cache(maxsize=512)
def _compile(schema_json: str, check_formats: bool) -> Validator:
    schema = json.loads(schema_json)
    cls = validator_class(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        field = ".".join(str(p) for p in exc.absolute_path) or "(root)"
        raise DefinitionError([(field, exc.message)]) from None
    return cls(schema, format_checker=FORMAT_CHECKER if check_formats else None)
