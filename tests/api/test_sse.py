"""Live streams (SSE) against a real uvicorn process, fed by a real NATS server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
import pytest_asyncio
from httpx_sse import ServerSentEvent, aconnect_sse

from attune_api.sse import DROPPED, EVENTS, EXECUTIONS, Hub, Item
from attune_shared.bus import (
    Bus,
    EnforcementCreated,
    EventCreated,
    bus_spec,
    make_broker,
    stop_broker,
)
from attune_shared.repos import EventRepository, NewEvent
from attune_shared.statuses import ExecutionStatus

from ..shared.factories import make_event
from .harness import Api, problem

API_ENV = {"ATTUNE__API__SSE_PING_SECONDS": "0.5", "ATTUNE__API__SSE_REPLAY_MAX": "4"}

LIFECYCLE = ["requested", "scheduling", "scheduled", "running", "completed"]


class Stream:
    """An SSE connection read in the background; events wait in a queue."""

    def __init__(self, http: httpx.AsyncClient, path: str, **kwargs: Any) -> None:
        self.http, self.path, self.kwargs = http, path, kwargs
        self.events: asyncio.Queue[ServerSentEvent] = asyncio.Queue()
        self.connected = asyncio.Event()
        self.response: httpx.Response | None = None
        self._task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        async with aconnect_sse(self.http, "GET", self.path, **self.kwargs) as source:
            self.response = source.response
            self.connected.set()
            async for event in source.aiter_sse():
                if event.event == "message" and not event.data:
                    continue  # a keep-alive comment (httpx-sse reports it as an empty message)
                await self.events.put(event)

    async def __aenter__(self) -> Stream:
        self._task = asyncio.create_task(self._read())
        waiter = asyncio.create_task(self.connected.wait())
        done, _ = await asyncio.wait({self._task, waiter}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._task in done:
            self._task.result()
        assert self.connected.is_set(), "the stream did not connect"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await self._task

    async def closed(self, timeout: float = 10.0) -> None:
        """Wait for the server to end the stream."""
        assert self._task is not None
        await asyncio.wait_for(asyncio.shield(self._task), timeout)

    async def next(self, timeout: float = 10.0) -> ServerSentEvent:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def collect(self, done: Any, timeout: float = 30.0) -> list[ServerSentEvent]:
        """Events until ``done(events)`` is true."""
        seen: list[ServerSentEvent] = []
        async with asyncio.timeout(timeout):
            while not done(seen):
                seen.append(await self.events.get())
        return seen


@pytest_asyncio.fixture
async def module_bus(api: Api) -> AsyncIterator[Bus]:
    broker = make_broker(api.settings.nats, "pytest")
    await broker.connect()
    try:
        yield Bus(broker, bus_spec(api.settings.nats))
    finally:
        await stop_broker(broker)


async def announce(bus: Bus, execution_id: int, action_ref: str, old: str | None, new: str) -> None:
    change = (ExecutionStatus(old) if old else None, ExecutionStatus(new))
    await bus.execution_status(execution_id, datetime.now(UTC), action_ref, [change])


async def publish_lifecycle(bus: Bus, execution_id: int, action_ref: str) -> None:
    old = None
    for new in LIFECYCLE:
        await announce(bus, execution_id, action_ref, old, new)
        old = new


async def test_status_changes_in_order_with_ids_and_resume(api: Api, module_bus: Bus) -> None:
    async with api.client("viewer") as http:
        async with Stream(http, "/api/v1/executions/stream", params={"action_ref": "sse.*"}) as stream:
            assert stream.response is not None
            assert stream.response.headers["content-type"].startswith("text/event-stream")
            await publish_lifecycle(module_bus, 1001, "other.action")  # filtered out
            await publish_lifecycle(module_bus, 1002, "sse.run")
            events = await stream.collect(lambda seen: len(seen) == len(LIFECYCLE))
        assert [e.event for e in events] == ["execution"] * 5
        data = [json.loads(e.data) for e in events]
        assert [d["new_status"] for d in data] == LIFECYCLE
        assert {d["execution_id"] for d in data} == {1002}
        assert data[0]["old_status"] is None and data[1]["old_status"] == "requested"
        ids = [int(e.id) for e in events]
        assert ids == sorted(ids) and len(set(ids)) == 5  # JetStream sequences

        # reconnect after the second event: the rest is replayed, then live messages follow
        headers = {"Last-Event-ID": str(ids[1])}
        async with Stream(
            http, "/api/v1/executions/stream", params={"action_ref": "sse.*"}, headers=headers
        ) as again:
            replayed = await again.collect(lambda seen: len(seen) == 3)
            assert [int(e.id) for e in replayed] == ids[2:]
            await announce(module_bus, 1003, "sse.run", None, "requested")
            live = await again.next()
            assert json.loads(live.data)["execution_id"] == 1003 and int(live.id) > ids[-1]


async def test_execution_filter_snapshot_and_api_driven_changes(api: Api) -> None:
    async with api.client("operator") as http:
        created = (await http.post("/api/v1/executions", json={"action_ref": "core.noop"})).json()
        params = {"execution_id": created["id"]}
        async with Stream(http, "/api/v1/executions/stream", params=params) as stream:
            snapshot = await stream.next()
            assert snapshot.event == "snapshot" and not snapshot.id
            assert json.loads(snapshot.data)["status"] == "requested"
            other = (await http.post("/api/v1/executions", json={"action_ref": "core.noop"})).json()
            await http.post(f"/api/v1/executions/{other['id']}/cancel")
            await http.post(f"/api/v1/executions/{created['id']}/cancel")
            change = await stream.next()
            body = json.loads(change.data)
            assert (body["execution_id"], body["old_status"], body["new_status"]) == (
                created["id"],
                "requested",
                "cancelled",
            )


async def test_heartbeats_on_idle_streams(api: Api) -> None:
    async with api.client("viewer") as http:
        async with http.stream(
            "GET", "/api/v1/executions/stream", params={"action_ref": "idle.*"}
        ) as response:
            assert response.status_code == 200
            lines = response.aiter_lines()
            async with asyncio.timeout(10):
                while not (await anext(lines)).startswith(": ping"):
                    pass


async def test_stream_auth(api: Api) -> None:
    async with api.client(None) as http:
        problem(await http.get("/api/v1/executions/stream"), 401)
        token = (await http.post("/auth/token", headers={"X-API-Key": api.keys["viewer"]})).json()[
            "access_token"
        ]
        # EventSource cannot send headers: a bearer token may come as the access_token parameter
        async with Stream(http, "/api/v1/events/stream", params={"access_token": token}) as stream:
            assert stream.response is not None and stream.response.status_code == 200
        problem(await http.get("/api/v1/actions", params={"access_token": token}), 401)
        problem(await http.get("/api/v1/events/stream", params={"access_token": api.keys["viewer"]}), 401)


async def test_event_and_enforcement_streams(api: Api, module_bus: Bus) -> None:
    conn = await api.db()
    try:
        stored = [await make_event(conn, "sse.alert", {"n": n}) for n in range(3)]
    finally:
        await conn.close()
    async with api.client("viewer") as http:
        async with (
            Stream(http, "/api/v1/events/stream", params={"trigger_ref": "sse.*"}) as events,
            Stream(http, "/api/v1/enforcements/stream", params={"rule_ref": "sse.on_alert"}) as enforcements,
        ):
            now = datetime.now(UTC)
            await module_bus.event_created_many(
                [
                    (424242, now, "zzz.other"),
                    (424243, now, "sse.alert"),
                ]
            )
            await module_bus.enforcement_created(
                EnforcementCreated(enforcement_id=77, created=now, rule_ref="sse.on_alert")
            )
            event = await events.next()
            assert (event.event, event.id, json.loads(event.data)["trigger_ref"]) == (
                "event",
                "424243",
                "sse.alert",
            )
            # an event no rule listens to wakes no one, and shows all the same
            await module_bus.events_unheard([(424244, now, "sse.alert")])
            unheard = await events.next()
            assert (unheard.event, unheard.id) == ("event", "424244")
            enforcement = await enforcements.next()
            assert (enforcement.event, enforcement.id) == ("enforcement", "77")
            assert json.loads(enforcement.data)["rule_ref"] == "sse.on_alert"
            # one the executor processed where it created it has no wake-up, only a notice
            await module_bus.enforcements_processed([(78, now, "sse.on_alert")])
            processed = await enforcements.next()
            assert (processed.event, processed.id) == ("enforcement", "78")
        # resume: newer events are replayed from the database
        headers = {"Last-Event-ID": str(stored[0].id)}
        async with Stream(
            http, "/api/v1/events/stream", params={"trigger_ref": "sse.*"}, headers=headers
        ) as resumed:
            replayed = await resumed.collect(lambda seen: len(seen) == 2)
            assert [int(e.id) for e in replayed] == [stored[1].id, stored[2].id]


async def test_a_long_event_replay_ends_dropped_and_resumes_where_it_stopped(
    api: Api, module_bus: Bus
) -> None:
    """More missed events than a replay sends (1000): the oldest 1000, then `dropped` and the end of
    the stream; reconnecting from the last id gets the rest, then live ones."""
    trigger = f"replay.{uuid.uuid4().hex[:6]}"
    conn = await api.db()
    try:
        stored = await EventRepository(conn).insert_many(
            [
                NewEvent(
                    created=datetime.now(UTC),
                    trigger_ref=trigger,
                    payload={"n": n},
                    dedup_id=uuid.uuid4().hex,
                )
                for n in range(1003)
            ]
        )
    finally:
        await conn.close()
    ids = sorted(e.id for e in stored)
    params = {"trigger_ref": trigger}
    async with api.client("viewer") as http:
        headers = {"Last-Event-ID": str(ids[0])}
        async with Stream(http, "/api/v1/events/stream", params=params, headers=headers) as first:
            seen = await first.collect(lambda seen: bool(seen) and seen[-1].event == "dropped")
            assert [int(e.id) for e in seen[:-1]] == ids[1:1001]
            assert "more than 1000 events to replay" in json.loads(seen[-1].data)["detail"]
            await first.closed()
        headers = {"Last-Event-ID": seen[-2].id}
        async with Stream(http, "/api/v1/events/stream", params=params, headers=headers) as rest:
            assert [int((await rest.next()).id) for _ in range(2)] == ids[1001:]
            conn = await api.db()
            try:
                live = await make_event(conn, trigger)
            finally:
                await conn.close()
            await module_bus.event_created_many([(live.id, live.created, trigger)])
            assert int((await rest.next()).id) == live.id


async def test_a_long_status_replay_ends_dropped_and_resumes(api: Api, module_bus: Bus) -> None:
    """The module's API replays at most 4 status changes per connection (API_ENV)."""
    action = f"replay.{uuid.uuid4().hex[:6]}"
    params = {"action_ref": action}
    async with api.client("viewer") as http:
        async with Stream(http, "/api/v1/executions/stream", params=params) as live:
            await publish_lifecycle(module_bus, 77, action)
            ids = [int(e.id) for e in await live.collect(lambda seen: len(seen) == len(LIFECYCLE))]
        headers = {"Last-Event-ID": str(ids[0] - 1)}
        async with Stream(http, "/api/v1/executions/stream", params=params, headers=headers) as first:
            seen = await first.collect(lambda seen: bool(seen) and seen[-1].event == "dropped")
            assert [int(e.id) for e in seen[:-1]] == ids[:4]
            await first.closed()
        headers = {"Last-Event-ID": seen[-2].id}
        async with Stream(http, "/api/v1/executions/stream", params=params, headers=headers) as rest:
            assert int((await rest.next()).id) == ids[4]


