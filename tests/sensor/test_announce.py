"""``Bus.event_created_many``, the sensor's way of announcing a batch: one outcome per event,
de-duplicated by event id, and retryable failures (never a hang) when NATS is away."""

from __future__ import annotations

from datetime import UTC, datetime

from nats.aio.client import Client as NatsClient

from attune_shared.bus import Bus, BusSpec, EventCreated, make_broker, provision, stop_broker
from attune_shared.embedded import NatsServer
from attune_shared.errors import RetryableError
from attune_shared.settings import NatsSettings
from tests.sensor.helpers import event_created_count


def _events(n: int) -> list[tuple[int, datetime, str]]:
    now = datetime.now(UTC)
    return [(i, now, "demo.alert") for i in range(1, n + 1)]


async def test_many_are_published_once_each(bus: Bus, nats_client: NatsClient) -> None:
    events = _events(2500)  # more than one chunk
    assert await bus.event_created_many(events) == [None] * 2500
    assert await bus.event_created_many(events[:10]) == [None] * 10
    assert await event_created_count(nats_client, bus.spec) == 2500
    got = await nats_client.jsm().get_msg(bus.spec.work_stream, 1)
    assert EventCreated.model_validate_json(got.data) == EventCreated(
        event_id=1, created=events[0][1], trigger_ref="demo.alert"
    )
    assert got.headers is not None and got.headers["Nats-Msg-Id"] == "event.1"


async def test_nats_away_gives_retryable_outcomes(owned_nats: NatsServer, nats_prefix: str) -> None:
    spec = BusSpec(nats_prefix)
    broker = make_broker(NatsSettings(url=owned_nats.url, prefix=nats_prefix), "test")
    await broker.connect()
    await provision(broker.connection, spec)
    bus = Bus(broker, spec, timeout=0.5)
    assert await bus.event_created_many(_events(3)) == [None] * 3
    owned_nats.kill()
    try:
        outcomes = await bus.event_created_many(_events(5))
        assert len(outcomes) == 5 and all(isinstance(o, RetryableError) for o in outcomes)
    finally:
        owned_nats.start()
        await stop_broker(broker)
