"""``PubAckInbox``: publishes sent together, one outcome per message in order, nothing left waiting."""

from __future__ import annotations

from datetime import UTC, datetime

from nats.aio.client import Client as NatsClient
from nats.js.errors import APIError, NoStreamResponseError

from attune_shared.bus import Bus, BusSpec, provision
from attune_shared.bus.pubacks import PubAckInbox


async def test_each_message_is_stored_once_with_its_headers(
    nats_client: NatsClient, nats_prefix: str
) -> None:
    spec = BusSpec(nats_prefix)
    await provision(nats_client, spec)
    inbox = PubAckInbox(nats_client)
    items = [(f'{{"n":{i}}}'.encode(), {"Nats-Msg-Id": f"m{i}"}) for i in range(300)]
    subject = spec.subjects.event_created
    assert await inbox.publish_many(subject, spec.work_stream, items, 5.0) == [None] * 300
    # the same ids again: de-duplicated by the stream, and still acknowledged
    assert await inbox.publish_many(subject, spec.work_stream, items[:5], 5.0) == [None] * 5
    jsm = nats_client.jsm()
    assert (await jsm.stream_info(spec.work_stream)).state.messages == 300
    last = await jsm.get_msg(spec.work_stream, 300)
    assert last.data == b'{"n":299}' and last.headers is not None and last.headers["Nats-Msg-Id"] == "m299"
    assert inbox._waiting == {}


async def test_refusals_are_the_outcomes_of_their_messages(nats_client: NatsClient, nats_prefix: str) -> None:
    spec = BusSpec(nats_prefix)
    await provision(nats_client, spec)
    inbox = PubAckInbox(nats_client)
    items = [(b"{}", {}), (b"{}", {})]
    # a stream stores the subject, but not the one the publisher expects
    wrong = await inbox.publish_many(spec.subjects.event_created, spec.dlq_stream, items, 5.0)
    assert len(wrong) == 2 and all(isinstance(o, APIError) for o in wrong)
    assert all("expected stream does not match" in str(o) for o in wrong)
    # no stream stores the subject at all
    unstored = await inbox.publish_many(f"{nats_prefix}.nowhere", spec.work_stream, items, 5.0)
    assert [type(o) for o in unstored] == [NoStreamResponseError, NoStreamResponseError]
    assert (await nats_client.jsm().stream_info(spec.work_stream)).state.messages == 0
    assert inbox._waiting == {}


async def test_no_puback_times_out_without_a_hang(nats_client: NatsClient, nats_prefix: str) -> None:
    # a plain subscriber that never answers: no "no responders" status, and no PubAck either
    subject = f"{nats_prefix}.silent"
    await nats_client.subscribe(subject)
    inbox = PubAckInbox(nats_client)
    outcomes = await inbox.publish_many(subject, "ANY", [(b"{}", {})] * 3, 0.3)
    assert [type(o) for o in outcomes] == [TimeoutError] * 3
    assert inbox._waiting == {}


async def test_bus_maps_a_refusal_to_a_retryable_outcome(bus: Bus, nats_client: NatsClient) -> None:
    await nats_client.jsm().delete_stream(bus.spec.work_stream)
    outcomes = await bus.event_created_many([(1, datetime.now(UTC), "demo.alert")])
    assert len(outcomes) == 1 and outcomes[0] is not None
    assert "publish to" in str(outcomes[0]) and "NoStreamResponseError" in str(outcomes[0])
