"""Evaluating Orquesta expressions: YAQL between ``<% %>``, Jinja between ``{{ }}`` / ``{% %}``.

As Orquesta: dicts (keys too) and lists are evaluated recursively; a string that is exactly one
expression gives the expression's value with its type, otherwise each expression is replaced
by its text; string results are evaluated again (data holding ``<% %>`` runs); a Jinja ``{% %}``
block renders the whole string, so its result is always a string. YAQL is the ``yaql`` library
and Jinja :class:`attune_shared.sandbox.Sandbox` (bounded in time and memory); the functions are in :mod:`.functions`.
"""

from __future__ import annotations

import collections.abc  # noqa: F401 - yaql reads collections.abc without importing it
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

import jinja2
import yaql
from jinja2.parser import Parser
from yaql.language import contexts as yaql_contexts
from yaql.language import exceptions as yaql_exceptions
from yaql.language import factory as yaql_factory
from yaql.language import specs as yaql_specs
from yaql.language import utils as yaql_utils
from yaql.language import yaqltypes

from attune_shared.sandbox import MAX_ITEMS, MAX_SIZE, Sandbox, TemplateLimitError, bounded, spend
from attune_shared.workflows.errors import (
    ExpressionEvaluationException,
    JinjaEvaluationException,
    ResultsNeeded,
    YaqlEvaluationException,
)
from attune_shared.workflows.functions import CONTEXT_FUNCTIONS, PLAIN_FUNCTIONS, Scope, plain

YAQL: Final = "yaql"
JINJA: Final = "jinja"

YAQL_PATTERN: Final = "<%.*?%>"
JINJA_PATTERN: Final = "{{.*?}}"
_YAQL = re.compile(YAQL_PATTERN)
_JINJA = re.compile(JINJA_PATTERN)
_JINJA_BLOCK = re.compile("{%.*?%}")
_JINJA_RAW = re.compile("{% raw %}.*?{% endraw %}")

# A variable reference: ctx().x, ctx(x), ctx('x'), ctx("x") (the name is what inspection checks).
_CTX_REFERENCE = re.compile(r"""\bctx\(['"]?[][a-zA-Z0-9_'"\.()]*['"]?\)\.?[][a-zA-Z0-9_'"\.()]*""")
_NAME = r"[a-zA-Z0-9_-]+"
_CTX_NAMES = (
    re.compile(rf"(?<=\bctx\(\)\.)({_NAME})\b(?!\()\.?"),
    re.compile(rf"(?:\bctx\(({_NAME})\))"),
    re.compile(rf"(?:\bctx\('({_NAME})'\))"),
    re.compile(rf'(?:\bctx\("({_NAME})"\))'),
)


def _limited(items: Iterable[Any]) -> Iterator[Any]:
    for count, item in enumerate(items):
        if count >= MAX_ITEMS:
            raise TemplateLimitError(f"a collection of more than {MAX_ITEMS} items")
        spend()
        yield item


def _yaql_function(*decorators: Any) -> Callable[[Callable[..., Any]], Any]:
    """YAQL's decorators (``specs.parameter``, ``specs.name``…) applied as one typed decorator."""

    def apply(function: Callable[..., Any]) -> Any:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


# YAQL's own generators, bounded: each item is a step, and at most MAX_ITEMS (``sequence()`` and
# ``repeat()`` are endless, and ``range(0, 10**9).len()`` counts without calling any function).
@_yaql_function(yaql_specs.parameter("stop", int), yaql_specs.name("range"))
def _range(stop: int) -> Iterator[int]:
    return _limited(range(stop))


@_yaql_function(
    yaql_specs.parameter("start", int),
    yaql_specs.parameter("stop", int),
    yaql_specs.parameter("step", int),
    yaql_specs.name("range"),
)
def _range_from(start: int, stop: int, step: int = 1) -> Iterator[int]:
    return _limited(range(start, stop, step))


@_yaql_function(
    yaql_specs.parameter("start", int), yaql_specs.parameter("step", int), yaql_specs.name("sequence")
)
def _sequence(start: int = 0, step: int = 1) -> Iterator[int]:
    return _limited(itertools.count(start, step))


@_yaql_function(
    yaql_specs.method,
    yaql_specs.parameter("value", nullable=True),
    yaql_specs.parameter("times", int),
    yaql_specs.name("repeat"),
)
def _repeat(value: Any, times: int = -1) -> Iterator[Any]:
    return _limited(itertools.repeat(value) if times < 0 else itertools.repeat(value, times))


@_yaql_function(
    yaql_specs.method, yaql_specs.parameter("collection", yaqltypes.Iterable()), yaql_specs.name("cycle")
)
def _cycle(collection: Iterable[Any]) -> Iterator[Any]:
    return _limited(itertools.cycle(collection))


_GENERATORS: Final = (_range, _range_from, _sequence, _repeat, _cycle)


