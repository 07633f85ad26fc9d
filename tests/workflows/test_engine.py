"""Workflows on the real pipeline: executor processes, PostgreSQL and NATS; the tests' own workflows
(tests/workflows/pack). Several workflows run at once against one stack."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from attune_shared import executions
from attune_shared.bus import Bus
from attune_shared.constants import SYSTEM_USER
from attune_shared.datastore import Datastore
from attune_shared.models import Execution, KeyScope
from attune_shared.repos import (
    ExecutionHistoryRepository,
    WorkflowExecutionRepository,
    WorkflowTaskDispatchRepository,
)
from attune_shared.secrets import SecretBox
from attune_shared.settings import Settings
from attune_shared.statuses import ExecutionStatus
from attune_shared.workflows import WorkflowStateError
from attune_shared.workflows.engine import WorkflowEngine

from ..executor.conftest import StartExecutor
from .stack import child, finished, max_overlap, reaches, run, tree

S = ExecutionStatus
pytestmark = pytest.mark.slow

COMPLETED, FAILED = S.COMPLETED, S.FAILED


def failed_task(task: str, child: Execution) -> dict[str, Any]:
    """Orquesta's error entry of a task whose action failed (it carries the child's result)."""
    return {
        "type": "error",
        "message": "Execution failed. See result for details.",
        "task_id": task,
        "result": child.result,
    }


async def test_the_language_on_the_pipeline(
    db_pool: asyncpg.Pool,
    bus: Bus,
    wftest: None,
    start_executor: StartExecutor,
    tmp_path: Path,
    settings: Settings,
) -> None:
    datastore = Datastore(db_pool, SecretBox(settings.security.secret_key))
    await datastore.set("greeting", "hello from the datastore")
    await datastore.set("color", "teal", scope=KeyScope.USER, user=SYSTEM_USER)
    await datastore.set("token", "s3cret", secret=True)
    await start_executor(CONCURRENCY="32")
    requests = {
        "sequential": ("wftest.sequential", {"who": "ada"}),
        "small": ("wftest.branching", {"size": 3}),
        "big": ("wftest.branching", {"size": 30}),
        "joins": ("wftest.joins", {}),
        "items": ("wftest.items", {}),
        "delayed": ("wftest.delayed", {}),
        "noop": ("wftest.errors", {"mode": "noop"}),
        "fail": ("wftest.errors", {"mode": "fail"}),
        "continue": ("wftest.errors", {"mode": "continue"}),
        "cycle": ("wftest.cycle", {}),
        "retries": ("wftest.retries", {"counter": str(tmp_path / "runs")}),
        "nested": ("wftest.nested", {}),
        "deeper": ("wftest.deeper", {}),
        "nested_failure": ("wftest.nested_failure", {}),
        "bad_expression": ("wftest.bad_expression", {}),
        "broken": ("wftest.broken", {}),
        "keys": ("wftest.keys", {}),
    }
    started = {name: await run(db_pool, bus, ref, **params) for name, (ref, params) in requests.items()}
    done = {name: await finished(db_pool, x, 60) for name, x in started.items()}
    trees = {name: await tree(db_pool, x) for name, x in done.items()}

    def check(name: str, status: ExecutionStatus, result: dict[str, Any], tasks: list[Any]) -> None:
        x = done[name]
        assert (x.status, x.result) == (status, result), name
        assert trees[name].tasks() == tasks, name

    # sequential, with publish (list and `a=b` forms, YAQL and Jinja); `count` runs no action
    check(
        "sequential",
        COMPLETED,
        {
            "output": {
                "greeting": "hello ada",
                "shouted": "HELLO ADA",
                "letters": 9,
                "user": "attune",
                "execution": str(started["sequential"].id),
            }
        },
        [("greet", None, COMPLETED), ("shout", None, COMPLETED)],
    )
    # branching: one branch or the other
    check(
        "small",
        COMPLETED,
        {"output": {"branch": "small", "said": "small 3"}},
        [("check", None, COMPLETED), ("small", None, COMPLETED)],
    )
    check(
        "big",
        COMPLETED,
        {"output": {"branch": "big", "said": "big 30"}},
        [("check", None, COMPLETED), ("big", None, COMPLETED)],
    )
    # joins: two_of_three ran after a and c, before the slow b arrived; all_three after the three
    check(
        "joins",
        COMPLETED,
        {
            "output": {
                "early": "alpha+gamma",
                "b_when_early": "not yet",
                "together": ["alpha", "slept", "gamma"],
            }
        },
        [
            ("fork", None, COMPLETED),
            ("a", None, COMPLETED),
            ("b", None, COMPLETED),
            ("c", None, COMPLETED),
            ("two_of_three", None, COMPLETED),
        ],
    )
    [b] = trees["joins"].named("b")
    [early] = trees["joins"].named("two_of_three")
    assert early.execution.created < b.execution.updated  # it did not wait for b
    # with-items: zip with padding, then 6 sleeps at most 2 at a time
    check(
        "items",
        COMPLETED,
        {
            "output": {
                "greetings": ["countess ada", "admiral grace", "nobody alan"],
                "napped": 6,
                "statuses": ["succeeded"],
            }
        },
        [("greet", i, COMPLETED) for i in range(3)] + [("nap", i, COMPLETED) for i in range(6)],
    )
    assert max_overlap([n.execution for n in trees["items"].named("nap")]) == 2
    # delay: the task's execution may not start before a second has passed
    check("delayed", COMPLETED, {"output": {"said": "late"}}, [("later", None, COMPLETED)])
    [later] = trees["delayed"].named("later")
    assert later.execution.run_after is not None and later.execution.started_at is not None
    assert (later.execution.run_after - later.execution.created).total_seconds() >= 1
    assert later.execution.started_at >= later.execution.run_after
    # error handling: noop remediates; fail fails the workflow (cleanup still runs); continue fails it
    [boom] = trees["noop"].named("boom")
    check("noop", COMPLETED, {"output": {"handled": "noop", "mode": "noop"}}, [("boom", None, FAILED)])
    [boom] = [n.execution for n in trees["fail"].named("boom")]
    check(
        "fail",
        FAILED,
        {
            "output": {"handled": "fail", "mode": "fail"},
            "errors": [
                failed_task("boom", boom),
                {"type": "error", "message": "Execution failed. See result for details.", "task_id": "fail"},
            ],
        },
        [("boom", None, FAILED), ("cleanup", None, COMPLETED)],
    )
    assert boom.result is not None and boom.result["stderr"] == "broken\n" and boom.result["exit_code"] == 3
    [boom] = [n.execution for n in trees["continue"].named("boom")]
    check(
        "continue",
        FAILED,
        {"output": {"handled": "continue", "mode": "continue"}, "errors": [failed_task("boom", boom)]},
        [("boom", None, FAILED)],
    )
    # a cycle through an action-less task
    check(
        "cycle",
        COMPLETED,
        {"output": {"started": "yes", "seen": ["round 0", "round 1", "round 2"], "finished": 3}},
        [("step", None, COMPLETED)] * 3,
    )
    # retry: two failures, retried after a delay, then success
    check(
        "retries",
        COMPLETED,
        {"output": {"runs": "3"}},
        [("flaky", None, FAILED), ("flaky", None, FAILED), ("flaky", None, COMPLETED)],
    )
    runs = [n.execution for n in trees["retries"].named("flaky")]
    for before, after in zip(runs, runs[1:], strict=False):
        assert after.started_at is not None and (after.started_at - before.updated).total_seconds() >= 1
    # nested workflows: the child's output is its task's result().output, at any depth
    check(
        "nested",
        COMPLETED,
        {"output": {"final": "HELLO NESTED!", "letters": 12, "parent_of_inner": "attune"}},
        [("inner", None, COMPLETED), ("after", None, COMPLETED)],
    )
    [inner] = trees["nested"].named("inner")
    assert inner.tasks() == [("greet", None, COMPLETED), ("shout", None, COMPLETED)]
    assert inner.execution.result == {
        "output": {
            "greeting": "hello nested",
            "shouted": "HELLO NESTED",
            "letters": 12,
            "user": "attune",
            "execution": str(inner.execution.id),
        }
    }
    check("deeper", COMPLETED, {"output": {"final": "HELLO DEEP!"}}, [("middle", None, COMPLETED)])
    [middle] = trees["deeper"].named("middle")
    assert [t for t, _, _ in middle.tasks()] == ["inner", "after"]
    assert [t for t, _, _ in middle.named("inner")[0].tasks()] == ["greet", "shout"]
    # a nested failure fails its task, and the workflow; the output is rendered on failure too
    [inner_x] = [n.execution for n in trees["nested_failure"].named("inner")]
    assert inner_x.status is FAILED and inner_x.result is not None
    assert inner_x.result["output"] == {"handled": "continue", "mode": "continue"}
    check(
        "nested_failure",
        FAILED,
        {"output": {"inner_handled": "continue"}, "errors": [failed_task("inner", inner_x)]},
        [("inner", None, FAILED)],
    )
    # an expression failing at run time fails the workflow, naming the task and the expression
    check(
        "bad_expression",
        FAILED,
        {
            "output": None,
            "errors": [
                {
                    "type": "error",
                    "message": "YaqlEvaluationException: Unable to resolve key 'missing' in expression "
                    "'<% result().missing.deeper %>' from context.",
                    "task_id": "first",
                    "route": 0,
                    "task_transition_id": "second__t0",
                }
            ],
        },
        [("first", None, COMPLETED)],
    )
    # a workflow that fails inspection fails at once, with the inspection errors, running nothing
    check(
        "broken",
        FAILED,
        {
            "output": None,
            "errors": [
                {
                    "type": "semantic",
                    "message": 'The task "nowhere" is not defined.',
                    "spec_path": "tasks.first.next[0].do",
                    "schema_path": "properties.tasks.patternProperties.^\\w+$.properties.next.items.properties.do",
                }
            ],
        },
        [],
    )
    # st2kv(): system and user keys, a secret decrypted (its ciphertext otherwise), a default
    check(
        "keys",
        COMPLETED,
        {
            "output": {
                "greeting": "hello from the datastore",
                "mine": "teal",
                "token": "s3cret",
                "sealed": True,
                "fallback": "none here",
            }
        },
        [("read", None, COMPLETED)],
    )
    # every workflow's row is closed, and every child was dispatched once
    workflows = await WorkflowExecutionRepository(db_pool).of_executions([x.id for x in done.values()])
    for name, x in done.items():
        assert workflows[x.id].closed_at is not None and workflows[x.id].status is x.status, name
    keys = await db_pool.fetch(
        "SELECT workflow_execution, dispatch_key, count(*) FROM workflow_task_dispatch GROUP BY 1, 2 HAVING count(*) > 1"
    )
    assert keys == []
    assert await WorkflowTaskDispatchRepository(db_pool).unreported(timedelta(0)) == []


async def test_pause_and_resume_cascade_to_a_nested_workflow(
    db_pool: asyncpg.Pool, bus: Bus, wftest: None, start_executor: StartExecutor, engine: WorkflowEngine
) -> None:
    await start_executor()
    x = await run(db_pool, bus, "wftest.pausable_parent")
    inner = await child(db_pool, x, "inner")
    slow = await child(db_pool, inner, "slow", S.RUNNING)

    paused = await engine.pause(x.id)
    assert paused is not None and paused.status is S.PAUSING  # its nested workflow still runs a task
    await reaches(db_pool, inner, S.PAUSED)  # the nested workflow paused once its task ended
    await reaches(db_pool, x, S.PAUSED)
    assert (await reaches(db_pool, slow, S.COMPLETED)).status is S.COMPLETED
    assert (await tree(db_pool, inner)).tasks() == [("slow", None, COMPLETED)]  # nothing new started
    with pytest.raises(WorkflowStateError):
        await engine.pause(slow.id)  # not a workflow

    resumed = await engine.resume(x.id)
    assert resumed is not None and resumed.status in (S.RESUMING, S.RUNNING)
    done = await finished(db_pool, x)
    assert (done.status, done.result) == (COMPLETED, {"output": {"inner_said": "resumed"}})
    node = await tree(db_pool, done)
    assert node.tasks() == [("inner", None, COMPLETED), ("last", None, COMPLETED)]
    assert node.named("inner")[0].tasks() == [("slow", None, COMPLETED), ("quick", None, COMPLETED)]
    statuses = [
        h.new_values.get("status")
        for h in reversed(await ExecutionHistoryRepository(db_pool).for_entity(x.id))
    ]
    assert statuses == [
        "requested",
        "scheduling",
        "scheduled",
        "running",
        "pausing",
        "paused",
        "resuming",
        "running",
        "completed",
    ]


async def test_cancel_cascades_to_children_and_nested_workflows(
    db_pool: asyncpg.Pool, bus: Bus, wftest: None, start_executor: StartExecutor, engine: WorkflowEngine
) -> None:
    await start_executor()
    x = await run(db_pool, bus, "wftest.cancellable")
    long = await child(db_pool, x, "long", S.RUNNING)
    nested = await child(db_pool, x, "nested")
    slow = await child(db_pool, nested, "slow", S.RUNNING)

    outcome = await engine.cancel(x.id)
    assert outcome is not None and outcome.outcome == "canceling"
    done = await finished(db_pool, x)
    assert (done.status, done.result) == (S.CANCELLED, {"output": None}), done.result
    for c in (long, nested, slow):
        assert (await reaches(db_pool, c, S.CANCELLED)).status is S.CANCELLED
    node = await tree(db_pool, done)
    assert [t for t, _, _ in node.tasks()] == ["long", "nested"]  # `never` never started
    assert (await engine.cancel(x.id)).outcome == "finished"  # type: ignore[union-attr]


async def test_a_workflow_times_out_as_a_whole(
    db_pool: asyncpg.Pool, bus: Bus, wftest: None, start_executor: StartExecutor
) -> None:
    await start_executor()
    x = await run(db_pool, bus, "wftest.pausable", timeout_seconds=1, seconds=30)
    done = await finished(db_pool, x)
    assert (done.status, done.result) == (
        S.TIMEOUT,
        {
            "output": None,
            "errors": [
                {"type": "error", "message": "The workflow did not finish within its timeout of 1 s."}
            ],
        },
    )
    [slow] = (await tree(db_pool, done)).children
    assert (await reaches(db_pool, slow.execution, S.CANCELLED)).status is S.CANCELLED


async def test_a_child_cancelled_before_it_ran_advances_its_workflow_through_the_reconciler(
    db_pool: asyncpg.Pool, bus: Bus, wftest: None, start_executor: StartExecutor
) -> None:
    await start_executor()
    x = await run(db_pool, bus, "wftest.delayed")
    later = await child(db_pool, x, "later", S.REQUESTED)  # waits for its delay
    # cancelled by something that does not advance workflows (as an API without the engine would)
    cancelled = await executions.cancel(db_pool, bus, later.id)
    assert cancelled is not None and cancelled.outcome == "cancelled"
    done = await finished(db_pool, x)
    assert (done.status, done.result) == (S.CANCELLED, {"output": None}), done.result


async def test_a_workflow_action_obeys_its_concurrency_policy(
    db_pool: asyncpg.Pool, bus: Bus, wftest: None, start_executor: StartExecutor
) -> None:
    """A workflow holds its policy slot until it ends (not until its start): the second waits."""
    await start_executor()
    first = await run(db_pool, bus, "wftest.exclusive")
    second = await run(db_pool, bus, "wftest.exclusive")
    done = [await finished(db_pool, x) for x in (first, second)]
    assert [(x.status, x.result) for x in done] == [(COMPLETED, {"output": {"said": "resumed"}})] * 2
    earlier, later = sorted(done, key=lambda x: x.started_at or x.created)
    assert later.started_at is not None and later.started_at >= earlier.updated
