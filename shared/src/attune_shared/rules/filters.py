"""The StackStorm Jinja filters rules commonly use (``docs/source/reference/jinja.rst``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Final

import yaml


def _flags(ignorecase: bool) -> int:
    return re.IGNORECASE if ignorecase else 0


def to_complex(value: Any) -> str:
    """JSON text of ``value``; criteria patterns use it to keep rendered values typed."""
    return json.dumps(value)


def to_json_string(value: Any, indent: int | None = None, sort_keys: bool = False) -> str:
    """``value`` as JSON text."""
    return json.dumps(value, indent=indent, sort_keys=sort_keys)


def from_json_string(value: str) -> Any:
    """Parse JSON text."""
    return json.loads(value)


def to_yaml_string(value: Any, indent: int | None = None) -> str:
    """``value`` as YAML text."""
    return yaml.safe_dump(value, indent=indent, allow_unicode=True, default_flow_style=False)


def from_yaml_string(value: str) -> Any:
    """Parse YAML text (safe loader)."""
    return yaml.safe_load(value)


def json_escape(value: str) -> str:
    """``value`` escaped for use inside a JSON string literal."""
    return json.dumps(value)[1:-1]


def use_none(value: Any) -> Any:
    """A whole-string template already keeps None; kept so StackStorm rules render unchanged."""
    return value


def regex_match(value: str, pattern: str, ignorecase: bool = False) -> bool:
    """Whether ``pattern`` matches at the start of ``value``."""
    return re.match(pattern, value, _flags(ignorecase)) is not None


def regex_search(value: str, pattern: str, ignorecase: bool = False) -> bool:
    """Whether ``pattern`` matches anywhere in ``value``."""
    return re.search(pattern, value, _flags(ignorecase)) is not None


def regex_replace(value: str, pattern: str, replacement: str, ignorecase: bool = False) -> str:
    """``value`` with every match of ``pattern`` replaced."""
    return re.sub(pattern, replacement, value, flags=_flags(ignorecase))


def regex_substring(value: str, pattern: str, result_index: int = 0, ignorecase: bool = False) -> Any:
    """The ``result_index``-th match of ``pattern`` in ``value``."""
    return re.findall(pattern, value, _flags(ignorecase))[result_index]


FILTERS: Final[dict[str, Callable[..., Any]]] = {
    f.__name__: f
    for f in (
        to_complex,
        to_json_string,
        from_json_string,
        to_yaml_string,
        from_yaml_string,
        json_escape,
        use_none,
        regex_match,
        regex_search,
        regex_replace,
        regex_substring,
    )
}
