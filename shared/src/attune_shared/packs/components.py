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
from attune_shared.packs.stackstorm import (
    ConcurrencyParameters,
    RetryParameters,
    St2Action,
    St2Policy,
    St2Sensor,
    St2TriggerType,
    is_stackstorm,
)
from attune_shared.runner_types import (
    ATTUNE_RUNNER_TYPES,
    STACKSTORM_RUNNERS,
    merge_parameters,
    stackstorm_runner,
)

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
        #: StackStorm ``action.retry`` policies: action ref -> (retries, policy file)
        self.retries: dict[str, tuple[int, str]] = {}

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

    def read(self, kind: Kind, file: str, data: Mapping[str, Any], pack_ref: str) -> list[Component]:
        """The components one file of ``kind`` defines (a StackStorm sensor also defines its trigger
        types), or none (its problems recorded)."""
        if kind != "rule" and is_stackstorm(kind, dict(data)):
            stackstorm = {
                "trigger": self.st2_trigger,
                "action": self.st2_action,
                "sensor": self.st2_sensor,
                "policy": self.st2_policy,
            }
            return stackstorm[kind](file, data, pack_ref)
        parsers = {
            "trigger": self.trigger,
            "action": self.action,
            "sensor": self.sensor,
            "rule": self.rule,
            "policy": self.policy,
        }
        component = parsers[kind](file, data, pack_ref)
        return [] if component is None else [component]

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
        return self._trigger(
            file, "", model.ref, model.label, model.description, model, pack_ref, model.enabled
        )

    def _trigger(
        self,
        file: str,
        where: str,
        ref: str,
        label: str,
        description: str,
        schemas: TriggerFile | St2TriggerType,
        pack_ref: str,
        enabled: bool = True,
    ) -> Component | None:
        own = self._own_ref(file, f"{where}name" if where else "ref", ref, pack_ref)
        valid = self.schema(file, f"{where}parameters_schema", schemas.parameters_schema)
        valid = self.schema(file, f"{where}payload_schema", schemas.payload_schema) and valid
        if own is None or not valid:
            return None
        return Component(
            "trigger",
            file,
            {
                "ref": own,
                "label": label,
                "description": description,
                "enabled": enabled,
                "parameters_schema": schemas.parameters_schema,
                "payload_schema": schemas.payload_schema,
                "is_adhoc": False,
            },
        )

    def st2_trigger(self, file: str, data: Mapping[str, Any], pack_ref: str) -> list[Component]:
        model = self.model(file, data, St2TriggerType)
        if model is None or not self._same_pack(file, model.pack, pack_ref):
            return []
        found = self._trigger(
            file, "", f"{pack_ref}.{model.name}", model.name, model.description, model, pack_ref
        )
        return [] if found is None else [found]

    def _same_pack(self, file: str, written: str | None, pack_ref: str) -> bool:
        if written is not None and written != pack_ref:
            self.problem(file, "pack", f"{written!r} is not the pack {pack_ref!r} the file is loaded from")
            return False
        return True

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
                "notify": {},
                "output_schema": {},
            },
        )

    def st2_action(self, file: str, data: Mapping[str, Any], pack_ref: str) -> list[Component]:
        model = self.model(file, data, St2Action)
        if model is None:
            return []
        before = len(self.problems)
        self._same_pack(file, model.pack, pack_ref)
        ref = self._own_ref(file, "name", f"{pack_ref}.{model.name}", pack_ref)
        runner = stackstorm_runner(model.runner_type)
        schema: dict[str, Any] = {}
        if runner is None:
            known = ", ".join([*STACKSTORM_RUNNERS, *ATTUNE_RUNNER_TYPES])
            self.problem(file, "runner_type", f"unknown runner type {model.runner_type!r} (known: {known})")
        else:
            for name in model.parameters:
                if not name.isidentifier():
                    self.problem(file, f"parameters.{name}", "a parameter name is letters, digits and '_'")
            merged, problems = merge_parameters(runner, model.parameters)
            for name, message in problems:
                self.problem(file, f"parameters.{name}", message)
            schema = flat_parameters_schema(merged, closed=True)
            self._parameter_schema_problems(file, schema)
            if runner.entry_point == "file":
                error = self._file_error("actions", model.entry_point) if model.entry_point else "required"
                if error:
                    self.problem(file, "entry_point", error)
        if ref is None or runner is None or len(self.problems) > before:
            return []
        notify = model.notify.model_dump(by_alias=True, exclude_none=True) if model.notify else {}
        return [
            Component(
                "action",
                file,
                {
                    "ref": ref,
                    "label": model.name,
                    "description": model.description,
                    "runner_type": runner.name,
                    "entry_point": model.entry_point if runner.entry_point == "file" else "",
                    "parameters_schema": schema,
                    "output_format": "text",
                    "timeout_seconds": None,
                    "max_retries": 0,
                    "enabled": model.enabled,
                    "is_adhoc": False,
                    "notify": notify,
                    "output_schema": model.output_schema,
                },
                {"ref": "name"},
            )
        ]

    def _parameter_schema_problems(self, file: str, schema: dict[str, Any]) -> None:
        for path, message in schema_errors(schema):
            where = (
                path.replace("properties.", "parameters.", 1)
                if path.startswith("properties.")
                else "parameters"
            )
            self.problem(file, where, f"invalid parameter: {message}")

    def _action_parameters(self, file: str, model: ActionFile) -> dict[str, Any] | None:
        if model.parameters is not None and model.parameters_schema is not None:
            self.problem(file, "parameters", "give either parameters (flat) or parameters_schema, not both")
            return None
        if model.parameters is None:
            schema = model.parameters_schema or {}
            return schema if self.schema(file, "parameters_schema", schema) else None
        flat = {name: p.model_dump() for name, p in model.parameters.items()}
        schema = flat_parameters_schema(flat)
        before = len(self.problems)
        self._parameter_schema_problems(file, schema)
        return None if len(self.problems) > before else schema

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
            needs = {"python": "a script file", "orquesta": "a workflow file (workflows/<name>.yaml)"}
            return (
                f"the {model.runner_type} runner needs {needs[model.runner_type]}"
                if model.runner_type in needs
                else None
            )
        return self._file_error("actions", entry_point)

    def _file_error(self, directory: str, entry_point: str) -> str | None:
        """Why ``entry_point`` (relative to ``directory`` of the pack) is not a file of the pack, or ``None``."""
        if "\0" in entry_point:  # no file name holds one (resolving it raises)
            return f"{entry_point!r} contains a NUL character, which no file name can hold"
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
                "class_name": "",
                "poll_interval": None,
            },
        )

    def st2_sensor(self, file: str, data: Mapping[str, Any], pack_ref: str) -> list[Component]:
        model = self.model(file, data, St2Sensor)
        if model is None:
            return []
        before = len(self.problems)
        self._same_pack(file, model.pack, pack_ref)
        ref = self._own_ref(file, "class_name", f"{pack_ref}.{model.class_name.rsplit('.', 1)[-1]}", pack_ref)
        error = self._file_error("sensors", model.entry_point) if model.entry_point else "required"
        if error:
            self.problem(file, "entry_point", error)
        triggers: list[Component] = []
        trigger_types: list[str] = []
        for i, item in enumerate(model.trigger_types):
            if isinstance(item, str):
                trigger_types.append(self._ref(file, f"trigger_types.{i}", item, pack_ref))
                continue
            where = f"trigger_types.{i}."
            trigger = self._trigger(
                file, where, f"{pack_ref}.{item.name}", item.name, item.description, item, pack_ref
            )
            if trigger is not None:
                triggers.append(trigger)
                trigger_types.append(trigger.ref)
        if ref is None or len(self.problems) > before:
            return []
        sensor = Component(
            "sensor",
            file,
            {
                "ref": ref,
                "label": model.name or model.class_name,
                "description": model.description,
                "runner_type": "python",
                "entry_point": model.entry_point,
                "trigger_types": trigger_types,
                "enabled": model.enabled,
                "is_adhoc": False,
                "class_name": model.class_name,
                "poll_interval": model.poll_interval,
            },
            {"ref": "class_name"},
        )
        return [*triggers, sensor]

    def st2_policy(self, file: str, data: Mapping[str, Any], pack_ref: str) -> list[Component]:
        model = self.model(file, data, St2Policy)
        if model is None or not self._same_pack(file, model.pack, pack_ref):
            return []
        ref = self._own_ref(file, "name", f"{pack_ref}.{model.name}", pack_ref)
        action_ref = self._ref(file, "resource_ref", model.resource_ref, pack_ref)
        if model.policy_type == "action.retry":
            retry = self.model(file, model.parameters, RetryParameters)
            if retry is not None and model.enabled:
                self.retries[action_ref] = (retry.max_retry_count, file)
            return []
        limit = self.model(file, model.parameters, ConcurrencyParameters)
        if ref is None or limit is None:
            return []
        if limit.attributes and model.policy_type == "action.concurrency":
            self.problem(
                file, "parameters.attributes", "only action.concurrency.attr policies take attributes"
            )
            return []
        return [
            Component(
                "policy",
                file,
                {
                    "ref": ref,
                    "description": model.description,
                    "action_ref": action_ref,
                    "enabled": model.enabled,
                    "concurrency_limit": limit.threshold,
                    "concurrency_method": "enqueue" if limit.action == "delay" else "cancel",
                    "concurrency_group_by": list(limit.attributes),
                    "rate_limit_max": None,
                    "rate_limit_window_seconds": None,
                    "is_adhoc": False,
                },
                {"ref": "name", "action_ref": "resource_ref"},
            )
        ]

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
