"""Every StackStorm operator and alias, with the edge cases of docs/criteria.md."""

from datetime import UTC, datetime
from typing import Any

import pytest

from attune_shared.rules import build_context, evaluate_criteria
from attune_shared.rules.operators import ALIASES, OPERATORS, SEARCH, canonical_name, operator_names

NOW = datetime(2024, 1, 1, 0, 1, tzinfo=UTC)
MISSING = object()

M, F, E = "matched", "failed", "error"

CASES: list[tuple[str, Any, Any, str]] = [
    # equals / eq: no coercion, any type, bytes decoded, None pattern never matches
    ("equals", "a", "a", M),
    ("eq", "a", "b", F),
    ("equals", 1, "1", F),
    ("equals", 1, 1.0, M),
    ("equals", [1, 2], [1, 2], M),
    ("equals", {"a": 1}, {"a": 1}, M),
    ("equals", b"abc", "abc", M),
    ("equals", None, None, F),
    ("equals", MISSING, "a", F),
    ("EQUALS", "a", "a", M),
    ("Eq", "a", "a", M),
    # nequals / neq: no None guard, so missing and null values differ from any pattern
    ("nequals", "a", "b", M),
    ("neq", "a", "a", F),
    ("nequals", MISSING, "x", M),
    ("nequals", None, "x", M),
    ("nequals", "a", None, M),
    ("nequals", None, None, F),
    # iequals / ieq: strings only
    ("iequals", "ABC", "abc", M),
    ("ieq", "abc", "abd", F),
    ("iequals", b"ABC", "abc", M),
    ("iequals", 1, "1", E),
    ("iequals", MISSING, "a", E),
    ("iequals", "a", None, F),
    # contains: substring, list membership, dict key
    ("contains", "hello world", "world", M),
    ("contains", ["a", "b"], "b", M),
    ("contains", {"k": 1}, "k", M),
    ("contains", "hello", "xyz", F),
    ("contains", "Hello", "hello", F),
    ("contains", b"hello", "ell", M),
    ("contains", MISSING, "a", E),
    ("contains", 5, "5", E),
    ("contains", "abc", None, F),
    # ncontains: a missing value raises, so no match
    ("ncontains", "hello", "xyz", M),
    ("ncontains", "hello", "ell", F),
    ("ncontains", ["a"], "a", F),
    ("ncontains", MISSING, "a", E),
    ("ncontains", "a", None, F),
    # icontains / incontains: strings only
    ("icontains", "Hello World", "WORLD", M),
    ("icontains", "hello", "xyz", F),
    ("icontains", ["A"], "a", E),
    ("icontains", MISSING, "a", E),
    ("incontains", "Hello", "XYZ", M),
    ("incontains", "Hello", "HELL", F),
    ("incontains", 5, "a", E),
    # startswith / istartswith / endswith / iendswith
    ("startswith", "web-1", "web", M),
    ("startswith", "db-1", "web", F),
    ("startswith", "Web-1", "web", F),
    ("startswith", 5, "5", E),
    ("startswith", MISSING, "w", E),
    ("startswith", "web", None, F),
    ("istartswith", "Web-1", "WEB", M),
    ("istartswith", "db", "web", F),
    ("endswith", "file.log", ".log", M),
    ("endswith", "file.LOG", ".log", F),
    ("endswith", None, ".log", E),
    ("iendswith", "file.LOG", ".log", M),
    ("iendswith", "file.txt", ".log", F),
    # lessthan / lt, greaterthan / gt: Python comparison, mixed types raise
    ("lessthan", 1, 2, M),
    ("lt", 2, 1, F),
    ("lt", 1.5, 2, M),
    ("lessthan", "a", "b", M),
    ("lt", 1, "2", E),
    ("lt", MISSING, 5, E),
    ("lt", 1, None, F),
    ("greaterthan", 3, 2, M),
    ("gt", 2, 2, F),
    ("gt", "b", "a", M),
    ("gt", None, 1, E),
    # matchwildcard: whole-string glob, case-sensitive everywhere
    ("matchwildcard", "server-01.example.com", "server-*.example.com", M),
    ("matchwildcard", "a.txt", "?.txt", M),
    ("matchwildcard", "a.txt", "[bc].txt", F),
    ("matchwildcard", "A.TXT", "a.*", F),
    ("matchwildcard", "a.txt.bak", "*.txt", F),
    ("matchwildcard", 5, "*", E),
    # regex: re.search, case-sensitive, not multiline
    ("regex", "error: disk full", "disk", M),
    ("regex", "Disk", "disk", F),
    ("regex", "line1\nline2", "^line2", F),
    ("regex", 5, "5", E),
    ("regex", MISSING, ".*", E),
    ("iregex", "DISK full", "disk", M),
    ("iregex", "abc", "x", F),
    # matchregex: re.match (anchored) with DOTALL
    ("matchregex", "abc", "b", F),
    ("matchregex", "abc", "a.c", M),
    ("matchregex", "a\nc", "a.c", M),
    # timediff: now is 2024-01-01T00:01:00Z; naive dates are UTC
    ("timediff_lt", "2024-01-01T00:00:30+00:00", 60, M),
    ("td_lt", "2024-01-01T00:00:00+00:00", 30, F),
    ("timediff_gt", "2024-01-01T00:00:00+00:00", 30, M),
    ("td_gt", "2024-01-01T00:00:30+00:00", 60, F),
    ("timediff_lt", "2024-01-01T00:00:30", 60, M),
    ("timediff_lt", "2024-01-01T00:00:30Z", 60, M),
    ("timediff_lt", "2024-01-01 00:00:30", "60", M),
    ("timediff_gt", "2024-01-01T01:00:00+02:00", 3600, M),
    ("timediff_lt", "2024-01-01T02:00:30+02:00", 60, M),
    ("timediff_lt", "2024-01-01T00:00:30", 60.5, M),
    ("timediff_lt", "yesterday", 60, E),
    ("timediff_lt", 1704067200, 60, E),
    ("timediff_lt", MISSING, 60, E),
    ("timediff_lt", "2024-01-01T00:00:30", None, F),
    ("timediff_lt", "2024-01-01T00:00:30", "soon", E),
    ("timediff_lt", "2024-01-01T00:00:30", True, E),
    # exists / nexists: the pattern is ignored; null counts as not existing
    ("exists", "x", None, M),
    ("exists", 0, None, M),
    ("exists", "", None, M),
    ("exists", False, "ignored", M),
    ("exists", MISSING, None, F),
    ("exists", None, None, F),
    ("nexists", MISSING, None, M),
    ("nexists", None, None, M),
    ("nexists", False, None, F),
    # inside / in, ninside / nin: the reverse of contains
    ("inside", "b", ["a", "b"], M),
    ("in", "ell", "hello", M),
    ("inside", "z", ["a"], F),
    ("inside", 5, "12345", E),
    ("inside", MISSING, ["a"], F),
    ("inside", "a", None, F),
    ("inside", b"a", ["a"], M),
    ("ninside", "z", ["a"], M),
    ("nin", "a", ["a"], F),
    ("nin", MISSING, ["a"], M),
    ("ninside", "a", None, F),
]


