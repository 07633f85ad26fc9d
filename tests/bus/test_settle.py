"""Ack policy end to end on a real NATS server, through the shared batch consumer: ack after success, delayed nak on retryable
errors, dead letter (with reason and original headers) on permanent errors, invalid bodies and
the last delivery."""

import asyncio
import json
from collections import Counter

import pytest
from nats.aio.client import Client as NatsClient

from attune_shared.bus import (
    BatchConsumer,
    Bus,
    BusSpec,
    Credits,
    Delivery,
    ExecutionRequested,
    Settler,
    make_broker,
    model_parser,
    provision,
    stop_broker,
)
from attune_shared.bus.messages import DLQ_REASON_HEADER, DeadLetter
from attune_shared.bus.specs import EXECUTOR_EXECUTIONS
from attune_shared.errors import PermanentError, RetryableError
from attune_shared.outage import DatabaseGate
from attune_shared.settings import NatsSettings


async def _dead_letters(nc: NatsClient, spec: BusSpec, count: int, timeout: float = 20.0) -> list:
    sub = await nc.jetstream().subscribe(
        spec.subjects.dead_letters, stream=spec.dlq_stream, ordered_consumer=True
    )
    letters = []
    try:
        async with asyncio.timeout(timeout):
            while len(letters) < count:
                msg = await sub.next_msg(timeout=timeout)
                letters.append(msg)
    finally:
        await sub.unsubscribe()
    return letters


def _consumer(broker, spec: BusSpec, handler, settler: Settler, gate: DatabaseGate) -> BatchConsumer:  # type: ignore[no-untyped-def]
    """The executions consumer, settling through ``settler``."""
    return BatchConsumer(
        broker.connection,
        spec,
        EXECUTOR_EXECUTIONS,
        model_parser(ExecutionRequested),
        handler,
        settler,
        Credits(8),
        gate,
        wait=0.5,
    )


@pytest.fixture
async def harness(nats_url: str, nats_prefix: str, nats_client: NatsClient, db_pool):
    spec = BusSpec(nats_prefix)
    await provision(nats_client, spec)
    broker = make_broker(NatsSettings(url=nats_url, prefix=nats_prefix), "test")
    bus = Bus(broker, spec)
    settler = Settler(spec, bus.dead_letter, base_delay=0.01)
    await broker.connect()
    yield broker, bus, spec, settler, DatabaseGate(db_pool)
    await stop_broker(broker)


async def test_ack_retry_and_dead_letters(harness, nats_client: NatsClient) -> None:
    broker, bus, spec, settler, gate = harness
    attempts: Counter[int] = Counter()
    done = asyncio.Event()

    async def handler(batch: list[Delivery[ExecutionRequested]]) -> None:
        for d in batch:
            i = d.body.execution_id
            attempts[i] += 1
            if i == 2 and attempts[2] < 3:
                d.error = RetryableError("database briefly away")
            elif i == 3:
                d.error = PermanentError("unknown_action", "no action demo.nope")
            elif i == 4:
                d.error = RuntimeError("always broken")
        if attempts[1] >= 1 and attempts[2] >= 3:
            done.set()

    consumer = _consumer(broker, spec, handler, settler, gate)
    await consumer.start()
    runner = asyncio.create_task(consumer.run())
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    for i in (1, 2, 3, 4):
        await bus.execution_requested(ExecutionRequested(execution_id=i, created=now, action_ref="demo.run"))
    # not a valid ExecutionRequested at all
    await nats_client.jetstream().publish(
        spec.subjects.execution_requested, b'{"execution_id": "x"}', headers={"X-Origin": "test"}
    )
    try:
        await asyncio.wait_for(done.wait(), 20)
        letters = await _dead_letters(nats_client, spec, 3, timeout=40)
    finally:
        consumer.stop()
        await runner

    by_reason = {m.headers[DLQ_REASON_HEADER]: m for m in letters}
    assert set(by_reason) == {"unknown_action", "invalid_message", "max_deliveries"}

    permanent = DeadLetter.model_validate_json(by_reason["unknown_action"].data)
    assert permanent.subject == spec.subjects.execution_requested
    assert json.loads(permanent.body)["execution_id"] == 3
    assert permanent.detail == "no action demo.nope" and permanent.num_delivered == 1
    assert attempts[3] == 1  # terminated, never redelivered

    invalid = DeadLetter.model_validate_json(by_reason["invalid_message"].data)
    assert invalid.headers["X-Origin"] == "test"  # original headers kept
    assert by_reason["invalid_message"].headers["X-Origin"] == "test"
    assert "execution_id" in invalid.detail

    exhausted = DeadLetter.model_validate_json(by_reason["max_deliveries"].data)
    assert attempts[4] == spec.consumer(EXECUTOR_EXECUTIONS).max_deliver
    assert "always broken" in exhausted.detail
    assert attempts[1] == 1 and attempts[2] == 3

    # everything was settled: nothing pending, the work-queue stream is empty
    jsm = nats_client.jsm()
    for _ in range(50):
        info = await jsm.consumer_info(spec.work_stream, EXECUTOR_EXECUTIONS)
        if info.num_ack_pending == 0 and info.num_pending == 0:
            break
        await asyncio.sleep(0.1)
    assert info.num_ack_pending == 0 and info.num_pending == 0
    assert (await jsm.stream_info(spec.work_stream)).state.messages == 0


