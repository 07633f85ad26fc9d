from dataclasses import replace

import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import RetentionPolicy

from attune_shared.bus import BusSpec, ProvisionError, provision
from attune_shared.bus.specs import EXECUTOR_EXECUTIONS


async def test_live_streams_and_consumers_equal_the_specs(nats_client: NatsClient, nats_prefix: str) -> None:
    spec = BusSpec(nats_prefix)
    report = await provision(nats_client, spec)
    assert len(report.created) == len(spec.streams()) + len(spec.consumers()) + len(spec.key_values())
    jsm = nats_client.jsm()
    for stream in spec.streams():
        live = (await jsm.stream_info(stream.name)).config
        assert sorted(live.subjects or []) == sorted(stream.subjects)
        assert live.retention == (
            RetentionPolicy.WORK_QUEUE if stream.retention == "workqueue" else RetentionPolicy.LIMITS
        )
        assert getattr(live.storage, "value", live.storage) == stream.storage
        assert live.max_age == pytest.approx(stream.max_age)
        assert live.duplicate_window == pytest.approx(stream.duplicate_window)
    assert (await jsm.stream_info(spec.triggers_stream)).config.duplicate_window >= 120
    for consumer in spec.consumers():
        live_c = (await jsm.consumer_info(consumer.stream, consumer.durable)).config
        assert live_c.durable_name == consumer.durable
        assert live_c.filter_subject == consumer.filter_subject
        assert live_c.ack_wait == pytest.approx(consumer.ack_wait)
        assert live_c.max_deliver == consumer.max_deliver
        assert live_c.max_ack_pending == consumer.max_ack_pending
    kv = await nats_client.jetstream().key_value(spec.bucket("leases"))
    assert (await kv.status()).ttl == pytest.approx(spec.lease_ttl)

    again = await provision(nats_client, spec)
    assert again.created == [] and again.updated == []


class SlowerExecutions(BusSpec):
    def consumers(self):
        return [
            replace(c, ack_wait=99.0, max_deliver=4) if c.durable == EXECUTOR_EXECUTIONS else c
            for c in super().consumers()
        ]


class LimitsTriggers(BusSpec):
    def streams(self):
        return [replace(s, retention="limits") for s in super().streams()]


async def test_changed_consumer_settings_are_applied(nats_client: NatsClient, nats_prefix: str) -> None:
    await provision(nats_client, BusSpec(nats_prefix))
    spec = SlowerExecutions(nats_prefix)
    report = await provision(nats_client, spec)
    assert report.updated == [f"consumer {spec.work_stream}/{EXECUTOR_EXECUTIONS}"]
    live = (await nats_client.jsm().consumer_info(spec.work_stream, EXECUTOR_EXECUTIONS)).config
    assert live.ack_wait == pytest.approx(99.0) and live.max_deliver == 4

    lease = BusSpec(nats_prefix, lease_ttl=3.0)
    report = await provision(nats_client, lease)
    assert f"kv {lease.bucket('leases')}" in report.updated  # (the consumer is restored too)


async def test_unchangeable_difference_is_a_clear_error(nats_client: NatsClient, nats_prefix: str) -> None:
    spec = BusSpec(nats_prefix)
    await provision(nats_client, spec)
    with pytest.raises(
        ProvisionError,
        match=f"stream {spec.triggers_stream} exists with retention workqueue; Attune needs retention limits",
    ):
        await provision(nats_client, LimitsTriggers(nats_prefix))
