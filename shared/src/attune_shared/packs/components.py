"""Component files (triggers, actions, sensors, rules, policies): each checked and turned into its row."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from attune_shared.packs.format import BUILTIN_ACTIONS, ActionFile, PolicyFile, SensorFile, TriggerFile
from attune_shared.packs.problems import ROOT, PackProblem, from_validation_error
from attune_shared.packs.refs import check_own_ref, check_ref, qualify
from attune_shared.packs.rule_file import RuleEntry, parse_rule
from attune_shared.packs.schemas import flat_parameters_schema, schema_errors

Kind = Literal["trigger", "action", "sensor", "rule", "policy"]

#: Kinds in registration order (a rule or policy refers to triggers and actions).
KINDS: tuple[Kind, ...] = ("trigger", "action", "sensor", "rule", "policy")
DIRECTORIES: dict[Kind, str] = {
    "trigger": "triggers",
    "action": "actions",
    "sensor": "sensors",
    "rule": "rules",
    "policy": "policies",
}

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class Component:
    """One component file, read: the row values it registers (refs qualified)."""

    kind: Kind
    file: str
    values: dict[str, Any]
    #: column -> field as written in the file, for problems found later (unknown refs)
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        ref: str = self.values["ref"]
        return ref

    def field_of(self, column: str) -> str:
        return self.fields.get(column, column)


class ComponentReader:
    """Checks the files of one pack directory, collecting every problem in :attr:`problems`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[PackProblem] = []

    def problem(self, file: str, field: str, message: str) -> None:
        self.problems.append(PackProblem(file, field, message))

    def model(self, file: str, data: Mapping[str, Any], model: type[ModelT]) -> ModelT | None:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            self.problems += from_validation_error(file, exc, model)
            return None

    def schema(self, file: str, name: str, schema: Mapping[str, Any]) -> bool:
        errors = schema_errors(schema)
        for path, message in errors:
            self.problem(file, name if path == ROOT else f"{name}.{path}", f"invalid JSON Schema: {message}")
        return not errors

    def read(self, kind: Kind, file: str, data: Mapping[str, Any], pack_ref: str) -> Component | None:
        """The component in one file of ``kind``, or ``None`` (its problems recorded)."""
        parsers = {
            "trigger": self.trigger,
            "action": self.action,
            "sensor": self.sensor,
            "rule": self.rule,
            "policy": self.policy,
        }
        return parsers[kind](file, data, pack_ref)

    def _own_ref(self, file: str, field: str, ref: str, pack_ref: str) -> str | None:
        qualified = qualify(ref, pack_ref)
        error = check_own_ref(qualified, pack_ref)
        if error:
            self.problem(file, field, error)
            return None
        return qualified

    def _ref(self, file: str, field: str, ref: str, pack_ref: str) -> str:
        qualified = qualify(ref, pack_ref)
        error = check_ref(qualified)
        if error:
            self.problem(file, field, error)
        return qualified

    def trigger(self, file: str, data: Mapping[str, Any], pack_ref: str) -> Component | None:
        model = self.model(file, data, TriggerFile)
        if model is None:
            return None
        ref = self._own_ref(file, "ref", model.ref, pack_ref)
        valid = self.schema(file, "parameters_schema", model.parameters_schema)
        valid = self.schema(file, "payload_schema", model.payload_schema) and valid
        if ref is None or not valid:
            return None
        return Component(
            "trigger",
            file,
            {
                "ref": ref,
                "label": model.label,
                "description": model.description,
                "enabled": model.enabled,
                "parameters_schema": model.parameters_schema,
                "payload_schema": model.payload_schema,
                "is_adhoc": False,
            },
        )

    def action(self, file: str, data: Mapping[str, Any], pack_ref: str) -> Component | None:
        model = self.model(file, data, ActionFile)
        if model is None:
            return None
        before = len(self.problems)
        ref = self._own_ref(file, "ref", model.ref, pack_ref)
        parameters_schema = self._action_parameters(file, model)
        entry_point_error = self._entry_point_error(model)
        if entry_point_error:
            self.problem(file, "entry_point", entry_point_error)
        if ref is None or parameters_schema is None or len(self.problems) > before:
            return None
        return Component(
            "action",
            file,
            {
                "ref": ref,
                "label": model.label,
                "description": model.description,
                "runner_type": model.runner_type,
                "entry_point": model.entry_point,
                "parameters_schema": parameters_schema,
                "output_format": model.output_format,
                "timeout_seconds": model.timeout,
                "max_retries": model.max_retries,
                "enabled": model.enabled,
                "is_adhoc": False,
            },
        )

    def _action_parameters(self, file: str, model: ActionFile) -> dict[str, Any] | None:
        if model.parameters is not None and model.parameters_schema is not None:
            self.problem(file, "parameters", "give either parameters (flat) or parameters_schema, not both")
            return None
        if model.parameters is None:
            schema = model.parameters_schema or {}
            return schema if self.schema(file, "parameters_schema", schema) else None
        flat = {name: p.model_dump() for name, p in model.parameters.items()}
        schema = flat_parameters_schema(flat)
        errors = schema_errors(schema)
        for path, message in errors:
            where = (
                path.replace("properties.", "parameters.", 1)
                if path.startswith("properties.")
                else "parameters"
            )
            self.problem(file, where, f"invalid parameter: {message}")
        return None if errors else schema

    def _entry_point_error(self, model: ActionFile) -> str | None:
        entry_point = model.entry_point
        if model.runner_type == "builtin":
            if entry_point not in BUILTIN_ACTIONS:
                return (
                    f"{entry_point!r} is not a builtin; the builtin runner runs {', '.join(BUILTIN_ACTIONS)}"
                )
            return None
        if model.runner_type == "http":
            return "the http runner takes no entry point" if entry_point else None
        if not entry_point:
            return "the python runner needs a script file" if model.runner_type == "python" else None
        return self._file_error("actions", entry_point)

    def _file_error(self, directory: str, entry_point: str) -> str | None:
        target = (self.root / directory / entry_point).resolve()
        if not target.is_relative_to(self.root):
            return f"{entry_point!r} is outside the pack directory"
        if not target.is_file():
            return f"file {target.relative_to(self.root).as_posix()} does not exist"
        return None

    def sensor(self, file: str, data: Mapping[str, Any], pack_ref: str) -> Component | None:
        model = self.model(file, data, SensorFile)
        if model is None:
            return None
        before = len(self.problems)
        ref = self._own_ref(file, "ref", model.ref, pack_ref)
        trigger_types = [
            self._ref(file, f"trigger_types.{i}", trigger, pack_ref)
            for i, trigger in enumerate(model.trigger_types)
        ]
        if model.runner_type != "builtin":
            error = (
                self._file_error("sensors", model.entry_point)
                if model.entry_point
                else "a script file is needed"
            )
            if error:
                self.problem(file, "entry_point", error)
        if ref is None or len(self.problems) > before:
            return None
        return Component(
            "sensor",
            file,
            {
                "ref": ref,
                "label": model.label,
                "description": model.description,
                "runner_type": model.runner_type,
                "entry_point": model.entry_point,
                "trigger_types": trigger_types,
                "enabled": model.enabled,
                "is_adhoc": False,
            },
        )

    def rule(self, file: str, data: Mapping[str, Any], pack_ref: str) -> Component | None:
        parsed = parse_rule(data, pack_ref)
        if not isinstance(parsed, RuleEntry):
            for where, message in parsed:
                self.problem(file, where, message)
            return None
        return Component("rule", file, {**parsed.values, "is_adhoc": False}, parsed.fields)

    def policy(self, file: str, data: Mapping[str, Any], pack_ref: str) -> Component | None:
        model = self.model(file, data, PolicyFile)
        if model is None:
            return None
        before = len(self.problems)
        ref = self._own_ref(file, "ref", model.ref, pack_ref)
        action_ref = self._ref(file, "action", model.action, pack_ref)
        if model.concurrency is None and model.rate_limit is None:
            self.problem(file, "concurrency", "a policy needs concurrency, rate_limit or both")
        if ref is None or len(self.problems) > before:
            return None
        concurrency, rate_limit = model.concurrency, model.rate_limit
        return Component(
            "policy",
            file,
            {
                "ref": ref,
                "description": model.description,
                "action_ref": action_ref,
                "enabled": model.enabled,
                "concurrency_limit": concurrency.limit if concurrency else None,
                "concurrency_method": concurrency.method if concurrency else "enqueue",
                "concurrency_group_by": list(concurrency.group_by) if concurrency else [],
                "rate_limit_max": rate_limit.max if rate_limit else None,
                "rate_limit_window_seconds": rate_limit.window_seconds if rate_limit else None,
                "is_adhoc": False,
            },
        )
