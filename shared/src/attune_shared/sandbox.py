"""The one Jinja sandbox every template and expression runs in, bounded in time and memory.

Rule parameters, criteria patterns, parameter defaults, notify data and Orquesta's Jinja
expressions are all written by people who may not be trusted (a pack author) and render data that
certainly is not (a webhook body). Jinja's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`
already refuses Python internals (``__class__``, ``__globals__``, function attributes) and
mutation of the data; :class:`Sandbox` adds the limits it lacks, per evaluation:

- **steps**: every call (function, method, macro, filter) and every loop iteration is a step; more
  than :data:`MAX_STEPS`, or more than :data:`MAX_SECONDS` of wall time, stops the evaluation
  (nested loops, exponential macro recursion);
- **size**: no string or list an operation builds may exceed :data:`MAX_SIZE` characters or items
  (``'x' * 10**9``, ``s ~ s`` doubled, ``center(10**9)``, ``join`` with a huge separator, a
  ``%`` or ``format`` width), nor the rendered text; an integer argument above the same bound is
  refused before the call, and ``**`` may not build a number of more than :data:`MAX_POWER_BITS`;
- **globals**: ``lipsum``, ``cycler`` and ``joiner`` are gone (no use in automation; ``lipsum``
  generates text); ``range`` keeps Jinja's 100,000-item bound.

Going over a limit raises :class:`TemplateLimitError` (a :class:`~jinja2.sandbox.SecurityError`),
which the callers report like any other rendering error: a failed enforcement or task naming the
field, never a crashed service. Deep recursion ends in Python's own ``RecursionError``, reported
the same way.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final

from jinja2 import nodes
from jinja2.environment import Environment, Template, TemplateExpression
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

#: Calls and loop iterations one evaluation may make.
MAX_STEPS: Final = 1_000_000
#: Wall time one evaluation may take, in seconds.
MAX_SECONDS: Final = 2.0
#: Characters of a string (or items of a list) an operation may build, and of a rendered text.
MAX_SIZE: Final = 4 * 1024 * 1024
#: Items of a collection a YAQL expression may build (Jinja's ``range`` has the same bound).
MAX_ITEMS: Final = 100_000
#: Bits of an integer ``**`` may build.
MAX_POWER_BITS: Final = 64 * 1024

_REMOVED_GLOBALS: Final = ("lipsum", "cycler", "joiner")
# string methods and Jinja filters whose integer arguments are sizes of what they build
# (elsewhere an integer is data: `default(86400000)`)
_SIZING: Final = frozenset(
    {
        "center",
        "ljust",
        "rjust",
        "zfill",
        "expandtabs",
        "indent",
        "wordwrap",
        "truncate",
        "batch",
        "slice",
        "tojson",
    }
)
# a width or precision in a printf-style or str.format spec: `%999999d`, `{:>999999}`
_WIDTH: Final = re.compile(r"\d{7,}")


class TemplateLimitError(SecurityError):
    """An evaluation went over one of the sandbox's limits."""


