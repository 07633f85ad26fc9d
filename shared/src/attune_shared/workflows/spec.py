"""An Orquesta 1.0 workflow definition, read from YAML or from its stored JSON.

Reading is lenient: a definition with schema errors still reads (what is malformed is left out
of the model) so that :func:`~attune_shared.workflows.inspection.inspect` can report every
problem at once, as Orquesta does. Only what is not a mapping at all is refused.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attune_shared.errors import DefinitionError
from attune_shared.packs.problems import ROOT
from attune_shared.workflows.inline import parse_pairs
from attune_shared.yamlfile import YamlError, load_yaml

if TYPE_CHECKING:
    from attune_shared.workflows.graph import Graph

#: ``do`` when a transition names nothing.
CONTINUE = "continue"


@dataclass(frozen=True)
class Transition:
    """One entry of a task's ``next``; ``index`` is its position in the list."""

    index: int
    when: str | None
    publish: tuple[tuple[str, Any], ...]
    do: tuple[str, ...]


@dataclass(frozen=True)
class Items:
    """A task's ``with``: the items expression, the names it binds, the concurrency."""

    expression: str
    names: tuple[str, ...] | None
    concurrency: Any


@dataclass(frozen=True)
class Retry:
    """A task's ``retry``; ``count`` and ``delay`` may be expressions."""

    when: str | None
    count: Any
    delay: Any


@dataclass(frozen=True)
class TaskSpec:
    """One task. ``action`` and ``input`` are after inline ``k=v`` parameters were applied."""

    name: str
    action: str | None
    input: Any
    next: tuple[Transition, ...]
    join: Any
    items: Items | None
    retry: Retry | None
    delay: Any

    @property
    def is_join(self) -> bool:
        """Whether the task waits for its inbound branches (``join``)."""
        return self.join is not None


@dataclass(frozen=True, eq=False)
class WorkflowSpec:
    """A parsed workflow. ``data`` is the definition as written (JSON), what the engine stores."""

    data: dict[str, Any]
    input: tuple[tuple[str, Any], ...]
    vars: tuple[tuple[str, Any], ...]
    output: tuple[tuple[str, Any], ...]
    tasks: dict[str, TaskSpec]
    source: str | None = None

    @property
    def version(self) -> Any:
        """The ``version`` as written (``1.0`` or ``"1.0"``)."""
        return self.data.get("version")

    @property
    def description(self) -> str | None:
        """The ``description``, if any."""
        description = self.data.get("description")
        return description if isinstance(description, str) else None

    @cached_property
    def graph(self) -> Graph:
        """The task graph the conductor walks (computed once per spec)."""
        from attune_shared.workflows.graph import Graph

        return Graph(self)

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, source: str | None = None) -> WorkflowSpec:
        """Read a workflow from its mapping (YAML already loaded, or the stored JSON)."""
        if not isinstance(data, Mapping):
            raise DefinitionError([("(root)", "a workflow must be a mapping")], source=source)
        data = _normalized(copy.deepcopy(dict(data)))
        tasks = data.get("tasks")
        return cls(
            data=data,
            input=tuple(_inputs(data.get("input"))),
            vars=tuple(_pairs(data.get("vars"))),
            output=tuple(_pairs(data.get("output"))),
            tasks={
                name: _task(name, body)
                for name, body in (tasks.items() if isinstance(tasks, dict) else ())
                if isinstance(body, dict)
            },
            source=source,
        )


def load_workflow(path: Path, *, root: Path | None = None) -> WorkflowSpec:
    """Read a workflow file with :func:`attune_shared.yamlfile.load_yaml` (YAML 1.2, as pack files).

    Raises :class:`~attune_shared.errors.DefinitionError` naming the file for what is not a
    readable YAML mapping; everything else is :func:`~attune_shared.workflows.inspection.inspect`'s.
    """
    root = root or path.parent
    source = path.relative_to(root).as_posix()
    try:
        data = load_yaml(path)
    except YamlError as exc:
        raise DefinitionError([(ROOT, exc.detail)], source=source) from None
    if not isinstance(data, dict):
        kind = "an empty file" if data is None else f"a {type(data).__name__}"
        raise DefinitionError([(ROOT, f"must be a mapping of keys to values, got {kind}")], source=source)
    return WorkflowSpec.from_data(data, source=source)


def _normalized(data: dict[str, Any]) -> dict[str, Any]:
    """``with: <items>`` (a string) is short for ``with: {items: <items>}``, before validation."""
    tasks = data.get("tasks")
    if isinstance(tasks, dict):
        for body in tasks.values():
            if isinstance(body, dict) and isinstance(body.get("with"), str):
                body["with"] = {"items": body["with"]}
    return data


def _inputs(value: Any) -> list[tuple[str, Any]]:
    if not isinstance(value, list):
        return []
    return [(entry, None) if isinstance(entry, str) else pair for entry in value for pair in _one_key(entry)]


def _pairs(value: Any) -> list[tuple[str, Any]]:
    if not isinstance(value, list):
        return []
    return [pair for entry in value for pair in _one_key(entry)]


def _one_key(entry: Any) -> list[tuple[str, Any]]:
    if isinstance(entry, str):
        return [(entry, None)]
    if isinstance(entry, dict) and len(entry) == 1:
        return [next(iter(entry.items()))]
    return []


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(name.strip() for name in value.split(","))
    if isinstance(value, list):
        return tuple(name for name in value if isinstance(name, str))
    return ()


def _transition(index: int, body: Any) -> Transition:
    body = body if isinstance(body, dict) else {}
    publish = body.get("publish")
    when = body.get("when")
    return Transition(
        index=index,
        when=when if isinstance(when, str) and when else None,
        publish=tuple(parse_pairs(publish) if isinstance(publish, str) else _pairs(publish)),
        do=_names(body.get("do")) or (CONTINUE,),
    )


def _task(name: str, body: dict[str, Any]) -> TaskSpec:
    action = body.get("action")
    action = action if isinstance(action, str) and action else None
    task_input = body.get("input")
    inline = dict(parse_pairs(action))
    if action and inline:
        task_input = inline
        action = action.split(" ", 1)[0]
    items = body.get("with")
    retry = body.get("retry")
    transitions = body.get("next")
    return TaskSpec(
        name=name,
        action=action,
        input=task_input,
        next=tuple(
            _transition(i, t) for i, t in enumerate(transitions if isinstance(transitions, list) else ())
        ),
        join=body.get("join"),
        items=_items(items) if isinstance(items, dict) and isinstance(items.get("items"), str) else None,
        retry=(
            Retry(when=retry.get("when") or None, count=retry.get("count"), delay=retry.get("delay"))
            if isinstance(retry, dict)
            else None
        ),
        delay=body.get("delay"),
    )


def _items(body: dict[str, Any]) -> Items:
    text: str = body["items"]
    names: tuple[str, ...] | None = None
    expression = text.strip()
    if " in " in text:
        head, _, tail = text.partition(" in ")
        names = tuple(head.replace(" ", "").split(","))
        expression = tail.strip()
    return Items(expression=expression, names=names, concurrency=body.get("concurrency"))
