"""Secret values shown as ``********`` (a pack's config, StackStorm's ``secret: true`` in its schema).

Masking follows the schema into nested objects and arrays; a secret object or array is masked
whole. (Secret action parameters are sealed in their rows instead, see
:func:`attune_shared.parameters.seal`.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attune_shared.secrets import MASK


def mask_secrets(values: Any, schema: Mapping[str, Any]) -> Any:
    """``values`` with every value ``schema`` marks ``secret: true`` replaced by :data:`MASK`.

    ``values`` is not modified; without secrets in the schema it is returned as is.
    """
    if not has_secrets(schema):
        return values
    return _mask(values, schema)


def has_secrets(schema: Any) -> bool:
    """Whether ``schema`` (a JSON Schema, possibly nested) marks anything ``secret: true``."""
    if isinstance(schema, Mapping):
        if schema.get("secret") is True:
            return True
        return any(has_secrets(value) for value in schema.values())
    if isinstance(schema, list):
        return any(has_secrets(item) for item in schema)
    return False


def _mask(value: Any, schema: Any) -> Any:
    if not isinstance(schema, Mapping):
        return value
    if schema.get("secret") is True:
        return MASK if value is not None else None
    if isinstance(value, Mapping):
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        extra = schema.get("additionalProperties")
        return {
            key: _mask(item, properties.get(key, extra if isinstance(extra, Mapping) else None))
            for key, item in value.items()
        }
    if isinstance(value, list):
        items = schema.get("items")
        return [_mask(item, items) for item in value]
    return value
