"""Drive the conductor by hand: children are completed by the test, in the order it chooses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from attune_shared.bus import Bus
from attune_shared.packs import PackProblem, register_core_pack, register_pack
from attune_shared.secrets import SecretBox
from attune_shared.settings import Settings
from attune_shared.workflows import Dispatch, Runtime, Step, WorkflowSpec, child_changed, load_workflow, start
from attune_shared.workflows.engine import WorkflowEngine

from ..executor.conftest import start_executor  # noqa: F401 (a fixture)
from .stack import PACK_DIR

FILES = Path(__file__).parent / "files"
CONTEXT = {
    "st2": {"action_execution_id": "42", "user": "stanley", "api_url": "http://127.0.0.1/api"},
    "parent": {},
}


class Driver:
    """A workflow under test: its state, the children started and not yet reported, their results."""

    def __init__(self, spec: WorkflowSpec, params: dict[str, Any] | None = None) -> None:
        self.spec = spec
        self.results: dict[str, Any] = {}
        self.outstanding: list[Dispatch] = []
        self.started: list[Dispatch] = []
        self.step = self._take(start(spec, params or {}, CONTEXT))

    def _take(self, step: Step) -> Step:
        self.state = step.state
        self.outstanding += step.dispatches
        self.started += step.dispatches
        return step

    def find(self, task_id: str, item: int | None = None) -> Dispatch:
        matches = [d for d in self.outstanding if d.task_id == task_id and d.item == item]
        assert matches, (
            f"{task_id}[{item}] was not dispatched; outstanding: {[d.key for d in self.outstanding]}"
        )
        return matches[0]

    def report(
        self, task_id: str, status: str = "completed", result: Any = None, item: int | None = None
    ) -> Step:
        dispatch = self.find(task_id, item)
        if status not in ("pending", "paused", "running"):
            self.outstanding.remove(dispatch)
            self.results[dispatch.key] = result
        step = child_changed(
            self.spec, self.state, dispatch.key, status, result, runtime=Runtime(dict(self.results))
        )
        self.step = self._take(step)
        return step

    def new(self, step: Step) -> list[tuple[str, int | None]]:
        return [(d.task_id, d.item) for d in step.dispatches]


@pytest.fixture
def workflow():
    """``workflow("name.yaml", **params)`` -> a started :class:`Driver`."""

    def make(name: str, **params: Any) -> Driver:
        return Driver(load_workflow(FILES / name), params)

    return make


@pytest_asyncio.fixture
async def wftest(db_pool: asyncpg.Pool) -> None:
    """The core pack and the tests' workflow pack, registered (``wftest.broken`` registers with
    its inspection error, as in StackStorm)."""
    await register_core_pack(db_pool)
    report = await register_pack(db_pool, PACK_DIR)
    assert report.workflow_problems == {
        "wftest.broken": [
            PackProblem(
                "actions/workflows/broken.yaml",
                "tasks.first.next[0].do",
                'The task "nowhere" is not defined.',
            )
        ]
    }


@pytest_asyncio.fixture
async def engine(db_pool: asyncpg.Pool, bus: Bus, settings: Settings) -> AsyncIterator[WorkflowEngine]:
    """A workflow engine in the test's process, as the API holds one (pause, resume, cancel)."""
    engine = WorkflowEngine(
        db_pool, bus, SecretBox(settings.security.secret_key), api_url="http://127.0.0.1:8080/api/v1"
    )
    yield engine
    await engine.close()
