"""Pull requests sized to what this replica can take.

nats-py's ``fetch(batch=n)`` waits client-side until ``n`` messages or its timeout (delaying the
first one), and FastStream's pull loop only fetches again once a whole batch is handled. Here one
pull request at a time is kept open on a private inbox, for exactly the number of messages the
caller has room for; messages are handed out the moment they arrive, and the next request is made
once this one is complete (all delivered) or ended by the server (``408`` when it expires, ``409``).
The server therefore never delivers more than the caller asked for, and what this replica cannot
take stays in the stream for other replicas.
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

#: How long past its expiry a request may go unanswered before it is taken as lost (a reconnect).
LOST_AFTER = 2.0
#: Status codes that end a pull request.
_ENDS = {"404", "408", "409"}


class PullFetcher:
    """One durable pull consumer, read through a private inbox."""

    def __init__(self, nc: NatsClient, stream: str, durable: str, *, expires: float = 1.0) -> None:
        self.nc = nc
        self.api = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.durable = durable
        self.expires = expires
        self.inbox = nc.new_inbox()
        #: messages arrived and not handed out yet
        self.arrived: list[Msg] = []
        #: messages the open request may still deliver
        self.outstanding = 0
        #: set whenever something arrives
        self.changed = asyncio.Event()
        self._deadline = 0.0
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(self.inbox, cb=self._on_message)

    async def stop(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except NatsError:
                pass
            self._sub = None

    async def _on_message(self, msg: Msg) -> None:
        status = msg.headers.get(Header.STATUS) if msg.headers else None
        if not status:
            self.arrived.append(msg)
            self.outstanding = max(self.outstanding - 1, 0)
        elif status in _ENDS:
            self.outstanding = 0
            if status == "409":
                log.warning(
                    "fetch.status",
                    extra={"durable": self.durable, "status": status, "description": _description(msg)},
                )
        self.changed.set()

    @property
    def idle(self) -> bool:
        """No request is open (a lost one counts as ended once its time is well past)."""
        if self.outstanding and time.monotonic() > self._deadline:
            log.warning(
                "fetch.request_lost", extra={"durable": self.durable, "outstanding": self.outstanding}
            )
            self.outstanding = 0
        return self.outstanding == 0

    async def request(self, n: int) -> None:
        """Ask for up to ``n`` messages, delivered as they come within ``expires`` seconds."""
        body = json.dumps({"batch": n, "expires": int(self.expires * 1e9)}).encode()
        try:
            await self.nc.publish(self.api, body, reply=self.inbox)
        except NatsError as exc:
            log.warning("fetch.request_failed", extra={"durable": self.durable, "error": str(exc)})
            return
        self.outstanding = n
        self._deadline = time.monotonic() + self.expires + LOST_AFTER

    def take(self, limit: int) -> list[Msg]:
        """Up to ``limit`` of the messages that arrived."""
        taken, self.arrived = self.arrived[:limit], self.arrived[limit:]
        if not self.arrived:
            self.changed.clear()
        return taken

    def drain(self) -> list[Msg]:
        """Every message that arrived and was not taken."""
        return self.take(len(self.arrived))


def _description(msg: Msg) -> str:
    return msg.headers.get(Header.DESCRIPTION, "") if msg.headers else ""
