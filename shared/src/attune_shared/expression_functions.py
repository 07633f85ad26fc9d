"""StackStorm's expression functions, with StackStorm's results (``st2common/expressions/functions``).

Rule templates use them as Jinja filters, workflows as YAQL functions and Jinja globals or
filters: data (JSON, YAML, JSONPath), regular expressions, human time, semantic versions and paths.
"""

from __future__ import annotations

import datetime
import json
import os.path
import re
from collections.abc import Callable
from typing import Any, Final

import semver
import yaml

#: What ``use_none`` turns ``None`` into; StackStorm's parameter casting turns it back.
NONE_MAGIC_VALUE: Final = "%*****__%NONE%__*****%"


def from_json_string(value: Any) -> Any:
    """Parse JSON text (also ``json_parse``)."""
    return json.loads(str(value))


def from_yaml_string(value: Any) -> Any:
    """Parse YAML text with the safe loader (also ``yaml_parse``)."""
    return yaml.safe_load(str(value))


def to_json_string(
    value: Any, indent: int | None = None, sort_keys: bool = False, separators: Any = (",", ": ")
) -> str:
    """``value`` as JSON text (also ``json_dump``)."""
    options: dict[str, Any] = {"sort_keys": sort_keys}
    if indent is not None:
        options["indent"] = indent
    if separators is not None:
        options["separators"] = tuple(separators)
    return json.dumps(value, **options)


def to_yaml_string(value: Any, indent: int | None = None, allow_unicode: bool = True) -> str:
    """``value`` as block-style YAML text (also ``yaml_dump``)."""
    options: dict[str, Any] = {"default_flow_style": False}
    if indent is not None:
        options["indent"] = indent
    if allow_unicode is not None:
        options["allow_unicode"] = allow_unicode
    return str(yaml.safe_dump(value, **options))


def json_escape(value: Any) -> str:
    """``value`` as JSON with the surrounding double quotes stripped."""
    return json.dumps(value).strip('"')


def jsonpath_query(value: Any, query: str) -> list[Any] | None:
    """The values of ``value`` that the JSONPath ``query`` selects, or ``None`` when none does."""
    # imported on first use: its parser tables cost every service ~3 MB, and few workflows use it
    from jsonpath_ng.parser import parse as jsonpath_parse

    matches = [match.value for match in jsonpath_parse(query).find(value)]
    return matches or None


def use_none(value: Any) -> Any:
    """``None`` as StackStorm's magic string (so a parameter can be set to null), else ``value``."""
    return NONE_MAGIC_VALUE if value is None else value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _flags(ignorecase: bool) -> int:
    return re.IGNORECASE if ignorecase else 0


def regex_match(value: Any, pattern: str, ignorecase: bool = False) -> bool:
    """Whether ``pattern`` matches at the start of ``value``."""
    return bool(re.match(pattern, _text(value), _flags(ignorecase)))


def regex_search(value: Any, pattern: str, ignorecase: bool = False) -> bool:
    """Whether ``pattern`` matches anywhere in ``value``."""
    return bool(re.search(pattern, _text(value), _flags(ignorecase)))


def regex_replace(value: Any, pattern: str, replacement: str, ignorecase: bool = False) -> str:
    """``value`` with every match of ``pattern`` replaced."""
    return re.compile(pattern, _flags(ignorecase)).sub(replacement, _text(value))


def regex_substring(value: Any, pattern: str, result_index: int = 0, ignorecase: bool = False) -> Any:
    """The ``result_index``-th match of ``pattern`` (``IndexError`` when there are fewer)."""
    return re.findall(pattern, _text(value), _flags(ignorecase))[result_index]


def to_human_time_from_seconds(seconds: Any) -> str:
    """``3725`` -> ``"1h2m5s"``: years, days, hours, minutes, seconds, leading zeros dropped.

    As StackStorm's, months are not a unit: 40 days is ``"9d0h0m0s"`` (the day of the month).
    """
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        raise TypeError(f"{seconds!r} is not a number of seconds")
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds}\u03bcs"
    moment = datetime.datetime(1, 1, 1) + datetime.timedelta(seconds=round(seconds))
    parts = [moment.year - 1, moment.day - 1, moment.hour, moment.minute, moment.second]
    first = next((i for i, part in enumerate(parts) if part), None)
    if first is None:
        return "0s"
    units = "ydhms"[first:]
    return "".join(f"{part}{unit}" for part, unit in zip(parts[first:], units, strict=True))


def _version(value: Any) -> semver.Version:
    return semver.Version.parse(_text(value))


def version_compare(value: Any, pattern: Any) -> int:
    """-1, 0 or 1 as ``value`` is older than, equal to or newer than ``pattern`` (semver)."""
    return _version(value).compare(_text(pattern))


def version_more_than(value: Any, pattern: Any) -> bool:
    """Whether ``value`` is newer than ``pattern``."""
    return version_compare(value, pattern) == 1


def version_less_than(value: Any, pattern: Any) -> bool:
    """Whether ``value`` is older than ``pattern``."""
    return version_compare(value, pattern) == -1


def version_equal(value: Any, pattern: Any) -> bool:
    """Whether ``value`` and ``pattern`` are the same version."""
    return version_compare(value, pattern) == 0


def version_match(value: Any, pattern: str) -> bool:
    """Whether ``value`` satisfies ``pattern`` (``">=1.0.0"``, ``"<2.0.0"``, ``"==1.2.3"`` …)."""
    return bool(_version(value).match(pattern))


def version_bump_major(value: Any) -> str:
    """``1.2.3`` -> ``2.0.0``."""
    return str(_version(value).bump_major())


def version_bump_minor(value: Any) -> str:
    """``1.2.3`` -> ``1.3.0``."""
    return str(_version(value).bump_minor())


def version_bump_patch(value: Any) -> str:
    """``1.2.3`` -> ``1.2.4``."""
    return str(_version(value).bump_patch())


def version_strip_patch(value: Any) -> str:
    """``1.2.3`` -> ``1.2``."""
    version = _version(value)
    return f"{version.major}.{version.minor}"


def basename(path: str) -> str:
    """The last component of ``path``."""
    return os.path.basename(path)


def dirname(path: str) -> str:
    """``path`` without its last component."""
    return os.path.dirname(path)


#: Every helper under each name StackStorm registers it with.
FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    "basename": basename,
    "dirname": dirname,
    "from_json_string": from_json_string,
    "from_yaml_string": from_yaml_string,
    "json_dump": to_json_string,
    "json_escape": json_escape,
    "json_parse": from_json_string,
    "jsonpath_query": jsonpath_query,
    "regex_match": regex_match,
    "regex_replace": regex_replace,
    "regex_search": regex_search,
    "regex_substring": regex_substring,
    "to_human_time_from_seconds": to_human_time_from_seconds,
    "to_json_string": to_json_string,
    "to_yaml_string": to_yaml_string,
    "use_none": use_none,
    "version_bump_major": version_bump_major,
    "version_bump_minor": version_bump_minor,
    "version_bump_patch": version_bump_patch,
    "version_compare": version_compare,
    "version_equal": version_equal,
    "version_less_than": version_less_than,
    "version_match": version_match,
    "version_more_than": version_more_than,
    "version_strip_patch": version_strip_patch,
    "yaml_dump": to_yaml_string,
    "yaml_parse": from_yaml_string,
}
