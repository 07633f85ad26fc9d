"""Pull requests sized to what this replica can take right now.

nats-py's ``fetch(batch=n)`` keeps a lingering request for ``n`` messages open and waits for all of
them (or its timeout), which both delays the first message and lets the server push more than the
caller can run. Here a fetch first asks with ``no_wait`` for what is available (up to ``limit``,
the request ends at once), and only when nothing is available lingers for exactly one message. The
server therefore never delivers more than the caller asked for, and other replicas get the rest.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError
from nats.js.api import Header

log = logging.getLogger("attune.executor.fetch")

#: How long a ``no_wait`` request may take to answer before it is given up locally.
NO_WAIT_TIMEOUT = 5.0


class PullFetcher:
    """Fetches from one durable pull consumer through a private inbox."""

    def __init__(self, nc: NatsClient, stream: str, durable: str) -> None:
        self.nc = nc
        self.api = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.durable = durable
        self.inbox = nc.new_inbox()
        self._queue: asyncio.Queue[Msg] = asyncio.Queue()
        self._sub: Subscription | None = None

    async def start(self) -> None:
        async def on_message(msg: Msg) -> None:
            self._queue.put_nowait(msg)

        self._sub = await self.nc.subscribe(self.inbox, cb=on_message)

    async def stop(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except NatsError:
                pass
            self._sub = None

    def drain(self) -> list[Msg]:
        """Messages delivered but not handed out yet (a late answer to an earlier request)."""
        msgs = []
        while not self._queue.empty():
            msg = self._queue.get_nowait()
            if not _status(msg):
                msgs.append(msg)
        return msgs

    async def fetch(self, limit: int, wait: float) -> list[Msg]:
        """Up to ``limit`` messages: what is available now, else the first one within ``wait`` seconds
        (possibly none)."""
        msgs = self.drain()[:limit] if limit > 0 else []
        if len(msgs) < limit:
            msgs += await self._request(
                {"batch": limit - len(msgs), "no_wait": True}, limit - len(msgs), NO_WAIT_TIMEOUT
            )
        if msgs or limit <= 0:
            return msgs
        return await self._request({"batch": 1, "expires": int(wait * 1e9)}, 1, wait + 1.0)

    async def _request(self, request: dict[str, object], wanted: int, timeout: float) -> list[Msg]:
        try:
            await self.nc.publish(self.api, json.dumps(request).encode(), reply=self.inbox)
        except NatsError as exc:
            log.warning("fetch.request_failed", extra={"durable": self.durable, "error": str(exc)})
            await asyncio.sleep(0.5)
            return []
        msgs: list[Msg] = []
        deadline = time.monotonic() + timeout
        while len(msgs) < wanted:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                msg = await asyncio.wait_for(self._queue.get(), remaining)
            except TimeoutError:
                break
            status = _status(msg)
            if not status:
                msgs.append(msg)
                continue
            if status not in ("404", "408"):
                # 409 (max waiting, leadership change, consumer deleted) or 503 (no JetStream)
                log.warning(
                    "fetch.status",
                    extra={"durable": self.durable, "status": status, "description": _description(msg)},
                )
                await asyncio.sleep(0.5)
            break
        return msgs


def _status(msg: Msg) -> str | None:
    return msg.headers.get(Header.STATUS) if msg.headers else None


def _description(msg: Msg) -> str:
    return msg.headers.get(Header.DESCRIPTION, "") if msg.headers else ""
