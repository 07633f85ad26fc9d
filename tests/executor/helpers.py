"""Building events and waiting for the pipeline, shared by the executor tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from attune_shared.bus import Bus, ExecutionRequested
from attune_shared.models import Enforcement, Event, Execution
from attune_shared.repos import (
    EnforcementRepository,
    EventRepository,
    ExecutionRepository,
    NewEvent,
    NewExecution,
)
from attune_shared.statuses import TERMINAL_STATUSES
from attune_shared.types import Queryable

T = TypeVar("T")


async def wait_for(check: Callable[[], Awaitable[T]], timeout: float = 20.0, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {value!r})")
        await asyncio.sleep(0.05)


async def store_events(
    db: Queryable, trigger_ref: str, payloads: list[dict[str, Any]], *, rule_ref: str | None = None
) -> list[Event]:
    now = datetime.now(UTC)
    stored = await EventRepository(db).insert_many(
        [
            NewEvent(
                created=now, trigger_ref=trigger_ref, payload=p, dedup_id=uuid.uuid4().hex, rule_ref=rule_ref
            )
            for p in payloads
        ]
    )
    rows = await EventRepository(db).get_keys([(s.id, s.created) for s in stored])
    return [rows[s.id] for s in stored]


async def announce_events(bus: Bus, events: list[Event]) -> None:
    outcomes = await bus.event_created_many([(e.id, e.created, e.trigger_ref) for e in events])
    assert outcomes == [None] * len(events)


async def fire(
    db: Queryable, bus: Bus, trigger_ref: str, *payloads: dict[str, Any], rule_ref: str | None = None
) -> list[Event]:
    """What the sensor does: store events, then publish ``event.created`` for them."""
    events = await store_events(db, trigger_ref, list(payloads), rule_ref=rule_ref)
    await announce_events(bus, events)
    return events


async def request(
    db: Queryable, bus: Bus, action_ref: str, config: dict[str, Any] | None = None, **values: Any
) -> Execution:
    """What ``POST /executions`` does: a requested execution and its wake-up."""
    x = await ExecutionRepository(db).create(
        NewExecution(action_ref=action_ref, config=config or {}, **values)
    )
    await bus.execution_requested(
        ExecutionRequested(execution_id=x.id, created=x.created, action_ref=x.action_ref)
    )
    return x


async def enforcements_of(db: Queryable, events: list[Event]) -> list[Enforcement]:
    return await EnforcementRepository(db).for_events([e.id for e in events])


async def executions_of(db: Queryable, action_ref: str | None = None) -> list[Execution]:
    return await ExecutionRepository(db).list(action_ref=action_ref)


async def finished(
    db: Queryable, count: int, action_ref: str | None = None, timeout: float = 30.0
) -> list[Execution]:
    """Wait until ``count`` executions (of ``action_ref``) are terminal; returns them oldest first."""

    async def check() -> list[Execution] | None:
        rows = await executions_of(db, action_ref)
        done = [x for x in rows if x.status in TERMINAL_STATUSES]
        return sorted(done, key=lambda x: x.id) if len(done) >= count else None

    return await wait_for(check, timeout, f"{count} finished executions of {action_ref or 'any action'}")


async def status_of(db: Queryable, x: Execution) -> Execution:
    row = await ExecutionRepository(db).get(x.id, x.created)
    assert row is not None
    return row


class HttpServer:
    """A tiny HTTP server on 127.0.0.1 answering every request with a fixed status and JSON body,
    recording what it received."""

    def __init__(self, status: int = 200, body: bytes = b'{"ok": true}') -> None:
        self.status = status
        self.body = body
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> HttpServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        request_line, *lines = head.strip().split("\r\n")
        method, path, _ = request_line.split(" ", 2)
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append((method, path, headers, body))
        reason = {200: "OK", 201: "Created", 500: "Internal Server Error"}.get(self.status, "Status")
        writer.write(
            f"HTTP/1.1 {self.status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n".encode()
            + self.body
        )
        await writer.drain()
        writer.close()