async def test_slow_client_is_dropped_with_bounded_memory(api: Api, module_bus: Bus) -> None:
    """The hub of a process, on the real bus: a client that does not read is cut off at its queue size."""
    nc = await nats.connect(api.settings.nats.url)
    hub = Hub(nc, bus_spec(api.settings.nats), queue_size=3)
    await hub.start()
    try:
        action = f"slow.{uuid.uuid4().hex[:6]}"
        reader = await hub.register(EXECUTIONS, lambda data: data["action_ref"] == action)
        sleeper = await hub.register(EXECUTIONS, lambda data: data["action_ref"] == action)
        for n in range(5):
            await announce(module_bus, n, action, None, "requested")
            if n < 3:  # the reader keeps up
                item = await asyncio.wait_for(reader.queue.get(), 10)
                assert isinstance(item, Item) and item.data["execution_id"] == n
        async with asyncio.timeout(10):
            while not sleeper.gone:  # noqa: ASYNC110 (the hub sets a flag, no event)
                await asyncio.sleep(0.02)
        assert sleeper.queue.qsize() == 1 and sleeper.queue.get_nowait() is DROPPED
        assert hub.clients(EXECUTIONS) == 1  # the reader is still there
        for n in (3, 4):
            assert (await asyncio.wait_for(reader.queue.get(), 10)).data["execution_id"] == n
    finally:
        await hub.close()
        await nc.close()


