import asyncio

import asyncpg
from nats.aio.client import Client as NatsClient

from attune_shared import executions
from attune_shared.bus import Bus, ExecutionStatusChanged
from attune_shared.executions import Transition
from attune_shared.repos import ExecutionHistoryRepository, ExecutionRepository, NewExecution
from attune_shared.statuses import ExecutionStatus as S

from .factories import make_execution


async def _status_messages(nc: NatsClient, bus: Bus) -> asyncio.Queue[ExecutionStatusChanged]:
    queue: asyncio.Queue[ExecutionStatusChanged] = asyncio.Queue()

    async def on(msg) -> None:  # type: ignore[no-untyped-def]
        await queue.put(ExecutionStatusChanged.model_validate_json(msg.data))

    await nc.subscribe(bus.subjects.execution_statuses, cb=on)
    await nc.flush()
    return queue


async def test_request_then_cancel_before_it_runs(
    db_pool: asyncpg.Pool, bus: Bus, nats_client: NatsClient
) -> None:
    statuses = await _status_messages(nats_client, bus)
    x = await executions.request(db_pool, bus, NewExecution(action_ref="core.noop"))
    first = await asyncio.wait_for(statuses.get(), 5)
    assert (first.execution_id, first.old_status, first.new_status) == (x.id, None, S.REQUESTED)
    assert (await nats_client.jsm().stream_info(bus.spec.work_stream)).state.messages == 1

    result = await executions.cancel(db_pool, bus, x.id)
    assert result is not None and result.outcome == "cancelled"
    change = await asyncio.wait_for(statuses.get(), 5)
    assert (change.old_status, change.new_status, change.action_ref) == (
        S.REQUESTED,
        S.CANCELLED,
        "core.noop",
    )
    row = await ExecutionRepository(db_pool).get(x.id, x.created)
    assert row is not None and row.status is S.CANCELLED and row.result == executions.cancelled_result()
    again = await executions.cancel(db_pool, bus, x.id)
    assert again is not None and again.outcome == "finished"
    assert await executions.cancel(db_pool, bus, 10**9) is None


async def test_cancel_while_running_asks_the_owner(
    db_pool: asyncpg.Pool, bus: Bus, nats_client: NatsClient
) -> None:
    statuses = await _status_messages(nats_client, bus)
    x = await make_execution(db_pool, status=S.RUNNING)
    result = await executions.cancel(db_pool, bus, x.id)
    assert result is not None and result.outcome == "canceling"
    change = await asyncio.wait_for(statuses.get(), 5)
    assert (change.old_status, change.new_status) == (S.RUNNING, S.CANCELING)
    history = await ExecutionHistoryRepository(db_pool).for_entity(x.id)
    assert history[0].new_values == {"status": "canceling"}


async def test_transition_loses_quietly_when_raced(
    db_pool: asyncpg.Pool, bus: Bus, nats_client: NatsClient
) -> None:
    statuses = await _status_messages(nats_client, bus)
    x = await make_execution(db_pool)
    results = await asyncio.gather(
        *(executions.transition(db_pool, bus, Transition(x, S.SCHEDULING)) for _ in range(5))
    )
    assert results.count(True) == 1
    won = await asyncio.wait_for(statuses.get(), 5)
    assert won.new_status is S.SCHEDULING
    # a sentinel from the same connection arrives after anything published before it
    await executions.announce(bus, x, (S.SCHEDULING, S.SCHEDULED))
    assert (await asyncio.wait_for(statuses.get(), 5)).new_status is S.SCHEDULED