@dataclass
class _Budget:
    steps: int
    deadline: float

    def spend(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TemplateLimitError(
                f"the evaluation took more than {MAX_STEPS} steps (calls and loop iterations)"
            )
        if time.monotonic() > self.deadline:
            raise TemplateLimitError(f"the evaluation ran for more than {MAX_SECONDS:g} s")


_BUDGET: ContextVar[_Budget | None] = ContextVar("attune_template_budget", default=None)


def spend() -> None:
    """Count one step against the current evaluation's budget (none outside an evaluation).

    :raises TemplateLimitError: over :data:`MAX_STEPS` or :data:`MAX_SECONDS`.
    """
    budget = _BUDGET.get()
    if budget is not None:
        budget.spend()


def bounded(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` under a fresh budget of steps and time, or the current one when evaluations nest
    (YAQL expressions use it too: :mod:`attune_shared.workflows.expressions`)."""
    if _BUDGET.get() is not None:
        return function(*args, **kwargs)
    token = _BUDGET.set(_Budget(0, time.monotonic() + MAX_SECONDS))
    try:
        return function(*args, **kwargs)
    finally:
        _BUDGET.reset(token)


def check_size(value: Any) -> Any:
    """``value``, or :class:`TemplateLimitError` when it is a string or list over :data:`MAX_SIZE`."""
    if isinstance(value, str | bytes | list | tuple) and len(value) > MAX_SIZE:
        raise TemplateLimitError(f"a value of {len(value)} characters or items is over the {MAX_SIZE} limit")
    return value


def _check_widths(args: Iterable[Any]) -> None:
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_SIZE:
            raise TemplateLimitError(f"an argument of {arg} is over the {MAX_SIZE} limit")


def _operands(function: Any, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """What a string method or Jinja's own filter works on (its value first), else ``None``: the
    functions of this project are not checked (their integer arguments are data: a timestamp)."""
    target = getattr(function, "__self__", None)
    if isinstance(target, str | list | tuple):
        return (target, *args)
    if getattr(function, "__module__", "") == "jinja2.filters":
        return tuple(arg for arg in args if not isinstance(arg, EvalContext | Context | Environment))
    return None


def _precheck(function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse the calls whose result would be large before making them: a width or count over the
    limit (``center(10**9)``), a join or replace that would build too much, a format width."""
    operands = _operands(function, args)
    if operands is None:
        return
    name = getattr(function, "__name__", "").removeprefix("do_")
    if name in _SIZING:
        _check_widths(operands[1:])
        _check_widths(kwargs.values())
    value, rest = (operands[0], operands[1:]) if operands else (None, ())
    if name == "join":
        if isinstance(getattr(function, "__self__", None), str):
            value, rest = (rest[0] if rest else ()), (value,)
        separator = kwargs.get("d", rest[0] if rest else "")
        if isinstance(value, Sized) and isinstance(separator, str) and len(value) * len(separator) > MAX_SIZE:
            raise TemplateLimitError(f"joining would build a string over the {MAX_SIZE} limit")
    elif name == "replace" and len(rest) >= 2 and isinstance(value, str):
        old, new = rest[0], rest[1]
        if isinstance(old, str) and isinstance(new, str):
            count = len(value) + 1 if old == "" else value.count(old)
            if len(value) + count * max(len(new) - len(old), 0) > MAX_SIZE:
                raise TemplateLimitError(f"replacing would build a string over the {MAX_SIZE} limit")
    elif name == "format" and isinstance(value, str) and _WIDTH.search(value):
        raise TemplateLimitError("a format width or precision over the limit")


def _binop_size(operator: str, left: Any, right: Any) -> None:
    sequences = (str, bytes, list, tuple)
    if operator == "*":
        for sequence, times in ((left, right), (right, left)):
            if (
                isinstance(sequence, sequences)
                and isinstance(times, int)
                and len(sequence) * times > MAX_SIZE
            ):
                raise TemplateLimitError(f"repeating would build a value over the {MAX_SIZE} limit")
    elif operator == "+":
        if isinstance(left, sequences) and isinstance(right, sequences) and len(left) + len(right) > MAX_SIZE:
            raise TemplateLimitError(f"adding would build a value over the {MAX_SIZE} limit")
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            if right * math.log2(abs(left)) > MAX_POWER_BITS:
                raise TemplateLimitError(f"the power would have more than {MAX_POWER_BITS} bits")
    elif operator == "%" and isinstance(left, str) and _WIDTH.search(left):
        raise TemplateLimitError("a format width or precision over the limit")


def _bounded_iter(iterable: Any) -> Iterator[Any]:
    for item in iterable:
        spend()
        yield item


def _bounded_concat(*parts: Any) -> str:
    spend()
    text = "".join(map(str, parts))
    return str(check_size(text))


def _bounded_join(pieces: Iterable[str]) -> str:
    size, kept = 0, []
    for piece in pieces:
        size += len(piece)
        if size > MAX_SIZE:
            raise TemplateLimitError(f"the rendered text is over the {MAX_SIZE} character limit")
        kept.append(piece)
    return "".join(kept)


def bounded_filter(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` as a filter of the sandbox: a step, arguments checked, the result's size too."""

    @functools.wraps(function)  # keeps Jinja's pass_context / pass_environment marker
    def call(*args: Any, **kwargs: Any) -> Any:
        spend()
        _precheck(function, args, kwargs)
        return check_size(function(*args, **kwargs))

    return call


class _Instrument(NodeTransformer):
    """Loops iterate through the budget; ``~`` concatenation is size-checked."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Call(nodes.EnvironmentAttribute("bounded_iter"), [node.iter], [], None, None)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Call(nodes.EnvironmentAttribute("bounded_concat"), node.nodes, [], None, None)


class _BoundedTemplate(Template):
    def render(self, *args: Any, **kwargs: Any) -> str:
        rendered: str = bounded(Template.render, self, *args, **kwargs)
        return rendered


class _BoundedExpression(TemplateExpression):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return bounded(TemplateExpression.__call__, self, *args, **kwargs)


class Sandbox(ImmutableSandboxedEnvironment):
    """An immutable Jinja sandbox with the limits of this module; give filters through
    :meth:`add_filters` so that they are bounded too."""

    intercepted_binops = frozenset({"*", "+", "**", "%"})
    template_class = _BoundedTemplate
    concat = staticmethod(_bounded_join)
    bounded_iter = staticmethod(_bounded_iter)
    bounded_concat = staticmethod(_bounded_concat)

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for name in _REMOVED_GLOBALS:
            self.globals.pop(name, None)
        self.filters = {name: bounded_filter(function) for name, function in self.filters.items()}

    def add_filters(self, filters: dict[str, Callable[..., Any]]) -> None:
        """Add filters, bounded like the built-in ones."""
        self.filters.update({name: bounded_filter(function) for name, function in filters.items()})

    def _generate(self, source: nodes.Template, *args: Any, **kwargs: Any) -> str:
        return super()._generate(_Instrument().visit(source), *args, **kwargs)

    def compile_expression(self, source: str, undefined_to_none: bool = True) -> TemplateExpression:
        """:meth:`jinja2.Environment.compile_expression`, evaluated under the limits."""
        compiled = super().compile_expression(source, undefined_to_none)
        return _BoundedExpression(compiled._template, undefined_to_none)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Call from sandboxed code: a step, arguments checked, the result's size too."""
        spend()
        _precheck(__obj, args, kwargs)
        return check_size(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """``*``, ``+``, ``**`` and ``%``, refused when the result would be over the limits."""
        _binop_size(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` sandboxed by Jinja, refused with a width or precision over the limit."""
        wrapped = super().wrap_str_format(value)
        if wrapped is not None and _WIDTH.search(value.__self__):
            raise TemplateLimitError("a format width or precision over the limit")
        return wrapped
