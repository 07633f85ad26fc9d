"""Action parameters checked against the action's ``parameters_schema`` (JSON Schema).

Used on rendered rule parameters (executor) and on parameters given to ``POST /executions``
(API) alike, before any execution row exists.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, TemplateSyntaxError, meta
from jsonschema import ValidationError
from jsonschema.exceptions import SchemaError, relevance
from jsonschema.protocols import Validator

from attune_shared.errors import DefinitionError, ParameterError
from attune_shared.json_schema import compiled, validator_class
from attune_shared.secrets import MASK, SecretBox

#: The field of a problem with the parameters as a whole.
ROOT = "(root)"
_UNSET = object()
#: Only parses templates, to find the names a default refers to.
_PARSER = Environment()


def validate_parameters(
    params: Mapping[str, Any], schema: Mapping[str, Any], *, context: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Complete ``params`` with the schema's defaults (see :func:`complete_parameters`), then validate.

    Returns the parameters with defaults applied (a new dict; ``params`` is not modified).
    An empty schema accepts anything. ``format`` is an annotation only, as JSON Schema specifies.

    :raises ParameterError: with the failing field (``count``, ``hosts[1]``, ``(root)``) and
        message of every problem, the most relevant first; also when a parameter marked
        ``immutable`` is given a value other than its default (StackStorm's rule).
    :raises TemplateRenderError: when a templated default does not render.
    :raises DefinitionError: when the schema itself is invalid (see :func:`schema_errors`).
    """
    prepared = _prepared(schema)
    values = _complete(params, prepared.defaults, context)
    overridden = sorted(
        name
        for name in prepared.defaults.immutable
        if name in params and params[name] != values.get(name, _UNSET)
    )
    if overridden:
        problem = f"Override of immutable parameter(s) {overridden} is unsupported."
        raise ParameterError([(name, problem) for name in overridden])
    errors = sorted(prepared.validator.iter_errors(values), key=relevance, reverse=True)
    if errors:
        raise ParameterError([problem for error in errors for problem in _describe(error)])
    return values


