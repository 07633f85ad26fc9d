"""YAQL, the language between ``<% %>``: evaluation and grammar checks, bounded by the sandbox.

Imported on first use (by :mod:`.expressions`): the ``yaql`` library and its root context cost a
few megabytes that a service which never evaluates a workflow expression need not carry.
"""

from __future__ import annotations

import collections.abc  # noqa: F401 - yaql reads collections.abc without importing it
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

import yaql
from yaql.language import contexts as yaql_contexts
from yaql.language import exceptions as yaql_exceptions
from yaql.language import factory as yaql_factory
from yaql.language import specs as yaql_specs
from yaql.language import utils as yaql_utils
from yaql.language import yaqltypes

from attune_shared.sandbox import MAX_ITEMS, MAX_SIZE, TemplateLimitError, bounded, spend
from attune_shared.workflows.errors import ResultsNeeded, YaqlEvaluationException
from attune_shared.workflows.expressions import (
    YAQL,
    YAQL_EXPRESSION,
    grammar_error,
    has_yaql,
    put_result,
    unwrap,
)
from attune_shared.workflows.functions import CONTEXT_FUNCTIONS, PLAIN_FUNCTIONS, Scope, plain


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


def evaluate(text: str, scope: Scope) -> Any:
    """``text`` with each ``<% %>`` expression in it evaluated against ``scope``."""
    expressions = YAQL_EXPRESSION.findall(text)
    output: Any = text
    expression = text
    try:
        for expression in expressions:
            parsed = _YAQL_ENGINE(unwrap(expression, "<%>"))
            result = bounded(_run_yaql, parsed, scope)
            if isinstance(result, str):
                result = evaluate(result, scope) if has_yaql(result) else result
            output = put_result(output, expression, result, one_of_several=len(expressions) > 1)
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


def validate(text: str) -> list[dict[str, Any]]:
    """Grammar errors of each ``<% %>`` expression in ``text``."""
    errors = []
    for expression in YAQL_EXPRESSION.findall(text):
        try:
            _YAQL_ENGINE(unwrap(expression, "<%>"))
        except (yaql_exceptions.YaqlException, ValueError, TypeError) as exc:
            errors.append(grammar_error(YAQL, expression, str(exc)))
    return errors