async def test_nats_is_followed_only_while_a_client_is_connected(api: Api, module_bus: Bus) -> None:
    """With no client the hub has no status consumer and no subscription (the API costs the event
    path nothing); the first client's registration subscribes, the last one's departure unsubscribes."""
    spec = bus_spec(api.settings.nats)
    prefix = f"_INBOX_hub{uuid.uuid4().hex[:6]}"
    nc = await nats.connect(api.settings.nats.url, inbox_prefix=prefix)
    jsm = nc.jsm()

    async def status_consumers() -> int:
        consumers = await jsm.consumers_info(spec.updates_stream)
        # a consumer being deleted while the stream's consumers are listed comes without its config
        return sum(
            1
            for c in consumers
            if c.config is not None and (c.config.deliver_subject or "").startswith(prefix)
        )

    async def events_delivered() -> int:
        """How many event.created this connection gets back of one it publishes (0 or 1): its own
        messages are delivered to it before the reply to its next ping."""
        before = int(nc.stats["in_msgs"])
        body = EventCreated(event_id=1, created=datetime.now(UTC), trigger_ref="hub.test")
        await nc.publish(spec.subjects.event_created, body.model_dump_json().encode())
        await nc.flush()
        return int(nc.stats["in_msgs"]) - before

    async def released() -> bool:
        return await status_consumers() == 0 and await events_delivered() == 0

    hub = Hub(nc, spec, queue_size=10)
    await hub.start()
    try:
        assert await status_consumers() == 0
        assert await events_delivered() == 0
        action = f"hub.{uuid.uuid4().hex[:6]}"
        client = await hub.register(EXECUTIONS, lambda data: data["action_ref"] == action)
        events = await hub.register(EVENTS, lambda data: True)
        assert await status_consumers() == 1
        await announce(module_bus, 7, action, None, "requested")
        assert (await asyncio.wait_for(client.queue.get(), 10)).data["execution_id"] == 7
        await events_delivered()
        assert (await asyncio.wait_for(events.queue.get(), 10)).data["trigger_ref"] == "hub.test"
        hub.unregister(client)
        hub.unregister(events)
        async with asyncio.timeout(10):
            while not await released():  # noqa: ASYNC110 (polling the server: no event to wait on)
                await asyncio.sleep(0.02)
        again = await hub.register(EXECUTIONS, lambda data: data["action_ref"] == action)
        assert await status_consumers() == 1
        await announce(module_bus, 8, action, None, "requested")
        assert (await asyncio.wait_for(again.queue.get(), 10)).data["execution_id"] == 8  # not 7 again
    finally:
        await hub.close()
        await nc.close()


