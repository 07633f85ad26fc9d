"""Events -> rules -> enforcements -> executions -> results, end to end against a real executor."""

from __future__ import annotations

import asyncpg

from attune_shared.bus import Bus
from attune_shared.repos import ActionRepository, ExecutionHistoryRepository
from attune_shared.statuses import EnforcementStatus, ExecutionStatus

from ..shared.factories import make_rule, make_trigger
from .conftest import StartExecutor
from .helpers import enforcements_of, executions_of, finished, fire, wait_for


async def test_matching_rules_run_their_actions(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    trigger = await make_trigger(db_pool, "demo.alert")
    echo = await ActionRepository(db_pool).get_by_ref("core.echo")
    await make_rule(
        db_pool,
        "demo.echo_critical",
        trigger=trigger,
        action=echo,
        criteria={"trigger.severity": {"type": "equals", "pattern": "critical"}},
        action_params={"message": "{{ trigger.host }} is {{ trigger.severity }}"},
    )
    await start_executor()

    events = await fire(
        db_pool, bus, "demo.alert", {"host": "web-1", "severity": "critical"}, {"host": "web-2", "severity": "info"}
    )
    [x] = await finished(db_pool, 1, "core.echo")
    assert x.status is ExecutionStatus.COMPLETED
    assert x.result is not None and x.result["succeeded"] is True
    assert x.result["stdout"] == "web-1 is critical"
    assert x.rule_ref == "demo.echo_critical" and x.trigger_ref == "demo.alert"
    enforcements = await enforcements_of(db_pool, events)
    assert [(e.event, e.status) for e in enforcements] == [(events[0].id, EnforcementStatus.PROCESSED)]
    assert enforcements[0].resolved_at is not None and enforcements[0].created == events[0].created
    assert x.enforcement == enforcements[0].id and x.created == enforcements[0].created
    history = await ExecutionHistoryRepository(db_pool).for_entity(x.id)
    statuses = [h.new_values["status"] for h in reversed(history) if "status" in h.changed_fields]
    assert statuses == ["requested", "scheduling", "scheduled", "running", "completed"]
    assert len(await executions_of(db_pool)) == 1

    await wait_for(lambda: _no_pending(db_pool), 5, "no created enforcement")


async def _no_pending(db: asyncpg.Pool) -> bool:
    return not await db.fetchval("SELECT count(*) FROM enforcement WHERE status = 'created'")
