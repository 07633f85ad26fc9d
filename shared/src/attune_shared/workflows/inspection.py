"""Inspecting a workflow before it runs, with Orquesta's (and StackStorm's) error entries.

Each entry is ``{type, message, spec_path, schema_path}``; ``type`` is ``syntax`` (the schema),
``semantic`` (undefined or unreachable tasks, no start task, reserved names, a with-items task
without an action), ``expression`` (an expression that does not parse), ``context`` (a variable
read before any input, var or publish assigns it) or ``content`` (unknown actions, missing or
unexpected action input; only with a catalog). Expression and context entries add
``language`` and ``expression``. Entries are sorted by ``(type, schema_path)``.
"""

from __future__ import annotations

import codecs
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from jsonschema import Draft4Validator

from attune_shared.packs.refs import COMPONENT_REF_RE
from attune_shared.workflows.expressions import has_expressions, referenced_variables, validate
from attune_shared.workflows.inline import parse_pairs
from attune_shared.workflows.schema import RESERVED_NAMES, WORKFLOW
from attune_shared.workflows.spec import TaskSpec, WorkflowSpec

#: Variables StackStorm puts in every workflow's context before its input.
RUNTIME_VARIABLES: Final = ("st2", "parent")

#: ``refs -> {ref: parameters JSON Schema}`` for the refs the catalog knows.
Catalog = Callable[[Sequence[str]], Mapping[str, Mapping[str, Any]]]

_TASKS: Final = "properties.tasks"
_TASK: Final = "properties.tasks.patternProperties.^\\w+$"
_VALIDATOR: Final = Draft4Validator(WORKFLOW)


def inspect(
    spec: WorkflowSpec, *, catalog: Catalog | None = None, known: Iterable[str] = RUNTIME_VARIABLES
) -> list[dict[str, Any]]:
    """Every inspection error of ``spec``, sorted as StackStorm sorts them (empty: it may run).

    ``known`` are the variables present before the input (StackStorm's ``st2`` and ``parent``);
    ``catalog`` enables the ``content`` checks (actions exist, their required input is given).
    """
    errors = [dict(e, type="syntax") for e in _sorted(_syntax(spec))]
    errors += [dict(e, type="semantic") for e in _sorted(_semantics(spec))]
    errors += [_language(e, "expression") for e in _sorted(_expressions(spec))]
    errors += [_language(e, "context") for e in _sorted(_context(spec, list(known)))]
    if catalog is not None:
        errors += _contents(spec, catalog)
    return sorted(errors, key=lambda e: (e["type"], e["schema_path"] or ""))