async def test_lifecycle_of_a_run_seen_in_order(api: Api, services: Any) -> None:
    """The acceptance check: a client sees requested -> ... -> completed for an execution it started
    (needs a real attune-executor)."""
    await services("attune-executor")
    async with api.client("operator") as http:
        async with Stream(http, "/api/v1/executions/stream", params={"action_ref": "core.echo"}) as stream:
            created = await http.post(
                "/api/v1/executions", json={"action_ref": "core.echo", "parameters": {"message": "over SSE"}}
            )
            assert created.status_code == 201, created.text
            execution_id = created.json()["id"]

            def finished(seen: list[ServerSentEvent]) -> bool:
                mine = [
                    json.loads(e.data) for e in seen if json.loads(e.data)["execution_id"] == execution_id
                ]
                return bool(mine) and ExecutionStatus(mine[-1]["new_status"]).is_terminal

            events = await stream.collect(finished, timeout=60)
        statuses = [
            json.loads(e.data)["new_status"]
            for e in events
            if json.loads(e.data)["execution_id"] == execution_id
        ]
        assert statuses[0] == "requested" and statuses[-1] == "completed", statuses
        assert "running" in statuses, statuses
        positions = [LIFECYCLE.index(s) for s in statuses]
        assert positions == sorted(positions) and len(set(positions)) == len(positions), statuses
        result = (await http.get(f"/api/v1/executions/{execution_id}")).json()
        assert result["status"] == "completed"
