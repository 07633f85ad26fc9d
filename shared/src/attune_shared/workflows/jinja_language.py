"""Jinja, the language between ``{{ }}`` and ``{% %}``: evaluation and grammar checks, sandboxed.

Imported on first use (by :mod:`.expressions`), as :mod:`.yaql_language` is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

import jinja2
from jinja2.parser import Parser

from attune_shared.sandbox import Sandbox
from attune_shared.workflows.errors import JinjaEvaluationException, ResultsNeeded
from attune_shared.workflows.expressions import (
    JINJA,
    JINJA_BLOCK,
    JINJA_EXPRESSION,
    grammar_error,
    put_result,
    unwrap,
)
from attune_shared.workflows.functions import CONTEXT_FUNCTIONS, PLAIN_FUNCTIONS, Scope

_JINJA_RAW: Final = re.compile("{% raw %}.*?{% endraw %}")
_JINJA_ENV: Final = Sandbox(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_JINJA_ENV.add_filters(PLAIN_FUNCTIONS)


def _jinja_context(scope: Scope) -> dict[str, Any]:
    context: dict[str, Any] = dict(PLAIN_FUNCTIONS)
    for name, function in CONTEXT_FUNCTIONS.items():
        context[name] = _bind(function, scope)
    return context


def _bind(function: Any, scope: Scope) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        return function(scope, *args, **kwargs)

    return call


def evaluate(text: str, scope: Scope) -> Any:
    """``text`` with its Jinja expressions and blocks rendered against ``scope``."""
    raw_blocks = _JINJA_RAW.findall(text)
    for index, block in enumerate(raw_blocks):
        text = text.replace(block, f"{{{index}}}")
    output = _expand_jinja(text, scope)
    if isinstance(output, str):
        unresolved = [unwrap(expression, "{}") for expression in JINJA_EXPRESSION.findall(output)]
        if unresolved:
            raise JinjaEvaluationException(f"There are unresolved variables: {', '.join(unresolved)}")
        if raw_blocks:
            for index, block in enumerate(raw_blocks):
                output = output.replace(f"{{{index}}}", block)
            output = _JINJA_ENV.from_string(output).render(_jinja_context(scope))
    return output


def _expand_jinja(text: str, scope: Scope) -> Any:
    expressions = JINJA_EXPRESSION.findall(text)
    blocks = JINJA_BLOCK.findall(text)
    context = _jinja_context(scope)
    output: Any = text
    expression = text
    try:
        if blocks:
            output = _expand_jinja(_JINJA_ENV.from_string(text).render(context), scope)
        else:
            for expression in expressions:
                compiled = _JINJA_ENV.compile_expression(unwrap(expression, "{}"), undefined_to_none=False)
                result = compiled(**context)
                if isinstance(result, Iterator):
                    result = list(result)
                if isinstance(result, str):
                    result = _expand_jinja(result, scope)
                if isinstance(result, jinja2.StrictUndefined):
                    continue
                output = put_result(output, expression, result, one_of_several=len(expressions) > 1)
    except (ResultsNeeded, JinjaEvaluationException):
        raise
    except Exception as exc:
        message = f"Unable to evaluate expression '{expression}'. {type(exc).__name__}: {exc}"
        raise JinjaEvaluationException(message) from exc
    return output


def validate(text: str) -> list[dict[str, Any]]:
    """Grammar errors of the Jinja template ``text`` and of each ``{{ }}`` expression in it."""
    errors = []
    try:
        _JINJA_ENV.parse(text)
    except jinja2.TemplateError as exc:
        errors.append(grammar_error(JINJA, text, str(exc)))
    except RecursionError:
        return [grammar_error(JINJA, text, "nested too deeply")]
    for expression in JINJA_EXPRESSION.findall(text):
        if any(error["expression"] == expression for error in errors):
            continue
        try:
            Parser(_JINJA_ENV.overlay(), unwrap(expression, "{}"), state="variable").parse_expression()
        except jinja2.TemplateError as exc:
            errors.append(grammar_error(JINJA, expression, str(exc)))
    return errors