def _sorted(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(errors, key=lambda e: (e["schema_path"] or "", e["spec_path"] or ""))


def _language(entry: dict[str, Any], kind: str) -> dict[str, Any]:
    entry = dict(entry)
    entry["language"] = entry.pop("type")
    return dict(entry, type=kind)


def _path(parts: Iterable[Any]) -> str | None:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or None


def _unescape(message: str) -> str:
    """Orquesta decodes backslash escapes in schema messages (``'^\\\\w+$'`` reads ``'^\\w+$'``)."""
    try:
        return codecs.decode(message.encode("latin-1", "backslashreplace"), "unicode_escape")
    except UnicodeDecodeError:
        return message


def _syntax(spec: WorkflowSpec) -> list[dict[str, Any]]:
    return [
        {
            "message": _unescape(error.message),
            "spec_path": _path(error.absolute_path),
            "schema_path": _path(error.absolute_schema_path),
        }
        for error in _VALIDATOR.iter_errors(spec.data)
    ]


def _entry(message: str, spec_path: str, schema_path: str) -> dict[str, Any]:
    return {"message": message, "spec_path": spec_path, "schema_path": schema_path}


def _semantics(spec: WorkflowSpec) -> list[dict[str, Any]]:
    graph = spec.graph
    errors = [
        _entry(f'The task name "{name}" is reserved with special function.', f"tasks.{name}", _TASK)
        for name in spec.tasks
        if name in RESERVED_NAMES
    ]
    if spec.tasks and not graph.starts:
        errors.append(
            _entry(
                "Unable to identify any tasks to start the workflow. If the workflow has a loop, please add "
                "a task that serves as an entry point (or lead) into the loop.",
                "tasks",
                _TASKS,
            )
        )
    errors += _undefined_tasks(spec)
    errors += _unreachable_joins(spec)
    errors += [
        _entry("The action property is required for with items task.", f"tasks.{name}", _TASK)
        for name, task in spec.tasks.items()
        if task.items is not None and not task.action
    ]
    return errors


def _undefined_tasks(spec: WorkflowSpec) -> list[dict[str, Any]]:
    errors = []
    queue = deque(spec.graph.starts)
    traversed: list[str] = []
    while queue:
        name = queue.popleft()
        traversed.append(name)
        task = spec.tasks.get(name)
        for transition in task.next if task else ():
            for target in transition.do:
                if target in traversed:
                    continue
                if target in spec.tasks or target in RESERVED_NAMES:
                    if target not in RESERVED_NAMES:
                        queue.append(target)
                else:
                    errors.append(
                        _entry(
                            f'The task "{target}" is not defined.',
                            f"tasks.{name}.next[{transition.index}].do",
                            f"{_TASK}.properties.next.items.properties.do",
                        )
                    )
    return errors


def _unreachable_joins(spec: WorkflowSpec) -> list[dict[str, Any]]:
    """A join is ambiguous when its inbound branches come from different nested splits."""
    graph = spec.graph
    staging: dict[str, dict[str, Any]] = {}
    queue: deque[tuple[str | None, str, list[str]]] = deque((None, name, []) for name in graph.starts)
    while queue:
        previous, name, splits = queue.popleft()
        if name not in spec.tasks:
            continue
        if graph.is_split(name) and not graph.in_cycle(name):
            splits.append(name)
        meta = staging.setdefault(name, {"join": spec.tasks[name].is_join, "splits": set(), "prev": set()})
        meta["splits"] |= set(splits)
        if previous:
            meta["prev"].add(previous)
        for edge in _spec_next(spec.tasks[name]):
            if edge not in staging or not graph.in_cycle(edge):
                queue.append((name, edge, list(splits)))
    errors = []
    for name, meta in staging.items():
        if meta["join"] and any(meta["splits"] != staging[p]["splits"] for p in sorted(meta["prev"])):
            errors.append(
                _entry(
                    f'The join task "{name}" is unreachable. A join task is determined to be unreachable if '
                    "there are nested forks from multi-referenced tasks that join on the said task. This is "
                    "ambiguous to the workflow engine because it does not know at which level should the join "
                    "occurs.",
                    f"tasks.{name}",
                    _TASK,
                )
            )
    return errors


def _spec_next(task: TaskSpec) -> list[str]:
    return sorted(target for transition in task.next for target in transition.do)


def _expression_errors(value: Any, spec_path: str, schema_path: str) -> list[dict[str, Any]]:
    return [dict(error, spec_path=spec_path, schema_path=schema_path) for error in validate(value)]


def _expressions(spec: WorkflowSpec) -> list[dict[str, Any]]:
    errors = []
    for key in ("vars", "input", "output"):
        errors += _expression_errors(spec.data.get(key), key, f"properties.{key}")
    for name, task in spec.tasks.items():
        base, schema = f"tasks.{name}", _TASK
        raw = spec.data["tasks"][name]
        for key, value in (
            ("delay", task.delay),
            ("join", task.join),
            ("action", task.action),
            ("input", task.input),
        ):
            errors += _expression_errors(value, f"{base}.{key}", f"{schema}.properties.{key}")
        for spec_key, keys in (("with", ("items", "concurrency")), ("retry", ("when", "count", "delay"))):
            body = raw.get(spec_key)
            if isinstance(body, dict):
                for key, value in ((key, body.get(key)) for key in keys):
                    errors += _expression_errors(
                        value, f"{base}.{spec_key}.{key}", f"{schema}.properties.{spec_key}.properties.{key}"
                    )
        for transition in task.next:
            path = f"{base}.next[{transition.index}]"
            items = f"{schema}.properties.next.items.properties"
            errors += _expression_errors(transition.when, f"{path}.when", f"{items}.when")
            errors += _expression_errors(
                [{k: v} for k, v in transition.publish], f"{path}.publish", f"{items}.publish"
            )
            errors += _expression_errors(list(transition.do), f"{path}.do", f"{items}.do")
    return errors


class _ContextCheck:
    """Orquesta's walk for variables read before assignment (inputs, vars, publishes, outputs)."""

    def __init__(self) -> None:
        self.errors: list[dict[str, Any]] = []

    def check(
        self, value: Any, known: list[str], spec_path: str, schema_path: str, *, assigns: bool
    ) -> list[str]:
        """Check one property's value; the names it assigns (if ``assigns``) join ``known``."""
        if isinstance(value, str):
            pairs = parse_pairs(value)
            if pairs:
                value = [{key: item} for key, item in pairs]
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            path = spec_path if index is None else f"{spec_path}[{index}]"
            for language, expression, name in referenced_variables(item):
                if name.startswith("__"):
                    message = (
                        f'Variable "{name}" that is prefixed with double underscores is considered a private '
                        "variable and cannot be referenced."
                    )
                    self.errors.append(self._error(language, expression, message, path, schema_path))
                if name not in known:
                    message = f'Variable "{name}" is referenced before assignment.'
                    self.errors.append(self._error(language, expression, message, path, schema_path))
            if assigns:
                known = sorted(set(known) | set(_assigned(item)))
        return known

    @staticmethod
    def _error(
        language: str, expression: str, message: str, spec_path: str, schema_path: str
    ) -> dict[str, Any]:
        return {
            "type": language,
            "expression": expression,
            "message": message,
            "spec_path": spec_path,
            "schema_path": schema_path,
        }


def _assigned(value: Any) -> list[str]:
    if isinstance(value, dict):
        return list(value)
    if isinstance(value, str):
        return [value]
    return []


def _context(spec: WorkflowSpec, known: list[str]) -> list[dict[str, Any]]:
    check = _ContextCheck()
    raw_input = spec.data.get("input")
    if raw_input:
        known = check.check(raw_input, known, "input", "properties.input", assigns=True)
    raw_vars = spec.data.get("vars")
    if raw_vars:
        known = check.check(raw_vars, known, "vars", "properties.vars", assigns=True)
    if spec.tasks:
        known = sorted(set(known) | set(_tasks_context(spec, check, known)))
    raw_output = spec.data.get("output")
    if raw_output:
        check.check(raw_output, known, "output", "properties.output", assigns=True)
    return check.errors


def _tasks_context(spec: WorkflowSpec, check: _ContextCheck, known: list[str]) -> list[str]:
    joins: dict[str, list[str]] = {}
    traversed: list[str] = []
    rolling = list(known)
    queue: deque[tuple[str, list[str] | None]] = deque((name, list(known)) for name in spec.graph.starts)
    while queue:
        name, task_known = queue.popleft()
        traversed.append(name)
        task_known = task_known or joins.get(name, [])
        task = spec.tasks.get(name)
        if task is None:  # an engine command: it carries the publishes of the transitions into it
            rolling = sorted(set(rolling) | set(task_known))
            continue
        base, schema = f"tasks.{name}", _TASK
        raw = spec.data["tasks"][name]
        items = raw.get("with")
        for key, value in (
            ("delay", task.delay),
            ("with", None),
            ("action", task.action),
            ("input", task.input),
        ):
            if key == "with":
                for item_key in ("items", "concurrency"):
                    if isinstance(items, dict) and items.get(item_key):
                        check.check(
                            items[item_key],
                            task_known,
                            f"{base}.with.{item_key}",
                            f"{schema}.properties.with.properties.{item_key}",
                            assigns=False,
                        )
            elif value:
                check.check(value, task_known, f"{base}.{key}", f"{schema}.properties.{key}", assigns=False)
        rolling = sorted(set(rolling) | set(task_known))
        for transition in task.next:
            path = f"{base}.next[{transition.index}]"
            items_schema = f"{schema}.properties.next.items.properties"
            if transition.when:
                check.check(
                    transition.when, task_known, f"{path}.when", f"{items_schema}.when", assigns=False
                )
            branch = task_known
            if transition.publish:
                publish = [{key: value} for key, value in transition.publish]
                branch = check.check(
                    publish, task_known, f"{path}.publish", f"{items_schema}.publish", assigns=True
                )
            for target in transition.do:
                if target in traversed or (target not in spec.tasks and target not in RESERVED_NAMES):
                    continue
                if target in RESERVED_NAMES or not spec.tasks[target].is_join:
                    queue.append((target, branch))
                else:
                    joins[target] = sorted(set(joins.get(target, [])) | set(branch))
                    queue.append((target, None))
    return rolling


def _contents(spec: WorkflowSpec, catalog: Catalog) -> list[dict[str, Any]]:
    actions = {
        name: task.action
        for name, task in spec.tasks.items()
        if task.action and not has_expressions(task.action)
    }
    schemas = catalog(sorted({ref for ref in actions.values() if COMPONENT_REF_RE.match(ref)}))
    errors = []
    for name, ref in actions.items():
        task = spec.tasks[name]
        action_path, input_path = f"tasks.{name}.action", f"tasks.{name}.input"
        if not COMPONENT_REF_RE.match(ref):
            message = f'The action reference "{ref}" is not formatted correctly.'
            errors.append(_content(message, action_path, f"{_TASK}.properties.action"))
            continue
        schema = schemas.get(ref)
        if schema is None:
            message = f'The action "{ref}" is not registered in the database.'
            errors.append(_content(message, action_path, f"{_TASK}.properties.action"))
            continue
        given = task.input if isinstance(task.input, dict) else {}
        if task.input and not isinstance(task.input, dict):
            continue
        found = schema.get("properties")
        properties: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        for param in sorted(_required(schema, properties) - set(given)):
            message = f'Action "{ref}" is missing required input "{param}".'
            errors.append(_content(message, input_path, f"{_TASK}.properties.input"))
        extra = schema.get("additionalProperties")
        if properties and extra is not True and not isinstance(extra, Mapping):
            for param in sorted(set(given) - set(properties)):
                message = f'Action "{ref}" has unexpected input "{param}".'
                errors.append(
                    _content(
                        message, f"{input_path}.{param}", f"{_TASK}.properties.input.patternProperties.^\\w+$"
                    )
                )
    return errors


def _required(schema: Mapping[str, Any], properties: Mapping[str, Any]) -> set[str]:
    found = schema.get("required")
    required: list[Any] = found if isinstance(found, list) else []
    return {
        name
        for name in required
        if not (isinstance(properties.get(name), Mapping) and properties[name].get("default"))
    }


def _content(message: str, spec_path: str, schema_path: str) -> dict[str, Any]:
    return {"type": "content", "message": message, "spec_path": spec_path, "schema_path": schema_path}
