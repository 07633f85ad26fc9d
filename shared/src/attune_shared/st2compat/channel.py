"""The parent's side of the channel to a Python action or sensor process: JSON lines on a socket.

The child sends requests ``{"id", "op", "args"}`` and waits for ``{"id", "ok", "value" | "error"}``;
the parent may also send notifications ``{"event", "args"}`` (a sensor's trigger changes). Requests
are answered one at a time, in order: a child that dispatches faster than the bus accepts waits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from attune_shared.errors import AttuneError

log = logging.getLogger("attune.st2compat")

#: Handles one request: ``(op, args) -> value``; raise :class:`ChannelError` to answer with an error.
Handler = Callable[[str, dict[str, Any]], Awaitable[Any]]


class ChannelError(AttuneError):
    """A request the parent refuses; the child sees the message."""


class ParentChannel:
    """Serves one child's requests until it closes its end."""

    def __init__(self, sock: socket.socket, handler: Handler, *, limit: int, name: str) -> None:
        self.sock = sock
        self.handler = handler
        self.limit = limit
        self.name = name
        self._writer: asyncio.StreamWriter | None = None

    async def serve(self) -> None:
        """Answer requests until the child closes the socket (it exited)."""
        reader, writer = await asyncio.open_unix_connection(sock=self.sock, limit=self.limit)
        self._writer = writer
        try:
            while line := await _read_line(reader):
                reply = await self._answer(line)
                if reply is not None:
                    writer.write(_encode(reply))
                    await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writer = None
            writer.close()

    async def notify(self, event: str, **args: Any) -> None:
        """Send a notification (no answer); nothing happens once the child is gone."""
        writer = self._writer
        if writer is None or writer.is_closing():
            return
        try:
            writer.write(_encode({"event": event, "args": args}))
            await writer.drain()
        except (ConnectionError, OSError):
            pass

    async def _answer(self, line: bytes) -> dict[str, Any] | None:
        try:
            request = json.loads(line)
            request_id, op, args = request["id"], request["op"], request.get("args") or {}
        except (ValueError, KeyError, TypeError):
            log.warning(
                "channel.bad_request", extra={"child": self.name, "line": line[:200].decode(errors="replace")}
            )
            return None
        try:
            return {"id": request_id, "ok": True, "value": await self.handler(op, args)}
        except ChannelError as exc:
            return {"id": request_id, "ok": False, "error": str(exc)}
        except Exception as exc:
            log.exception("channel.request_failed", extra={"child": self.name, "op": op})
            return {"id": request_id, "ok": False, "error": f"{op} failed: {type(exc).__name__}"}


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readline()
    except ValueError as exc:  # longer than the limit
        raise ConnectionError(f"a request is too large: {exc}") from exc


def _encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, default=str).encode() + b"\n"
