"""Helpers for the sensor tests: publishing trigger messages, counting rows and stream messages,
waiting on conditions."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.js.api import PubAck
from nats.js.errors import NotFoundError

from attune_shared.bus import BusSpec, gather_bounded


async def wait_for(
    condition: Callable[[], Awaitable[Any]], timeout: float, what: str, interval: float = 0.1
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = await condition()
        except Exception as exc:  # a server being restarted, for instance
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        await asyncio.sleep(interval)


async def publish(
    nc: NatsClient,
    subject: str,
    bodies: Iterable[bytes | dict[str, Any]],
    *,
    msg_ids: Iterable[str | None] | None = None,
    headers: dict[str, str] | None = None,
    retry_for: float = 0.0,
) -> list[PubAck]:
    """JetStream-publish every body (dicts as JSON), concurrently; retry each for ``retry_for`` s."""
    js = nc.jetstream()
    items = list(bodies)
    ids = list(msg_ids) if msg_ids is not None else [None] * len(items)

    async def one(body: bytes | dict[str, Any], msg_id: str | None) -> PubAck:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs = dict(headers or {})
        if msg_id is not None:
            hdrs["Nats-Msg-Id"] = msg_id
        deadline = time.monotonic() + retry_for
        while True:
            try:
                return await js.publish(subject, data, headers=hdrs or None, timeout=5)
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    return await gather_bounded((one(b, i) for b, i in zip(items, ids, strict=True)), limit=128)


async def count_events(db: asyncpg.Pool, trigger_ref: str | None = None) -> int:
    if trigger_ref is None:
        return int(await db.fetchval("SELECT count(*) FROM event"))
    return int(await db.fetchval("SELECT count(*) FROM event WHERE trigger_ref = $1", trigger_ref))


async def subject_counts(nc: NatsClient, stream: str) -> dict[str, int]:
    """Messages in ``stream`` per subject."""
    info = await nc.jsm().stream_info(stream, subjects_filter=">")
    return dict(info.state.subjects or {})


async def event_created_count(nc: NatsClient, spec: BusSpec) -> int:
    return (await subject_counts(nc, spec.work_stream)).get(spec.subjects.event_created, 0)


async def dead_letter_counts(nc: NatsClient, spec: BusSpec) -> dict[str, int]:
    """Dead letters per reason."""
    head = f"{spec.prefix}.dlq."
    return {s.removeprefix(head): n for s, n in (await subject_counts(nc, spec.dlq_stream)).items()}


async def sensor_idle(nc: NatsClient, spec: BusSpec) -> bool:
    """Nothing left for the sensor: the triggers stream is empty and nothing is in flight."""
    info = await nc.jsm().consumer_info(spec.triggers_stream, "sensor")
    stream = await nc.jsm().stream_info(spec.triggers_stream)
    return info.num_pending == 0 and info.num_ack_pending == 0 and stream.state.messages == 0


async def publish_steadily(
    nc: NatsClient,
    subject: str,
    ids: list[str],
    *,
    chunk: int = 50,
    pause: float = 0.01,
    retry_for: float = 0.0,
) -> None:
    """Publish ``{"id": …}`` for every id, ``chunk`` at a time with a pause between chunks, so that
    ingestion is still going on when a test stops or kills something."""
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        await publish(nc, subject, ({"id": i} for i in part), msg_ids=part, retry_for=retry_for)
        await asyncio.sleep(pause)


async def stored_ids(db: asyncpg.Pool) -> list[str]:
    """The dedup ids of every event (one per stored message)."""
    return [r["dedup_id"] for r in await db.fetch("SELECT dedup_id FROM event")]


async def remaining_ids(nc: NatsClient, stream: str) -> set[str]:
    """``Nats-Msg-Id`` of the messages still in a (work-queue) stream, i.e. never acked."""
    jsm = nc.jsm()
    state = (await jsm.stream_info(stream)).state
    found: set[str] = set()
    if not state.messages:
        return found
    for seq in range(state.first_seq, state.last_seq + 1):
        try:
            msg = await jsm.get_msg(stream, seq)
        except NotFoundError:
            continue
        found.add((msg.headers or {}).get("Nats-Msg-Id", f"seq:{seq}"))
    return found
