"""The task graph of a workflow, as Orquesta composes it.

Nodes are the tasks reachable from the start tasks (those no transition leads to), engine
commands included. Each ``(task, destination)`` pair's transitions are numbered in ``next``
order: the ``n``-th transition from ``a`` to ``b`` is ``b__t<n>`` on ``a``'s side and
``a__t<n>`` on ``b``'s. Outbound transitions are walked sorted by destination name.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from attune_shared.workflows.schema import RESERVED_NAMES

if TYPE_CHECKING:
    from attune_shared.workflows.spec import TaskSpec, WorkflowSpec

#: Every inbound task must arrive (``join: all``).
ALL = "*"


@dataclass(frozen=True)
class Edge:
    """A transition: ``source`` → ``target``, ``key``-th of that pair, ``index`` in ``next``."""

    source: str
    target: str
    key: int
    index: int
    when: str | None

    @property
    def id(self) -> str:
        """The id the source records the transition under (``target__t<key>``)."""
        return f"{self.target}__t{self.key}"

    @property
    def backref(self) -> str:
        """The id the target records its arrival under (``source__t<key>``)."""
        return f"{self.source}__t{self.key}"


class Graph:
    """Tasks, transitions, joins, cycles and retries of a :class:`WorkflowSpec`."""

    def __init__(self, spec: WorkflowSpec) -> None:
        self.spec = spec
        self._next = {name: _next_names(task) for name, task in spec.tasks.items()}
        self.starts = sorted(
            name for name in spec.tasks if not any(name in [t for t, _, _ in n] for n in self._next.values())
        )
        self.nodes: list[str] = []
        self.out: dict[str, list[Edge]] = {}
        self.into: dict[str, list[Edge]] = {}
        self.retry: dict[str, dict[str, Any]] = {}
        self._cycles: dict[str, bool] = {}
        self._compose()

    def _compose(self) -> None:
        queue = deque(self.starts)
        seen: set[str] = set()
        while queue:
            name = queue.popleft()
            if name in seen:
                continue
            seen.add(name)
            self.nodes.append(name)
            task = self.spec.tasks.get(name)
            if task is not None and task.retry is not None and task.retry.count is not None:
                self.retry[name] = {
                    "when": task.retry.when,
                    "count": task.retry.count,
                    "delay": task.retry.delay,
                }
            counts: dict[str, int] = {}
            edges = self.out.setdefault(name, [])
            for target, when, index in self._next.get(name, []):
                if target == "retry":
                    self.retry[name] = {"when": when or "<% completed() %>", "count": 3, "delay": None}
                    continue
                edge = Edge(name, target, counts.get(target, 0), index, when)
                counts[target] = edge.key + 1
                edges.append(edge)
                self.into.setdefault(target, []).append(edge)
                queue.append(target)

    def task(self, name: str) -> TaskSpec | None:
        """The task's spec; ``None`` for an engine command."""
        return self.spec.tasks.get(name)

    def barrier(self, name: str) -> Any:
        """``"*"`` for ``join: all``, the count for ``join: N``, ``None`` for no join."""
        task = self.spec.tasks.get(name)
        if task is None or task.join is None:
            return None
        return ALL if task.join == "all" else task.join

    def prev_count(self, name: str) -> int:
        """How many transitions (of any task) name ``name`` in ``do``."""
        return sum(1 for names in self._next.values() for target, _, _ in names if target == name)

    def is_split(self, name: str) -> bool:
        """A task without a join that several transitions lead to: it runs once per arrival."""
        return self.barrier(name) is None and self.prev_count(name) > 1

    def in_cycle(self, name: str) -> bool:
        """Whether ``name`` can reach itself."""
        if name not in self._cycles:
            queue = deque(target for target, _, _ in self._next.get(name, []))
            seen: set[str] = set()
            found = False
            while queue and not found:
                target = queue.popleft()
                found = target == name
                if target not in seen:
                    seen.add(target)
                    queue.extend(t for t, _, _ in self._next.get(target, []))
            self._cycles[name] = found
        return self._cycles[name]

    @staticmethod
    def is_command(name: str) -> bool:
        """Whether ``name`` is an engine command (``continue``, ``fail``, ``noop``, ``retry``)."""
        return name in RESERVED_NAMES


def _next_names(task: TaskSpec) -> list[tuple[str, str | None, int]]:
    """``(target, when, index)`` of every name in every ``do``, sorted by target (stable)."""
    names = [(target, t.when, t.index) for t in task.next for target in t.do]
    return sorted(names, key=lambda entry: entry[0])
