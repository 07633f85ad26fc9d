"""The StackStorm criteria operators (``st2common/operators.py``), with their aliases.

Each test takes ``(value, pattern, now)`` and returns a bool or raises; the caller turns a raise
into "no match" with the error as the reason. ``search`` needs the evaluator and lives in
:mod:`attune_shared.rules.criteria`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any, Final

Test = Callable[[Any, Any, datetime], bool]

SEARCH: Final = "search"
SEARCH_CONDITIONS: Final = ("any", "all", "any2any", "all2any")
#: Operators whose pattern is a regular expression (checked when a rule is loaded).
REGEX_OPERATORS: Final = frozenset({"regex", "iregex", "matchregex"})
#: Operators whose pattern is a number of seconds.
TIMEDIFF_OPERATORS: Final = frozenset({"timediff_lt", "timediff_gt"})


@dataclass(frozen=True)
class Operator:
    """A criteria operator. ``negation`` explains a false result (``{value}``, ``{pattern}`` placeholders)."""

    name: str
    test: Test
    negation: str
    #: StackStorm returns false, without calling the test, when the pattern is None.
    needs_pattern: bool = True


def _decoded(value: Any) -> Any:
    """StackStorm decodes bytes (value and pattern) to UTF-8 before string comparisons."""
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _text(value: Any, role: str) -> str:
    value = _decoded(value)
    if not isinstance(value, str):
        raise TypeError(f"{role} must be a string, not {_type_name(value)}")
    return value


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _equals(value: Any, pattern: Any, _now: datetime) -> bool:
    return bool(_decoded(value) == _decoded(pattern))


def _nequals(value: Any, pattern: Any, _now: datetime) -> bool:
    return bool(_decoded(value) != _decoded(pattern))


def _iequals(value: Any, pattern: Any, _now: datetime) -> bool:
    return _text(value, "value").lower() == _text(pattern, "pattern").lower()


def _contains(value: Any, pattern: Any, _now: datetime) -> bool:
    return bool(_decoded(pattern) in _decoded(value))


def _ncontains(value: Any, pattern: Any, _now: datetime) -> bool:
    return bool(_decoded(pattern) not in _decoded(value))


def _icontains(value: Any, pattern: Any, _now: datetime) -> bool:
    return _text(pattern, "pattern").lower() in _text(value, "value").lower()


def _incontains(value: Any, pattern: Any, _now: datetime) -> bool:
    return _text(pattern, "pattern").lower() not in _text(value, "value").lower()


def _startswith(value: Any, pattern: Any, _now: datetime) -> bool:
    return _text(value, "value").startswith(_text(pattern, "pattern"))


def _istartswith(value: Any, pattern: Any, _now: datetime) -> bool:
    return _text(value, "value").lower().startswith(_text(pattern, "pattern").lower())


def _endswith(value: Any, pattern: Any, _now: datetime) -> bool:
    return _text(value, "value").endswith(_text(pattern, "pattern"))


def _iendswith(value: Any, pattern: Any, _now: datetime) -> bool:
    return _text(value, "value").lower().endswith(_text(pattern, "pattern").lower())


def _lessthan(value: Any, pattern: Any, _now: datetime) -> bool:
    return bool(value < pattern)


def _greaterthan(value: Any, pattern: Any, _now: datetime) -> bool:
    return bool(value > pattern)


def _matchwildcard(value: Any, pattern: Any, _now: datetime) -> bool:
    return fnmatchcase(_text(value, "value"), _text(pattern, "pattern"))


def _regex(value: Any, pattern: Any, _now: datetime) -> bool:
    return re.search(_text(pattern, "pattern"), _text(value, "value")) is not None


def _iregex(value: Any, pattern: Any, _now: datetime) -> bool:
    return re.search(_text(pattern, "pattern"), _text(value, "value"), re.IGNORECASE) is not None


def _matchregex(value: Any, pattern: Any, _now: datetime) -> bool:
    return re.match(_text(pattern, "pattern"), _text(value, "value"), re.DOTALL) is not None


def parse_date(value: Any) -> datetime:
    """An ISO 8601 date (or a ``datetime``) as an aware datetime; naive dates are UTC."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date") from None
    elif isinstance(value, datetime):
        parsed = value
    else:
        raise TypeError(f"value must be an ISO 8601 date string, not {_type_name(value)}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_seconds(pattern: Any) -> float:
    """A timediff pattern as seconds: a number or a numeric string (not a bool)."""
    if isinstance(pattern, bool) or not isinstance(pattern, int | float | str):
        raise TypeError(f"pattern must be a number of seconds, not {_type_name(pattern)}")
    try:
        return float(pattern)
    except ValueError:
        raise ValueError(f"pattern {pattern!r} is not a number of seconds") from None


def _age(value: Any, now: datetime) -> float:
    return (now - parse_date(_decoded(value))).total_seconds()


def _timediff_lt(value: Any, pattern: Any, now: datetime) -> bool:
    return _age(value, now) < parse_seconds(pattern)


def _timediff_gt(value: Any, pattern: Any, now: datetime) -> bool:
    return _age(value, now) > parse_seconds(pattern)


def _exists(value: Any, _pattern: Any, _now: datetime) -> bool:
    return value is not None


def _nexists(value: Any, _pattern: Any, _now: datetime) -> bool:
    return value is None


def _inside(value: Any, pattern: Any, _now: datetime) -> bool:
    return bool(_decoded(value) in _decoded(pattern))


def _ninside(value: Any, pattern: Any, _now: datetime) -> bool:
    return bool(_decoded(value) not in _decoded(pattern))


_OPERATORS: Final = (
    Operator("equals", _equals, "{value} does not equal {pattern}"),
    Operator("nequals", _nequals, "{value} equals {pattern}", needs_pattern=False),
    Operator("iequals", _iequals, "{value} does not equal {pattern} (ignoring case)"),
    Operator("contains", _contains, "{value} does not contain {pattern}"),
    Operator("ncontains", _ncontains, "{value} contains {pattern}"),
    Operator("icontains", _icontains, "{value} does not contain {pattern} (ignoring case)"),
    Operator("incontains", _incontains, "{value} contains {pattern} (ignoring case)"),
    Operator("startswith", _startswith, "{value} does not start with {pattern}"),
    Operator("istartswith", _istartswith, "{value} does not start with {pattern} (ignoring case)"),
    Operator("endswith", _endswith, "{value} does not end with {pattern}"),
    Operator("iendswith", _iendswith, "{value} does not end with {pattern} (ignoring case)"),
    Operator("lessthan", _lessthan, "{value} is not less than {pattern}"),
    Operator("greaterthan", _greaterthan, "{value} is not greater than {pattern}"),
    Operator("matchwildcard", _matchwildcard, "{value} does not match the wildcard {pattern}"),
    Operator("regex", _regex, "{value} does not match the regex {pattern}"),
    Operator("iregex", _iregex, "{value} does not match the regex {pattern} (ignoring case)"),
    Operator("matchregex", _matchregex, "{value} does not match the regex {pattern} at its start"),
    Operator("timediff_lt", _timediff_lt, "{value} is not less than {pattern} seconds old"),
    Operator("timediff_gt", _timediff_gt, "{value} is not more than {pattern} seconds old"),
    Operator("exists", _exists, "{value} does not exist", needs_pattern=False),
    Operator("nexists", _nexists, "{value} exists", needs_pattern=False),
    Operator("inside", _inside, "{value} is not inside {pattern}"),
    Operator("ninside", _ninside, "{value} is inside {pattern}"),
)

#: Short names StackStorm accepts for the long ones.
ALIASES: Final = {
    "eq": "equals",
    "neq": "nequals",
    "ieq": "iequals",
    "lt": "lessthan",
    "gt": "greaterthan",
    "td_lt": "timediff_lt",
    "td_gt": "timediff_gt",
    "in": "inside",
    "nin": "ninside",
}

#: Every operator by canonical name.
OPERATORS: Final = {op.name: op for op in _OPERATORS}


def canonical_name(name: str) -> str | None:
    """The canonical operator name for ``name`` (case-insensitive, aliases resolved), or None."""
    lowered = name.lower()
    lowered = ALIASES.get(lowered, lowered)
    return lowered if lowered in OPERATORS or lowered == SEARCH else None


def operator_names() -> list[str]:
    """Every accepted operator name, aliases included, sorted."""
    return sorted([*OPERATORS, SEARCH, *ALIASES])