def complete_parameters(
    params: Mapping[str, Any], schema: Mapping[str, Any], *, context: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``params`` plus the ``default`` of each top-level property they lack (``null`` defaults are
    left out); an ``immutable`` property always takes its default.

    A default that is a Jinja template is rendered in dependency order against ``context`` (the
    rule context, ``st2kv``, ``config_context``: the pack config) and the other parameters by name,
    as StackStorm renders ``cmd: echo "{{message}}"`` or ``default: "{{ st2kv.system.region }}"``.

    :raises TemplateRenderError: ``parameters.region: datastore key st2kv.system.region does not exist``.
    :raises ParameterError: when defaults refer to each other in a cycle.
    """
    return _complete(params, _Defaults.of(schema), context)


def immutable_parameters(schema: Mapping[str, Any]) -> set[str]:
    """The parameters a schema marks ``immutable``: they always take their default."""
    return set(_Defaults.of(schema).immutable)


@dataclass(frozen=True)
class _Defaults:
    """What completing parameters needs of a schema: its immutable parameters, its declared ones,
    its literal defaults and its templated ones."""

    immutable: frozenset[str]
    declared: frozenset[str]
    literal: tuple[tuple[str, Any], ...]
    templated: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, schema: Mapping[str, Any]) -> _Defaults:
        # imported here: the rules package (its trial) imports this module
        from attune_shared.rules.templating import is_template

        properties = _properties(schema)
        immutable = frozenset(n for n, spec in properties.items() if spec.get("immutable") is True)
        literal: list[tuple[str, Any]] = []
        templated: list[tuple[str, str]] = []
        for name, spec in properties.items():
            if "default" not in spec:
                continue
            default = spec["default"]
            if is_template(default):
                templated.append((name, default))
            elif default is not None:
                literal.append((name, default))
        return cls(immutable, frozenset(properties), tuple(literal), tuple(templated))


@dataclass(frozen=True)
class _Prepared:
    defaults: _Defaults
    validator: Validator


#: Schemas prepared lately, by identity (each entry holds its schema, so an id is not reused while
#: it is here). The executor validates every matched event's parameters against the schema of an
#: action it holds in its catalog cache: the same object each time, whose canonical JSON (the
#: compile cache's key) and defaults cost more than the validation itself.
_RECENT: dict[int, tuple[Mapping[str, Any], _Prepared]] = {}
_RECENT_MAX = 256


def _prepared(schema: Mapping[str, Any]) -> _Prepared:
    """``schema``'s validator and defaults; schemas are values, never changed in place once used.

    :raises DefinitionError: when the schema is not a valid JSON Schema (see :func:`schema_errors`).
    """
    hit = _RECENT.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    try:
        validator = compiled(schema)
    except DefinitionError:
        raise DefinitionError(schema_errors(schema)) from None
    prepared = _Prepared(_Defaults.of(schema), validator)
    if len(_RECENT) >= _RECENT_MAX:
        _RECENT.clear()
    _RECENT[id(schema)] = (schema, prepared)
    return prepared


def _complete(
    params: Mapping[str, Any], defaults: _Defaults, context: Mapping[str, Any] | None
) -> dict[str, Any]:
    values = dict(params)
    for name in defaults.immutable:
        values.pop(name, None)
    for name, default in defaults.literal:
        if name not in values:
            values[name] = copy.deepcopy(default)
    templated = {name: source for name, source in defaults.templated if name not in values}
    if templated:
        values.update(_render_defaults(templated, values, set(defaults.declared), context or {}))
    return values


def _render_defaults(
    templated: dict[str, str], values: dict[str, Any], declared: set[str], context: Mapping[str, Any]
) -> dict[str, Any]:
    from attune_shared.rules.templating import render_value

    pending = {name: _references(source) & (declared | set(values)) for name, source in templated.items()}
    rendered: dict[str, Any] = {}
    while pending:
        ready = [name for name, needs in pending.items() if not needs & set(pending)]
        if not ready:
            cycle = f"Cyclic dependency found in the following variables: {', '.join(sorted(pending))}"
            raise ParameterError([(name, cycle) for name in sorted(pending)])
        for name in sorted(ready):
            scope = {**context, **dict.fromkeys(declared), **values, **rendered}
            rendered[name] = render_value(templated[name], scope, field=f"parameters.{name}")
            del pending[name]
    return rendered


def _references(source: str) -> set[str]:
    try:
        return set(meta.find_undeclared_variables(_PARSER.parse(source)))
    except TemplateSyntaxError:
        return set()


def _properties(schema: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return {}
    return {name: spec for name, spec in properties.items() if isinstance(spec, Mapping)}


def schema_errors(schema: Any, *, field: str = "parameters_schema") -> list[tuple[str, str]]:
    """Why ``schema`` is not a valid JSON Schema for parameters, as ``(field, message)``; empty if valid."""
    if not isinstance(schema, Mapping):
        return [(field or ROOT, "must be a JSON Schema object")]
    try:
        validator_class(schema).check_schema(dict(schema))
    except SchemaError as exc:
        return [(_join(field, exc.absolute_path) or ROOT, exc.message)]
    return []


def _describe(error: ValidationError) -> list[tuple[str, str]]:
    path = list(error.absolute_path)
    instance, schema = error.instance, error.schema
    required = error.validator_value
    if error.validator == "required" and isinstance(instance, Mapping) and isinstance(required, list):
        missing = [n for n in required if n not in instance]
        name = next((n for n in missing if error.message.startswith(repr(n))), None)
        if name is not None:
            return [(_join("", [*path, name]), "required")]
    if (
        error.validator == "additionalProperties"
        and error.validator_value is False
        and isinstance(instance, Mapping)
        and isinstance(schema, Mapping)
        and "patternProperties" not in schema
    ):
        known = schema.get("properties") or {}
        return [
            (_join("", [*path, name]), "unexpected (not in the schema)")
            for name in instance
            if name not in known
        ]
    return [(_join("", path) or ROOT, error.message)]


def _join(base: str, path: Iterable[str | int]) -> str:
    field = base
    for part in path:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    return field


def secret_parameters(schema: Mapping[str, Any]) -> frozenset[str]:
    """The parameters ``schema`` marks ``secret: true`` (StackStorm's keyword)."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return frozenset()
    return frozenset(
        n for n, spec in properties.items() if isinstance(spec, Mapping) and spec.get("secret") is True
    )


def revealing_parameters(action_params: Mapping[str, Any]) -> frozenset[str]:
    """The parameters a rule renders from a secret (``| decrypt_kv``): stored sealed and shown
    masked whatever the action's schema says of them."""
    return frozenset(name for name, value in action_params.items() if "decrypt_kv" in json.dumps(value))


def seal(
    params: Mapping[str, Any], names: Collection[str], box: SecretBox
) -> tuple[dict[str, Any], str | None]:
    """``params`` to store: the ``names`` present shown as :data:`~attune_shared.secrets.MASK`,
    and the ciphertext of their values (``None`` when there are none)."""
    hidden = {n: params[n] for n in names if n in params}
    if not hidden:
        return dict(params), None
    return {**params, **dict.fromkeys(hidden, MASK)}, box.encrypt(json.dumps(hidden))


def unseal(config: Mapping[str, Any], secrets: str | None, box: SecretBox) -> dict[str, Any]:
    """The parameters as the action gets them: ``config`` with the sealed values back in clear.

    :raises SecretDecryptError: when ``secrets`` was sealed with another secret key.
    """
    if secrets is None:
        return dict(config)
    return {**config, **json.loads(box.decrypt(secrets))}
