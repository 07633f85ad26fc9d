"""What a Python action or sensor process may ask its parent: the datastore (StackStorm's
system scope), and dispatching triggers.

:class:`ChildServices` answers the requests of one child (a :data:`~attune_shared.st2compat.channel.Handler`):
``kv.get``, ``kv.set``, ``kv.delete``, ``kv.list`` (the datastore), ``dispatch`` (a trigger message
on ``<p>.trigger.<ref>``, through the sensor's ingest like any producer's) and, for actions,
``result``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from attune_shared.bus import Bus
from attune_shared.datastore import Datastore, KeyValue
from attune_shared.errors import RetryableError
from attune_shared.models import KeyScope
from attune_shared.secrets import SecretDecryptError
from attune_shared.st2compat.channel import ChannelError

log = logging.getLogger("attune.st2compat")

#: Longest pause between attempts to publish a dispatched trigger while NATS refuses it.
DISPATCH_RETRY_MAX_DELAY = 30.0
#: Most keys ``list_values`` returns.
LIST_LIMIT = 1000


@dataclass
class ActionResult:
    """What a python-script action reported: ``status`` (``None`` or the boolean of a 2-tuple) and ``result``."""

    reported: bool = False
    status: bool | None = None
    result: Any = None


@dataclass
class ChildServices:
    """Answers one child's requests. ``source`` names it on the events it dispatches
    (``sensor:<ref>``, ``action:<ref>``)."""

    datastore: Datastore
    bus: Bus
    source: str
    result: ActionResult = field(default_factory=ActionResult)

    async def __call__(self, op: str, args: dict[str, Any]) -> Any:
        try:
            if op == "kv.get":
                key = await self.datastore.get(str(args["name"]), decrypt=bool(args.get("decrypt")))
                return None if key is None else _as_stackstorm(key)
            if op == "kv.set":
                ttl = args.get("ttl")
                await self.datastore.set(
                    str(args["name"]),
                    str(args["value"]),
                    secret=bool(args.get("encrypt")),
                    ttl=float(ttl) if ttl else None,
                )
                return True
            if op == "kv.delete":
                return await self.datastore.delete(str(args["name"]))
            if op == "kv.list":
                prefix = str(args.get("prefix") or "")
                items = await self.datastore.list(prefix=prefix, scope=KeyScope.SYSTEM, limit=LIST_LIMIT)
                return [{"name": i.name, "value": _as_stackstorm(i), "secret": i.secret} for i in items]
            if op == "dispatch":
                await self.dispatch(str(args["trigger"]), args.get("payload"), args.get("trace_tag"))
                return None
            if op == "result":
                self.result = ActionResult(True, args.get("status"), args.get("result"))
                return None
        except SecretDecryptError as exc:
            raise ChannelError(str(exc)) from None
        except KeyError as exc:
            raise ChannelError(f"{op}: missing argument {exc}") from None
        raise ChannelError(f"unknown request {op!r}")

    async def dispatch(self, trigger_ref: str, payload: Any, trace_tag: Any) -> None:
        """Publish a trigger message; wait while NATS refuses it (the child waits too: backpressure).

        The sensor's ingest validates it like any trigger message: an unknown trigger or a payload its
        schema refuses is dead-lettered with the reason, never silently dropped.
        """
        if not isinstance(payload, dict):
            raise ChannelError(
                f"the payload of {trigger_ref} must be an object, not {type(payload).__name__}"
            )
        body = payload
        msg_id = f"{self.source}:{uuid.uuid4().hex}"
        delay = 0.5
        while True:
            try:
                await self.bus.trigger(
                    trigger_ref,
                    body,
                    msg_id=msg_id,
                    trace_tag=str(trace_tag) if trace_tag else None,
                    source=self.source,
                )
                return
            except RetryableError as exc:
                log.warning(
                    "dispatch.retry", extra={"source": self.source, "trigger": trigger_ref, "error": str(exc)}
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, DISPATCH_RETRY_MAX_DELAY)


def _as_stackstorm(key: KeyValue) -> str | None:
    """A key's value as StackStorm's services return it: a string (JSON for other values), and
    a secret read without decryption as its ciphertext."""
    if key.secret and key.value is None:
        return key.ciphertext
    return key.value if isinstance(key.value, str) else json.dumps(key.value)
