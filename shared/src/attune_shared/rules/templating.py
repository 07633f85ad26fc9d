"""Jinja templating of action parameters and criteria patterns, in a sandbox.

- A string that is exactly one ``{{ expression }}`` evaluates to the expression's value with its
  type (int stays int, dict stays dict, null stays None).
- Any other string containing template syntax renders to text; values that are not strings are
  written as JSON (``true``, ``null``, ``{"a": 1}``), never as Python reprs.
- Dicts and lists render recursively (values only, never keys).
- ``a.b`` reads the key ``b`` of a dict even where a dict method has that name (``items``).
- A missing value is an error (``StrictUndefined``); ``| default(x)`` and ``is defined`` handle
  optional values.
- ``st2kv.system.<name>`` / ``st2kv.user.<name>`` read the datastore when the context holds it
  (:meth:`attune_shared.datastore.Datastore.template_context`); ``| decrypt_kv`` reveals a secret.

The environment is :class:`attune_shared.sandbox.Sandbox`: templates cannot reach Python
internals or mutate the payload they read, and each rendering is bounded in time and memory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, Undefined
from jinja2.environment import TemplateExpression

from attune_shared.datastore import KeyLookup, resolve_lookups
from attune_shared.errors import TemplateRenderError
from attune_shared.rules.filters import FILTERS
from attune_shared.sandbox import Sandbox

_WHOLE: Final = re.compile(r"\{\{-?(.*?)-?\}\}", re.DOTALL)
_EXPRESSION: Final = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.DOTALL)
_SYNTAX: Final = ("{{", "{%", "{#")


def _as_text(value: Any) -> Any:
    if isinstance(value, KeyLookup):
        value = value.resolve()
    if isinstance(value, str | Undefined):
        return value
    return json.dumps(value, default=str)


class _Environment(Sandbox):
    def getattr(self, obj: Any, attribute: str) -> Any:
        # JSON keys win over dict methods: `trigger.items` is the payload's "items", not dict.items
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


def _environment() -> _Environment:
    env = _Environment(
        undefined=StrictUndefined, keep_trailing_newline=True, finalize=_as_text, autoescape=False
    )
    env.add_filters(FILTERS)
    return env


_ENV: Final = _environment()


def is_template(value: Any) -> bool:
    """Whether ``value`` is a string containing Jinja syntax."""
    return isinstance(value, str) and any(marker in value for marker in _SYNTAX)


@lru_cache(maxsize=2048)
def _template(source: str) -> Template:
    return _ENV.from_string(source)


@lru_cache(maxsize=2048)
def _whole_expression(source: str) -> TemplateExpression | None:
    match = _WHOLE.fullmatch(source)
    if match is None:
        return None
    try:
        return _ENV.compile_expression(match.group(1), undefined_to_none=False)
    except (TemplateSyntaxError, RecursionError):
        return None


def _check_defined(value: Any) -> None:
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError with Jinja's own message
    elif isinstance(value, Mapping):
        for item in value.values():
            _check_defined(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_defined(item)


def render_string(source: str, context: Mapping[str, Any]) -> Any:
    """Render one string: typed for a whole ``{{ expression }}``, text otherwise.

    Raises whatever Jinja or the expression raises; :func:`render_value` names the field.
    """
    if not is_template(source):
        return source
    expression = _whole_expression(source)
    if expression is not None:
        value = resolve_lookups(expression(**context))
        _check_defined(value)
        return value
    return _template(source).render(context)


def render_value(value: Any, context: Mapping[str, Any], *, field: str) -> Any:
    """Render ``value`` (a string, or dicts and lists of them) against ``context``.

    :raises TemplateRenderError: naming the failing field, e.g. ``action_params.hosts[0]``.
    """
    if isinstance(value, str):
        try:
            return render_string(value, context)
        except Exception as exc:
            raise TemplateRenderError(field, _describe(exc)) from exc
    if isinstance(value, Mapping):
        return {key: render_value(item, context, field=f"{field}.{key}") for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(item, context, field=f"{field}[{i}]") for i, item in enumerate(value)]
    return value


def render_params(
    params: Mapping[str, Any], context: Mapping[str, Any], *, field: str = "action_params"
) -> dict[str, Any]:
    """Render a rule's ``action_params`` against the rule context (see :mod:`.context`).

    :raises TemplateRenderError: ``action_params.message: 'dict object' has no attribute 'x'``.
    """
    return {key: render_value(item, context, field=f"{field}.{key}") for key, item in params.items()}


def render_pattern(pattern: Any, context: Mapping[str, Any]) -> Any:
    """Render a criteria pattern the StackStorm way.

    Non-strings and strings without template syntax are returned as they are. Otherwise every
    ``{{ expr }}`` gets ``| to_complex`` (JSON) and the rendered text is JSON-decoded, so
    ``"{{ trigger.n }}"`` gives an int and ``"[{{ a }}, {{ b }}]"`` a list; when that fails, the
    plain rendered text is the pattern.
    """
    if not is_template(pattern):
        return pattern
    if "{{" in pattern:
        typed = _EXPRESSION.sub(r"{{\1 (\2) | to_complex \3}}", pattern)
        try:
            return json.loads(_template(typed).render(context))
        except Exception:  # StackStorm falls back to the plain rendering
            pass
    return _template(pattern).render(context)


def template_errors(value: Any, *, field: str) -> list[tuple[str, str]]:
    """Syntax errors of every template in ``value`` (strings, nested dicts and lists), by field."""
    if isinstance(value, Mapping):
        return [e for key, item in value.items() for e in template_errors(item, field=f"{field}.{key}")]
    if isinstance(value, list | tuple):
        return [e for i, item in enumerate(value) for e in template_errors(item, field=f"{field}[{i}]")]
    if not is_template(value) or _whole_expression(value) is not None:
        return []
    try:
        _template(value)
    except TemplateSyntaxError as exc:
        return [(field, f"template syntax error: {_describe(exc)}")]
    except RecursionError:
        return [(field, "template syntax error: nested too deeply")]
    return []


def _describe(exc: Exception) -> str:
    if isinstance(exc, TemplateSyntaxError):
        return f"{exc.message} (line {exc.lineno})"
    return str(exc) or type(exc).__name__