def _yaql_root() -> Any:
    root = yaql.create_context()
    for name in ("range", "sequence", "repeat", "cycle"):
        for spec in list(root.get_functions(name)[0]):
            root.delete_function(spec)
    for generator in _GENERATORS:
        root.register_function(generator)
    for name, function in PLAIN_FUNCTIONS.items():
        root.register_function(_yaql_plain(function), name=name, exclusive=True)
    for name, function in CONTEXT_FUNCTIONS.items():
        root.register_function(_yaql_scoped(function), name=name, exclusive=True)
    return root


def _yaql_plain(function: Any) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        return function(*plain(list(args)), **plain(kwargs))

    return call


def _yaql_scoped(function: Any) -> Any:
    def call(context: Any, *args: Any, **kwargs: Any) -> Any:
        return yaql_utils.convert_input_data(
            function(context["__scope"], *plain(list(args)), **plain(kwargs))
        )

    return call


class _BoundedContext(yaql_contexts.Context):  # type: ignore[misc]
    """A YAQL context whose every function call (operators too) is a step of the sandbox's budget."""

    def collect_functions(self, *args: Any, **kwargs: Any) -> Any:
        spend()
        return super().collect_functions(*args, **kwargs)

    def create_child_context(self) -> Any:
        return _BoundedContext(self)


