"""Rule criteria: validation when a rule is loaded, evaluation against an event's context.

Pure: no I/O. A criterion that cannot be evaluated (bad key, unknown operator, a pattern that
does not render, an operator that raises) is "no match" with the error as its reason, never an
exception. See ``docs/criteria.md`` for every edge case.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from attune_shared.rules.keys import KeyPath, KeyPathError, parse_key, resolve
from attune_shared.rules.operators import (
    OPERATORS,
    REGEX_OPERATORS,
    SEARCH,
    SEARCH_CONDITIONS,
    TIMEDIFF_OPERATORS,
    canonical_name,
    parse_seconds,
)
from attune_shared.rules.results import CriterionResult, MatchResult, Outcome
from attune_shared.rules.templating import is_template, render_pattern, template_errors

#: Where criteria keys may point: the names of the rule context.
ROOTS: Final = frozenset({"trigger", "event", "rule", "pack"})
#: Inside ``search``, ``item`` is the list element being tested.
SEARCH_ROOTS: Final = ROOTS | {"item"}
CONDITIONS: Final = ("all", "any")

FieldErrors = list[tuple[str, str]]


@dataclass(frozen=True)
class Criterion:
    """One parsed criterion. ``operator`` is canonical, ``written`` as in the rule; ``children``
    are a search's item criteria."""

    key: str
    path: KeyPath
    operator: str
    written: str
    pattern: Any
    condition: str | None = None
    children: tuple[Criterion, ...] = ()


def parse_criterion(
    key: str, spec: Any, *, field: str, roots: frozenset[str] = ROOTS
) -> Criterion | FieldErrors:
    """Parse one ``key: {type, pattern[, condition]}`` entry, or list its problems by field."""
    errors: FieldErrors = []
    try:
        path = parse_key(key)
        if path.root not in roots:
            errors.append((field, f"key must start with one of {', '.join(sorted(roots))}"))
    except KeyPathError as exc:
        errors.append((field, f"invalid key: {exc}"))
    if not isinstance(spec, Mapping):
        return [*errors, (field, "must be a mapping with 'type' and 'pattern'")]
    unknown = sorted(str(name) for name in spec if name not in ("type", "pattern", "condition"))
    errors += [(f"{field}.{name}", "unknown key (expected type, pattern, condition)") for name in unknown]
    written = spec.get("type")
    operator = canonical_name(written) if isinstance(written, str) else None
    if written is None:
        errors.append((f"{field}.type", "required (the operator, e.g. equals)"))
    elif operator is None:
        errors.append((f"{field}.type", f"unknown operator {written!r}"))
    pattern, condition = spec.get("pattern"), spec.get("condition")
    children: tuple[Criterion, ...] = ()
    if operator == SEARCH:
        if condition not in SEARCH_CONDITIONS:
            errors.append((f"{field}.condition", f"must be one of {', '.join(SEARCH_CONDITIONS)}"))
        parsed = _parse_children(pattern, field=f"{field}.pattern")
        if isinstance(parsed, tuple):
            children = parsed
        else:
            errors += parsed
    else:
        if condition is not None:
            errors.append((f"{field}.condition", "only 'search' criteria take a condition"))
        if operator is not None:
            errors += _pattern_errors(operator, pattern, field=f"{field}.pattern")
    if errors:
        return errors
    assert operator is not None
    return Criterion(key, path, operator, str(written), pattern, condition, children)


def _parse_children(pattern: Any, *, field: str) -> tuple[Criterion, ...] | FieldErrors:
    if not isinstance(pattern, Mapping) or not pattern:
        return [(field, "a search pattern must map item keys (item.x) to criteria")]
    parsed = [
        parse_criterion(str(k), v, field=f"{field}.{k}", roots=SEARCH_ROOTS) for k, v in pattern.items()
    ]
    errors = [e for p in parsed if isinstance(p, list) for e in p]
    return errors or tuple(p for p in parsed if isinstance(p, Criterion))


def _pattern_errors(operator: str, pattern: Any, *, field: str) -> FieldErrors:
    if is_template(pattern):
        return template_errors(pattern, field=field)
    if operator in REGEX_OPERATORS and isinstance(pattern, str):
        try:
            re.compile(pattern)
        except re.error as exc:
            return [(field, f"invalid regular expression: {exc}")]
    if operator in TIMEDIFF_OPERATORS and pattern is not None:
        try:
            parse_seconds(pattern)
        except (TypeError, ValueError) as exc:
            return [(field, str(exc))]
    return []


def validate_criteria(criteria: Any, *, field: str = "criteria") -> FieldErrors:
    """Every problem of a rule's criteria as ``(field, message)``, e.g.
    ``("criteria.trigger.severity.type", "unknown operator 'equalz'")``. Empty when valid."""
    if criteria is None:
        return []
    if not isinstance(criteria, Mapping):
        return [(field, "must be a mapping of keys to {type, pattern}")]
    errors: FieldErrors = []
    for key, spec in criteria.items():
        parsed = parse_criterion(str(key), spec, field=f"{field}.{key}")
        if isinstance(parsed, list):
            errors += parsed
    return errors