async def test_publish_dedups_work_messages_by_id(harness, nats_client: NatsClient) -> None:
    _, bus, spec, _, _ = harness
    from datetime import UTC, datetime

    event = (7, datetime.now(UTC), "demo.alert")
    assert await bus.event_created_many([event]) == [None]
    assert await bus.event_created_many([event]) == [None]
    assert (await nats_client.jsm().stream_info(spec.work_stream)).state.messages == 1


async def test_publish_failure_is_retryable(owned_nats, nats_prefix: str) -> None:
    from attune_shared.bus import RuleChanged

    spec = BusSpec(nats_prefix)
    broker = make_broker(NatsSettings(url=owned_nats.url, prefix=nats_prefix), "test")
    await broker.connect()
    await provision(broker.connection, spec)
    bus = Bus(broker, spec, timeout=0.5)
    change = RuleChanged(rule_ref="a.b", trigger_ref="a.t", enabled=True, op="created")
    await bus.rule_changed(change)
    owned_nats.kill()
    try:
        with pytest.raises(RetryableError, match=f"publish to {spec.subjects.rule_changed} failed"):
            await bus.rule_changed(change)
    finally:
        owned_nats.start()
        await stop_broker(broker)


async def test_dead_letter_publish_failures_never_drop_a_message(harness, nats_client: NatsClient) -> None:
    """While the dead-letter queue cannot be written, failing messages are kept: nak'ed before their
    last delivery, held (in progress) on it, since the server would not deliver them again."""
    broker, bus, spec, _, gate = harness
    failures = {"left": 4}

    async def flaky_sink(letter: DeadLetter, headers: dict[str, str]) -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise RetryableError("publish to the dlq failed: NATS away")
        await bus.dead_letter(letter, headers)

    settler = Settler(spec, flaky_sink, base_delay=0.01)
    attempts: Counter[int] = Counter()

    async def handler(batch: list[Delivery[ExecutionRequested]]) -> None:
        for d in batch:
            attempts[d.body.execution_id] += 1
            # 1 fails on every delivery: its last one is the one whose dead letter cannot be written
            d.error = RuntimeError("always broken")

    consumer = _consumer(broker, spec, handler, settler, gate)
    await consumer.start()
    runner = asyncio.create_task(consumer.run())
    from datetime import UTC, datetime

    await bus.execution_requested(
        ExecutionRequested(execution_id=1, created=datetime.now(UTC), action_ref="demo.run")
    )
    try:
        letters = await _dead_letters(nats_client, spec, 1, timeout=40)
    finally:
        consumer.stop()
        await runner

    max_deliver = spec.consumer(EXECUTOR_EXECUTIONS).max_deliver
    assert attempts[1] == max_deliver  # no delivery beyond the server's limit
    assert failures["left"] == 0
    letter = DeadLetter.model_validate_json(letters[0].data)
    assert letters[0].headers[DLQ_REASON_HEADER] == "max_deliveries"
    assert letter.num_delivered == max_deliver and "always broken" in letter.detail
    assert (await nats_client.jsm().stream_info(spec.work_stream)).state.messages == 0