def outcome(operator: str, value: Any, pattern: Any) -> str:
    payload: dict[str, Any] = {"other": 1}
    if value is not MISSING:
        payload["v"] = value
    spec: dict[str, Any] = {"type": operator}
    if pattern is not None:
        spec["pattern"] = pattern
    result = evaluate_criteria({"trigger.v": spec}, build_context(payload), now=NOW)
    (criterion,) = result.criteria
    assert result.matched == (criterion.outcome == M)
    assert (criterion.reason is None) == (criterion.outcome == M)
    return criterion.outcome


@pytest.mark.parametrize(("operator", "value", "pattern", "expected"), CASES)
def test_operator(operator: str, value: Any, pattern: Any, expected: str) -> None:
    assert outcome(operator, value, pattern) == expected


def test_the_table_covers_every_operator_and_alias() -> None:
    covered = {op.lower() for op, *_ in CASES}
    assert set(operator_names()) - {SEARCH} <= covered  # search: see test_criteria.py


def test_names_are_case_insensitive_and_aliases_resolve() -> None:
    assert canonical_name("TD_LT") == "timediff_lt"
    assert canonical_name("NIn") == "ninside"
    assert canonical_name("Search") == SEARCH
    assert canonical_name("equalz") is None
    assert set(ALIASES.values()) <= set(OPERATORS)


def test_a_false_result_explains_itself() -> None:
    result = evaluate_criteria(
        {"trigger.host": {"type": "startswith", "pattern": "web"}}, build_context({"host": "db1"})
    )
    assert result.reason == 'trigger.host: "db1" does not start with "web"'


def test_an_operator_error_is_recorded_not_raised() -> None:
    result = evaluate_criteria({"trigger.n": {"type": "lt", "pattern": 5}}, build_context({"n": "4"}))
    (criterion,) = result.criteria
    assert not result.matched
    assert criterion.outcome == "error"
    assert criterion.reason == "lessthan failed: '<' not supported between instances of 'str' and 'int'"


def test_timediff_defaults_to_the_current_time() -> None:
    recent = datetime.now(UTC).isoformat()
    result = evaluate_criteria(
        {"trigger.at": {"type": "td_lt", "pattern": 3600}}, build_context({"at": recent})
    )
    assert result.matched