def evaluate_criteria(
    criteria: Mapping[str, Any] | None,
    context: Mapping[str, Any],
    *,
    condition: str = "all",
    now: datetime | None = None,
) -> MatchResult:
    """Evaluate a rule's criteria (as stored: ``{key: {type, pattern}}``) against ``context``
    (see :func:`attune_shared.rules.context.build_context`).

    ``condition="all"`` stops at the first criterion that does not match, ``"any"`` at the first
    that does; the rest are reported ``skipped``. Empty criteria always match; non-empty criteria
    never match an empty payload (StackStorm). ``now`` (default: the current UTC time) is what the
    ``timediff`` operators measure against.
    """
    items = list((criteria or {}).items())
    if not items:
        return MatchResult(True, condition, ())
    if condition not in CONDITIONS:
        return _undecided(items, condition, f"unknown condition {condition!r} (expected all or any)")
    if not context.get("trigger"):
        return _undecided(items, condition, "the payload is empty; criteria never match an empty payload")
    clock = now or datetime.now(UTC)
    results: list[CriterionResult] = []
    decided: bool | None = None
    for key, spec in items:
        if decided is not None:
            results.append(_skipped(key, spec, f"condition {condition} already decided"))
            continue
        result = check_criterion(key, spec, context, now=clock)
        results.append(result)
        if result.matched == (condition == "any"):
            decided = result.matched
    matched = decided if decided is not None else condition == "all"
    return MatchResult(matched, condition, tuple(results), None if matched else _why(results, condition))


def check_criterion(
    key: str,
    spec: Any,
    context: Mapping[str, Any],
    *,
    now: datetime,
    roots: frozenset[str] = ROOTS,
) -> CriterionResult:
    """Parse and evaluate one criterion as stored; never raises."""
    parsed = parse_criterion(key, spec, field=key, roots=roots)
    if isinstance(parsed, list):
        field, message = parsed[0]
        operator = spec.get("type") if isinstance(spec, Mapping) else None
        pattern = spec.get("pattern") if isinstance(spec, Mapping) else None
        return CriterionResult(key, str(operator), pattern, None, False, "error", f"{field}: {message}")
    return _evaluate(parsed, context, now)


def _evaluate(criterion: Criterion, context: Mapping[str, Any], now: datetime) -> CriterionResult:
    key, written = criterion.key, criterion.written
    try:
        pattern = render_pattern(criterion.pattern, context)
    except Exception as exc:
        reason = f"pattern did not render: {_message(exc)}"
        return CriterionResult(key, written, criterion.pattern, None, False, "error", reason)
    found, value = resolve(criterion.path, context)

    def result(outcome: Outcome, reason: str | None = None) -> CriterionResult:
        return CriterionResult(key, written, pattern, value, found, outcome, reason)

    try:
        if criterion.operator == SEARCH:
            matched, why = _search(criterion, value, context, now)
            return result("matched") if matched else result("failed", why)
        operator = OPERATORS[criterion.operator]
        if pattern is None and operator.needs_pattern:
            return result("failed", f"the pattern is null; {criterion.operator} never matches a null pattern")
        if operator.test(value, pattern, now):
            return result("matched")
        return result("failed", operator.negation.format(value=_show(value, found), pattern=_show(pattern)))
    except Exception as exc:
        return result("error", f"{criterion.operator} failed: {_message(exc)}")


def _search(criterion: Criterion, value: Any, context: Mapping[str, Any], now: datetime) -> tuple[bool, str]:
    items = [value] if isinstance(value, Mapping) else value
    if not isinstance(items, list | tuple):
        raise TypeError(f"search needs a list (or an object), not {_show(value)}")
    item_test = all if criterion.condition in ("any", "all") else any
    list_test = any if criterion.condition in ("any", "any2any") else all
    item_matches = [
        item_test(_evaluate(child, {**context, "item": item}, now).matched for child in criterion.children)
        for item in items
    ]
    needs = "all child criteria" if item_test is all else "some child criterion"
    why = f"{sum(item_matches)} of {len(items)} items match {needs} (condition {criterion.condition})"
    return list_test(item_matches), why


def _skipped(key: str, spec: Any, reason: str) -> CriterionResult:
    operator = str(spec.get("type")) if isinstance(spec, Mapping) else "?"
    pattern = spec.get("pattern") if isinstance(spec, Mapping) else None
    return CriterionResult(key, operator, pattern, None, False, "skipped", reason)


def _undecided(items: list[tuple[str, Any]], condition: str, reason: str) -> MatchResult:
    return MatchResult(False, condition, tuple(_skipped(k, s, reason) for k, s in items), reason)


def _why(results: list[CriterionResult], condition: str) -> str:
    if condition == "any":
        return "no criterion matched (condition any)"
    failed = next(r for r in results if not r.matched)
    return f"{failed.key}: {failed.reason}"


def _show(value: Any, found: bool = True) -> str:
    if not found:
        return "(missing)"
    text = json.dumps(value, default=repr, ensure_ascii=False)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _message(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
