"""The one place where a handler's outcome becomes ack, delayed nak or dead letter.

- the handler returned            -> ack (handlers commit before they return)
- :class:`PermanentError`, or a message that does not validate against its model
                                  -> publish to ``<p>.dlq.<reason>`` with the reason and the
                                     original subject, headers and body, then terminate
- :class:`RetryableError` or any other exception
                                  -> nak with exponential delay; the last allowed delivery is
                                     dead-lettered (reason ``max_deliveries``) instead
- cancellation (shutdown)         -> nothing: the server redelivers after ``ack_wait``
If the dead letter cannot be published (NATS trouble), the message is nak'ed, never dropped; on
its last allowed delivery, which the server would not redeliver, it is held (kept in progress)
and the dead letter retried until it is published.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Awaitable, Callable

import pydantic
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import MsgAlreadyAckdError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    retry_if_exception_type,
    wait_exponential,
)

from attune_shared.bus.messages import DLQ_REASON_HEADER, DeadLetter
from attune_shared.bus.specs import MAX_DELIVER, BusSpec
from attune_shared.errors import PermanentError, RetryableError

log = logging.getLogger("attune.bus")

#: How the reply subject of a JetStream delivery begins (its metadata follows).
_JS_ACK = "$JS.ACK."
#: Cap of the nak delay, in seconds.
MAX_DELAY = 30.0
#: What a failed dead-letter publish raises.
_PUBLISH_ERRORS = (RetryableError, NatsError, TimeoutError, OSError)

DeadLetterSink = Callable[[DeadLetter, dict[str, str]], Awaitable[None]]


def retry_delay(num_delivered: int, requested: float | None = None, *, base: float = 1.0) -> float:
    """Delay before the next delivery: the error's own, else ``base * 2^(n-1)`` capped at 30 s."""
    if requested is not None:
        return min(max(requested, 0.0), MAX_DELAY)
    return float(min(base * 2 ** max(num_delivered - 1, 0), MAX_DELAY))


def dead_letter_of(msg: Msg, reason: str, detail: str) -> DeadLetter:
    """The dead letter describing ``msg``: original subject, headers and body (base64 if not UTF-8)."""
    body: str | None
    body_b64: str | None = None
    try:
        body = msg.data.decode()
    except UnicodeDecodeError:
        body, body_b64 = None, base64.b64encode(msg.data).decode()
    stream = consumer = None
    seq = delivered = None
    try:
        meta = msg.metadata
        stream, consumer, seq, delivered = (
            meta.stream,
            meta.consumer,
            meta.sequence.stream,
            meta.num_delivered,
        )
    except Exception:
        pass
    return DeadLetter(
        reason=reason,
        detail=detail[:2000],
        subject=msg.subject,
        headers=dict(msg.headers or {}),
        body=body,
        body_b64=body_b64,
        stream=stream,
        stream_seq=seq,
        consumer=consumer,
        num_delivered=delivered,
    )


class Settler:
    """Settles JetStream messages after their handler ran (see the module docstring)."""

    def __init__(
        self,
        spec: BusSpec,
        sink: DeadLetterSink,
        *,
        base_delay: float = 1.0,
        on_dead_letter: Callable[[str], None] | None = None,
    ) -> None:
        self.spec = spec
        self.sink = sink
        self.base_delay = base_delay
        self.on_dead_letter = on_dead_letter
        self._max_deliver = {c.durable: c.max_deliver for c in spec.consumers()}

    async def settle(self, msg: Msg, exc: BaseException | None) -> bool:
        """Ack, nak or dead-letter ``msg``; returns True when the exception has been handled."""
        if not (msg.reply or "").startswith(_JS_ACK) or isinstance(exc, asyncio.CancelledError):
            return False
        try:
            if exc is None:
                await msg.ack()
                return False
            # parsed only here: an ack does not need it, and parsing it was over half of an ack's cost
            meta = msg.metadata
            if isinstance(exc, PermanentError):
                await self._dead_letter(msg, exc.reason, exc.detail)
            elif isinstance(exc, pydantic.ValidationError):
                await self._dead_letter(msg, "invalid_message", _validation_detail(exc))
            elif self._last_delivery(msg):
                await self._dead_letter(
                    msg, "max_deliveries", f"failed {meta.num_delivered} times; last error: {_describe(exc)}"
                )
            else:
                delay = retry_delay(
                    meta.num_delivered,
                    exc.delay if isinstance(exc, RetryableError) else None,
                    base=self.base_delay,
                )
                level = logging.WARNING if isinstance(exc, RetryableError) else logging.ERROR
                log.log(
                    level,
                    "message.retry",
                    extra={
                        "subject": msg.subject,
                        "delivered": meta.num_delivered,
                        "delay": delay,
                        "error": _describe(exc),
                    },
                    exc_info=exc if level == logging.ERROR else None,
                )
                await msg.nak(delay=delay)
        except MsgAlreadyAckdError:
            pass
        return True

    def _last_delivery(self, msg: Msg) -> bool:
        meta = msg.metadata
        return meta.num_delivered >= self._max_deliver.get(meta.consumer, MAX_DELIVER)

    async def _dead_letter(self, msg: Msg, reason: str, detail: str) -> None:
        letter = dead_letter_of(msg, reason, detail)
        headers = {**letter.headers, DLQ_REASON_HEADER: reason}

        def failed(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            log.error(
                "dlq.publish_failed",
                extra={"subject": msg.subject, "reason": reason, "error": _describe(exc) if exc else "?"},
            )

        async def hold(_: RetryCallState) -> None:
            with contextlib.suppress(NatsError, TimeoutError, OSError):
                await msg.in_progress()

        try:
            # only the last delivery is held and retried: the server would not redeliver it
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(_PUBLISH_ERRORS)
                & retry_if_exception(lambda _: self._last_delivery(msg)),
                wait=wait_exponential(multiplier=self.base_delay, max=MAX_DELAY),
                after=failed,
                before_sleep=hold,
                reraise=True,
            ):
                with attempt:
                    await self.sink(letter, headers)
        except _PUBLISH_ERRORS as exc:
            log.error(
                "dlq.publish_failed",
                extra={"subject": msg.subject, "reason": reason, "error": _describe(exc)},
            )
            await msg.nak(delay=retry_delay(letter.num_delivered or 1, base=self.base_delay))
            return
        log.warning(
            "message.dead_lettered", extra={"subject": msg.subject, "reason": reason, "detail": detail[:300]}
        )
        if self.on_dead_letter is not None:
            self.on_dead_letter(reason)
        await msg.term()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _validation_detail(exc: pydantic.ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        loc = ".".join(str(p) for p in error["loc"])
        parts.append(f"{loc}: {error['msg']}")
    return "; ".join(parts)
