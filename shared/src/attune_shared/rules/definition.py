"""Rule definitions: one rule YAML mapping, in Attune or StackStorm form, as one normalized model.

Attune form::

    ref: on_alert                 # or examples.on_alert
    trigger: alert                # or examples.alert; also trigger_ref
    trigger_params: {}
    criteria: {trigger.severity: {type: equals, pattern: critical}}
    condition: all                # or any
    action: core.echo             # also action_ref
    action_params: {message: "{{ trigger.message }}"}
    enabled: true

StackStorm form, accepted unchanged::

    name: on_alert
    pack: examples
    enabled: true
    trigger: {type: examples.alert, parameters: {}}
    criteria: {trigger.severity: {type: equals, pattern: critical}}
    action: {ref: core.echo, parameters: {message: "{{ trigger.message }}"}}

A ref without a ``.`` belongs to the rule's pack.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from attune_shared.errors import DefinitionError
from attune_shared.models.rule import Condition
from attune_shared.rules.criteria import validate_criteria
from attune_shared.rules.templating import template_errors
from attune_shared.yamlfile import YamlBool, YamlError, load_yaml

#: The field of an error about the whole document.
ROOT: Final = "(root)"
#: StackStorm's pack for rules that name none (``DEFAULT_PACK_NAME``).
DEFAULT_PACK: Final = "default"

#: As the catalog's CHECK constraints: ``<pack>.<name>``.
PACK_REF: Final = r"[a-z0-9][a-z0-9_-]*"
RULE_NAME: Final = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
#: Triggers and actions may have dots in their name (StackStorm's ``core.st2.webhook``).
TARGET_NAME: Final = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"

JsonObject = dict[str, Any]
Errors = list[tuple[str, str]]


class RuleDefinition(BaseModel):
    """A rule, normalized: refs qualified with the pack, the same shape for both input forms."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: str
    pack_ref: str
    label: str = ""
    description: str = ""
    trigger_ref: str
    trigger_params: JsonObject = Field(default_factory=dict)
    criteria: JsonObject = Field(default_factory=dict)
    condition: Condition = "all"
    action_ref: str
    action_params: JsonObject = Field(default_factory=dict)
    enabled: bool = True

    @classmethod
    def parse(cls, data: object, *, pack_ref: str | None = None) -> RuleDefinition:
        """Validate and normalize one rule mapping (Attune or StackStorm form).

        ``pack_ref`` is the pack the rule is loaded from: refs without a ``pack.`` prefix join it,
        and a ``pack`` the rule names must agree with it.

        :raises DefinitionError: listing every ``(field, message)``, e.g.
            ``("criteria.trigger.severity.type", "unknown operator 'equalz'")``.
        """
        if not isinstance(data, Mapping):
            raise DefinitionError([(ROOT, f"a rule must be a mapping, not {_kind(data)}")])
        stackstorm = "name" in data or isinstance(data.get("trigger"), Mapping)
        form: type[_AttuneForm | _StackStormForm] = _StackStormForm if stackstorm else _AttuneForm
        action = data.get("action")
        params = action.get("parameters") if isinstance(action, Mapping) else data.get("action_params")
        errors = validate_criteria(data.get("criteria")) + template_errors(params, field=form.params_field)
        try:
            parsed = form.model_validate(data)
        except ValidationError as exc:
            raise DefinitionError(_pydantic_errors(exc) + errors) from None
        rule, more = parsed.normalize(pack_ref)
        if more + errors:
            raise DefinitionError(more + errors)
        return cls.model_validate(rule)


def load_rule_file(path: str | Path, pack_ref: str | None = None) -> RuleDefinition:
    """Read and parse one rule YAML file.

    :raises DefinitionError: with ``source`` set to ``path``; ``str()`` is one
        ``file:field: message`` line per error.
    """
    source = str(path)
    try:
        data = load_yaml(path)
    except YamlError as exc:
        raise DefinitionError([(ROOT, exc.detail)], source=source) from None
    try:
        return RuleDefinition.parse(data, pack_ref=pack_ref)
    except DefinitionError as exc:
        raise DefinitionError(exc.errors, source=source) from None


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    #: Where the action parameters are in this form (for error fields).
    params_field: ClassVar[str] = "action_params"
    #: Checked by :func:`validate_criteria`, which names the failing criterion.
    criteria: Any = None