#: The sandbox's limits for YAQL: collections of at most MAX_ITEMS items, and
#: no value over MAX_SIZE characters (UCS-4: 4 bytes each) built by a function.
_YAQL_LIMITS: Final = {"yaql.limitIterators": MAX_ITEMS, "yaql.memoryQuota": 4 * MAX_SIZE}
_YAQL_ENGINE: Final = yaql_factory.YaqlFactory().create(options=_YAQL_LIMITS)
_YAQL_ROOT: Final = _yaql_root()
_JINJA_ENV: Final = Sandbox(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_JINJA_ENV.add_filters(PLAIN_FUNCTIONS)


def has_yaql(text: str) -> bool:
    """Whether ``text`` holds a ``<% %>`` expression."""
    return bool(_YAQL.search(text))


def has_jinja(text: str) -> bool:
    """Whether ``text`` holds a ``{{ }}`` expression or a ``{% %}`` block."""
    return bool(_JINJA.search(text) or _JINJA_BLOCK.search(text))


def has_expressions(value: Any) -> bool:
    """Whether the string ``value`` holds an expression of either language."""
    return isinstance(value, str) and (has_yaql(value) or has_jinja(value))


def evaluate(statement: Any, scope: Scope) -> Any:
    """``statement`` with every expression in it evaluated against ``scope``.

    Raises :class:`YaqlEvaluationException` / :class:`JinjaEvaluationException` with Orquesta's
    messages (``Unable to evaluate expression '<% … %>'. <Error>: <text>``).
    """
    if isinstance(statement, dict):
        return {evaluate(key, scope): evaluate(value, scope) for key, value in statement.items()}
    if isinstance(statement, list):
        return [evaluate(item, scope) for item in statement]
    if isinstance(statement, str):
        if has_yaql(statement):
            return _evaluate_yaql(statement, scope)
        if has_jinja(statement):
            return _evaluate_jinja(statement, scope)
    return statement


def _strip(expression: str, delimiter: str) -> str:
    return expression.strip(delimiter).strip()


def _evaluate_yaql(text: str, scope: Scope) -> Any:
    expressions = _YAQL.findall(text)
    output: Any = text
    expression = text
    try:
        for expression in expressions:
            parsed = _YAQL_ENGINE(_strip(expression, "<%>"))
            result = bounded(_run_yaql, parsed, scope)
            if isinstance(result, str):
                result = _evaluate_yaql(result, scope) if has_yaql(result) else result
            if len(expressions) > 1 or len(output) > len(expression):
                output = output.replace(expression, str(result))
            else:
                output = result
    except (ResultsNeeded, YaqlEvaluationException):
        raise
    except KeyError as exc:
        key = str(exc).strip("'")
        message = f"Unable to resolve key '{key}' in expression '{expression}' from context."
        raise YaqlEvaluationException(message) from exc
    except (yaql_exceptions.YaqlException, ValueError, TypeError) as exc:
        detail = str(exc).strip("'")
        message = f"Unable to evaluate expression '{expression}'. {type(exc).__name__}: {detail}"
        raise YaqlEvaluationException(message) from exc
    except Exception as exc:
        message = f"Unable to evaluate expression '{expression}'. {type(exc).__name__}: {exc}"
        raise YaqlEvaluationException(message) from exc
    return output


def _run_yaql(parsed: Any, scope: Scope) -> Any:
    result = parsed.evaluate(context=_yaql_context(scope))
    return list(result) if isinstance(result, Iterator) else result


def _yaql_context(scope: Scope) -> Any:
    context = _BoundedContext(_YAQL_ROOT)
    context["__scope"] = scope
    return context


def _jinja_context(scope: Scope) -> dict[str, Any]:
    context: dict[str, Any] = dict(PLAIN_FUNCTIONS)
    for name, function in CONTEXT_FUNCTIONS.items():
        context[name] = _bind(function, scope)
    return context


def _bind(function: Any, scope: Scope) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        return function(scope, *args, **kwargs)

    return call


def _evaluate_jinja(text: str, scope: Scope) -> Any:
    raw_blocks = _JINJA_RAW.findall(text)
    for index, block in enumerate(raw_blocks):
        text = text.replace(block, f"{{{index}}}")
    output = _expand_jinja(text, scope)
    if isinstance(output, str):
        unresolved = [_strip(expression, "{}") for expression in _JINJA.findall(output)]
        if unresolved:
            raise JinjaEvaluationException(f"There are unresolved variables: {', '.join(unresolved)}")
        if raw_blocks:
            for index, block in enumerate(raw_blocks):
                output = output.replace(f"{{{index}}}", block)
            output = _JINJA_ENV.from_string(output).render(_jinja_context(scope))
    return output


def _expand_jinja(text: str, scope: Scope) -> Any:
    expressions = _JINJA.findall(text)
    blocks = _JINJA_BLOCK.findall(text)
    context = _jinja_context(scope)
    output: Any = text
    expression = text
    try:
        if blocks:
            output = _expand_jinja(_JINJA_ENV.from_string(text).render(context), scope)
        else:
            for expression in expressions:
                compiled = _JINJA_ENV.compile_expression(_strip(expression, "{}"), undefined_to_none=False)
                result = compiled(**context)
                if isinstance(result, Iterator):
                    result = list(result)
                if isinstance(result, str):
                    result = _expand_jinja(result, scope)
                if isinstance(result, jinja2.StrictUndefined):
                    continue
                if len(expressions) > 1 or len(output) > len(expression):
                    output = output.replace(expression, str(result))
                else:
                    output = result
    except (ResultsNeeded, JinjaEvaluationException):
        raise
    except Exception as exc:
        message = f"Unable to evaluate expression '{expression}'. {type(exc).__name__}: {exc}"
        raise JinjaEvaluationException(message) from exc
    return output


def validate(statement: Any) -> list[dict[str, Any]]:
    """Grammar errors of every expression in ``statement``: ``{type, expression, message}``."""
    if isinstance(statement, dict):
        return [error for key, value in statement.items() for error in validate(key) + validate(value)]
    if isinstance(statement, list):
        return [error for item in statement for error in validate(item)]
    if not isinstance(statement, str):
        return []
    yaql_found, jinja_found = has_yaql(statement), has_jinja(statement)
    if yaql_found and jinja_found:
        return [_error(None, statement, "Expression with multiple types is not supported.")]
    if yaql_found:
        return _validate_yaql(statement)
    if jinja_found:
        return _validate_jinja(statement)
    return []


def _error(language: str | None, expression: str, message: str) -> dict[str, Any]:
    return {"type": language, "expression": expression, "message": message}


def _validate_yaql(text: str) -> list[dict[str, Any]]:
    errors = []
    for expression in _YAQL.findall(text):
        try:
            _YAQL_ENGINE(_strip(expression, "<%>"))
        except (yaql_exceptions.YaqlException, ValueError, TypeError) as exc:
            errors.append(_error(YAQL, expression, str(exc)))
    return errors


def _validate_jinja(text: str) -> list[dict[str, Any]]:
    errors = []
    try:
        _JINJA_ENV.parse(text)
    except jinja2.TemplateError as exc:
        errors.append(_error(JINJA, text, str(exc)))
    except RecursionError:
        return [_error(JINJA, text, "nested too deeply")]
    for expression in _JINJA.findall(text):
        if any(error["expression"] == expression for error in errors):
            continue
        try:
            Parser(_JINJA_ENV.overlay(), _strip(expression, "{}"), state="variable").parse_expression()
        except jinja2.TemplateError as exc:
            errors.append(_error(JINJA, expression, str(exc)))
    return errors


def referenced_variables(statement: Any) -> list[tuple[str, str, str]]:
    """``(language, statement, name)`` for each ``ctx`` variable ``statement`` reads, by name."""
    found: set[tuple[str, str, str]] = set()
    if isinstance(statement, dict):
        for key, value in statement.items():
            found.update(referenced_variables(key) + referenced_variables(value))
    elif isinstance(statement, list):
        for item in statement:
            found.update(referenced_variables(item))
    elif isinstance(statement, str):
        for language, pattern, delimiter in ((JINJA, _JINJA, "{}"), (YAQL, _YAQL, "<%>")):
            for expression in pattern.findall(statement):
                for reference in _CTX_REFERENCE.findall(_strip(expression, delimiter)):
                    for name_pattern in _CTX_NAMES:
                        match = name_pattern.search(reference.strip())
                        name = match.group(1) if match else ""
                        if name:
                            found.add((language, statement, name))
    return sorted(found, key=lambda variable: variable[2])


__all__ = [
    "JINJA",
    "YAQL",
    "ExpressionEvaluationException",
    "evaluate",
    "has_expressions",
    "referenced_variables",
    "validate",
]
