"""Evaluating Orquesta expressions: YAQL between ``<% %>``, Jinja between ``{{ }}`` / ``{% %}``.

As Orquesta: dicts (keys too) and lists are evaluated recursively; a string that is exactly one
expression gives the expression's value with its type, otherwise each expression is replaced
by its text; string results are evaluated again (data holding ``<% %>`` runs); a Jinja ``{% %}``
block renders the whole string, so its result is always a string. YAQL is the ``yaql`` library
(:mod:`.yaql_language`) and Jinja :class:`attune_shared.sandbox.Sandbox` (:mod:`.jinja_language`),
both bounded in time and memory; the functions are in :mod:`.functions`.

The two languages are imported on the first expression evaluated or checked, so that a service
which only finds expressions (the API, to start and steer workflows) does not carry them.
"""

from __future__ import annotations

import re
from typing import Any, Final

from attune_shared.workflows.errors import ExpressionEvaluationException
from attune_shared.workflows.functions import Scope

YAQL: Final = "yaql"
JINJA: Final = "jinja"

YAQL_PATTERN: Final = "<%.*?%>"
JINJA_PATTERN: Final = "{{.*?}}"
YAQL_EXPRESSION: Final = re.compile(YAQL_PATTERN)
JINJA_EXPRESSION: Final = re.compile(JINJA_PATTERN)
JINJA_BLOCK: Final = re.compile("{%.*?%}")

# A variable reference: ctx().x, ctx(x), ctx('x'), ctx("x") (the name is what inspection checks).
_CTX_REFERENCE = re.compile(r"""\bctx\(['"]?[][a-zA-Z0-9_'"\.()]*['"]?\)\.?[][a-zA-Z0-9_'"\.()]*""")
_NAME = r"[a-zA-Z0-9_-]+"
_CTX_NAMES = (
    re.compile(rf"(?<=\bctx\(\)\.)({_NAME})\b(?!\()\.?"),
    re.compile(rf"(?:\bctx\(({_NAME})\))"),
    re.compile(rf"(?:\bctx\('({_NAME})'\))"),
    re.compile(rf'(?:\bctx\("({_NAME})"\))'),
)


def has_yaql(text: str) -> bool:
    """Whether ``text`` holds a ``<% %>`` expression."""
    return bool(YAQL_EXPRESSION.search(text))


def has_jinja(text: str) -> bool:
    """Whether ``text`` holds a ``{{ }}`` expression or a ``{% %}`` block."""
    return bool(JINJA_EXPRESSION.search(text) or JINJA_BLOCK.search(text))


def has_expressions(value: Any) -> bool:
    """Whether the string ``value`` holds an expression of either language."""
    return isinstance(value, str) and (has_yaql(value) or has_jinja(value))


def unwrap(expression: str, delimiter: str) -> str:
    """The expression inside its delimiters: ``unwrap("<% 1 %>", "<%>") == "1"``."""
    return expression.strip(delimiter).strip()


def put_result(output: Any, expression: str, result: Any, *, one_of_several: bool) -> Any:
    """``output`` with ``expression`` replaced by the text of its ``result``, or ``result`` itself
    (with its type) when the expression is all of ``output``."""
    if one_of_several or len(output) > len(expression):
        return output.replace(expression, str(result))
    return result


def grammar_error(language: str | None, expression: str, message: str) -> dict[str, Any]:
    """One grammar error as :func:`validate` reports it (Orquesta's shape)."""
    return {"type": language, "expression": expression, "message": message}


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
            from attune_shared.workflows import yaql_language

            return yaql_language.evaluate(statement, scope)
        if has_jinja(statement):
            from attune_shared.workflows import jinja_language

            return jinja_language.evaluate(statement, scope)
    return statement


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
        return [grammar_error(None, statement, "Expression with multiple types is not supported.")]
    if yaql_found:
        from attune_shared.workflows import yaql_language

        return yaql_language.validate(statement)
    if jinja_found:
        from attune_shared.workflows import jinja_language

        return jinja_language.validate(statement)
    return []


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
        for language, pattern, delimiter in ((JINJA, JINJA_EXPRESSION, "{}"), (YAQL, YAQL_EXPRESSION, "<%>")):
            for expression in pattern.findall(statement):
                for reference in _CTX_REFERENCE.findall(unwrap(expression, delimiter)):
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
