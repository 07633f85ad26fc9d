"""JetStream publishes sent together, their PubAcks awaited together through one reply inbox.

nats-py's ``publish_async`` does the same, at about twice the client CPU per message (34 against
17–19 µs, measured alone on the local NATS with 500-message chunks): per message it waits on a
semaphore through ``asyncio.wait_for``, draws two random bytes from the kernel for its reply token,
and parses every PubAck's JSON into a dataclass nobody here reads. The sensor announces every event
this way, so that was a sixth of its CPU per event. Here a reply token is a counter, and a PubAck
is only parsed when it carries an error.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Sequence
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError
from nats.js.api import Header
from nats.js.errors import APIError, NoStreamResponseError

#: The status header of a reply NATS sends when no stream listens on the subject.
_NO_RESPONDERS = "503"


class PubAckInbox:
    """One connection's reply inbox for the PubAcks of :meth:`publish_many`."""

    def __init__(self, connection: NatsClient) -> None:
        self.connection = connection
        self._prefix = ""
        self._subscription: Subscription | None = None
        self._tokens = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[None]] = {}

    async def publish_many(
        self, subject: str, stream: str, items: Sequence[tuple[bytes, dict[str, str]]], timeout: float
    ) -> list[BaseException | None]:
        """Publish ``items`` (body, headers) to ``subject``, expecting them stored in ``stream``;
        one outcome per item, in order: ``None`` once its PubAck came, else the error (nats-py's
        exception, or :class:`TimeoutError` with no PubAck within ``timeout`` seconds)."""
        if self._subscription is None:
            self._prefix = f"{self.connection.new_inbox()}."
            self._subscription = await self.connection.subscribe(f"{self._prefix}*", cb=self._on_reply)
        loop = asyncio.get_running_loop()
        publish, prefix = self.connection.publish, self._prefix
        outcomes: list[BaseException | None] = [None] * len(items)
        tokens: list[str] = []
        futures: list[asyncio.Future[None]] = []
        try:
            for data, headers in items:
                token = str(next(self._tokens))
                future = self._waiting[token] = loop.create_future()
                try:
                    await publish(
                        subject,
                        data,
                        reply=prefix + token,
                        headers={**headers, Header.EXPECTED_STREAM: stream},
                    )
                except (NatsError, TimeoutError, OSError) as exc:
                    del self._waiting[token]
                    for i in range(len(futures), len(items)):
                        outcomes[i] = exc
                    break
                tokens.append(token)
                futures.append(future)
            if futures:
                await asyncio.wait(futures, timeout=timeout)
            for i, future in enumerate(futures):
                if not future.done():
                    outcomes[i] = TimeoutError(f"no PubAck in {timeout} s")
                elif (error := future.exception()) is not None:
                    outcomes[i] = error
        finally:
            for token in tokens:
                if (left := self._waiting.pop(token, None)) is not None and not left.done():
                    left.cancel()
        return outcomes

    async def _on_reply(self, msg: Msg) -> None:
        future = self._waiting.get(msg.subject[len(self._prefix) :])
        if future is None or future.done():
            return  # late: its publish gave up waiting
        if msg.headers and msg.headers.get(Header.STATUS) == _NO_RESPONDERS:
            future.set_exception(NoStreamResponseError())
        elif b'"error"' in msg.data and (error := json.loads(msg.data).get("error")):
            future.set_exception(_api_error(error))
        else:
            future.set_result(None)


def _api_error(error: dict[str, Any]) -> APIError:
    """nats-py's exception for a JetStream API error (``from_error`` raises it)."""
    try:
        APIError.from_error(error)
    except APIError as exc:
        return exc
    return APIError(**error)