class _AttuneForm(_Form):
    ref: str
    pack: str | None = None
    pack_ref: str | None = None
    label: str | None = None
    description: str | None = None
    trigger: str | None = None
    trigger_ref: str | None = None
    trigger_params: JsonObject | None = None
    condition: Condition = "all"
    action: str | None = None
    action_ref: str | None = None
    action_params: JsonObject | None = None
    enabled: YamlBool = True

    def normalize(self, pack_ref: str | None) -> tuple[dict[str, Any], Errors]:
        errors: Errors = []
        pack_field = "pack" if self.pack is not None else "pack_ref"
        pack = _pack(self.pack or self.pack_ref, pack_ref, pack_field, errors)
        if "." in self.ref:
            prefix = self.ref.split(".", 1)[0]
            if pack is not None and prefix != pack:
                errors.append(("ref", f"{self.ref!r} is not in pack {pack!r}"))
            pack = pack or prefix
        elif pack is None:
            errors.append(("ref", f"{self.ref!r} names no pack: write <pack>.{self.ref} or set 'pack'"))
        pack = pack or DEFAULT_PACK
        ref = _qualified(self.ref, pack, "ref", RULE_NAME, errors)
        trigger = _one_of(self, "trigger", "trigger_ref", errors)
        action = _one_of(self, "action", "action_ref", errors)
        rule = {
            "ref": ref,
            "pack_ref": pack,
            "label": self.label or ref.split(".", 1)[1],
            "description": self.description or "",
            "trigger_ref": _qualified(trigger[1], pack, trigger[0], TARGET_NAME, errors),
            "trigger_params": self.trigger_params or {},
            "criteria": self.criteria or {},
            "condition": self.condition,
            "action_ref": _qualified(action[1], pack, action[0], TARGET_NAME, errors),
            "action_params": self.action_params or {},
            "enabled": self.enabled,
        }
        return rule, errors


class _StackStormTrigger(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    type: str
    parameters: JsonObject | None = None
    description: str | None = None
    ref: str | None = None


class _StackStormAction(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    ref: str
    parameters: JsonObject | None = None
    description: str | None = None


class _StackStormRuleType(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    ref: Literal["standard"]
    parameters: JsonObject | None = None


class _StackStormForm(_Form):
    params_field: ClassVar[str] = "action.parameters"

    name: str
    pack: str | None = None
    description: str | None = None
    enabled: YamlBool = False
    trigger: _StackStormTrigger
    condition: Condition = "all"
    action: _StackStormAction
    type: _StackStormRuleType | None = None
    # Fields StackStorm exports and ignores on import.
    id: str | None = None
    ref: str | None = None
    uid: str | None = None
    tags: list[Any] | None = None
    context: JsonObject | None = None
    metadata_file: str | None = None

    def normalize(self, pack_ref: str | None) -> tuple[dict[str, Any], Errors]:
        errors: Errors = []
        pack = _pack(self.pack, pack_ref, "pack", errors) or DEFAULT_PACK
        if not re.fullmatch(RULE_NAME, self.name):
            errors.append(
                ("name", f"{self.name!r} is not a valid rule name (letters, digits, '_', '-', '.')")
            )
        ref = f"{pack}.{self.name}"
        rule = {
            "ref": ref,
            "pack_ref": pack,
            "label": self.name,
            "description": self.description or "",
            "trigger_ref": _qualified(self.trigger.type, pack, "trigger.type", TARGET_NAME, errors),
            "trigger_params": self.trigger.parameters or {},
            "criteria": self.criteria or {},
            "condition": self.condition,
            "action_ref": _qualified(self.action.ref, pack, "action.ref", TARGET_NAME, errors),
            "action_params": self.action.parameters or {},
            "enabled": self.enabled,
        }
        return rule, errors


def _pack(written: str | None, pack_ref: str | None, field: str, errors: Errors) -> str | None:
    if written is not None and pack_ref is not None and written != pack_ref:
        errors.append((field, f"{written!r} is not the pack {pack_ref!r} the rule is loaded from"))
    pack = written or pack_ref
    if pack is not None and not re.fullmatch(PACK_REF, pack):
        errors.append((field, f"{pack!r} is not a valid pack ref (lowercase letters, digits, '_', '-')"))
    return pack


def _one_of(form: _AttuneForm, name: str, alias: str, errors: Errors) -> tuple[str, str]:
    value, other = getattr(form, name), getattr(form, alias)
    if value is not None and other is not None:
        errors.append((alias, f"give {name} or {alias}, not both"))
    if value is None and other is None:
        errors.append((name, "required"))
    return (name, value) if value is not None else (alias, other or "")


def _qualified(ref: str, pack: str, field: str, name: str, errors: Errors) -> str:
    """``ref`` with the pack prefix; the pack itself is checked once, by :func:`_pack`."""
    qualified = "." in ref
    if ref and not re.fullmatch(rf"{PACK_REF}\.{name}" if qualified else name, ref):
        errors.append((field, f"{ref!r} is not a valid ref (expected <pack>.<name>)"))
    return ref if qualified else f"{pack}.{ref}"


def _pydantic_errors(exc: ValidationError) -> Errors:
    errors: Errors = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or ROOT
        kind = error["type"]
        if kind == "missing":
            message = "required"
        elif kind == "extra_forbidden":
            message = "unknown key"
        elif kind == "literal_error" and error["loc"] == ("type", "ref"):
            message = f"{error['input']!r} rules are not supported (only 'standard')"
        else:
            message = error["msg"]
        errors.append((field, message))
    return errors


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__
