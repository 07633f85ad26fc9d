"""The child's side of the channel to its parent: JSON lines on an inherited socket.

Requests block until answered; notifications from the parent go to a listener, called on a
thread of its own (so a listener may itself make requests).
"""

from __future__ import annotations

import itertools
import json
import queue
import socket
import threading
from collections.abc import Callable
from typing import Any


class ChannelError(Exception):
    """The parent refused a request, or is gone."""


class _Slot:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply: dict[str, Any] = {}


class Channel:
    def __init__(self, fd: int, listener: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self._sock = socket.socket(fileno=fd)
        self._reader = self._sock.makefile("rb")
        self._write_lock = threading.Lock()
        self._pending: dict[int, _Slot] = {}
        self._ids = itertools.count(1)
        self._closed = False
        self._events: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._listener = listener
        threading.Thread(target=self._read, name="attune-channel", daemon=True).start()
        if listener is not None:
            threading.Thread(target=self._deliver, name="attune-events", daemon=True).start()

    def request(self, op: str, **args: Any) -> Any:
        """Ask the parent; its answer, or :class:`ChannelError`."""
        request_id = next(self._ids)
        slot = _Slot()
        self._pending[request_id] = slot
        line = json.dumps({"id": request_id, "op": op, "args": args}, default=str).encode() + b"\n"
        try:
            with self._write_lock:
                if self._closed:
                    raise ChannelError("the parent process is gone")
                self._sock.sendall(line)
            slot.done.wait()
        finally:
            self._pending.pop(request_id, None)
        if not slot.reply.get("ok"):
            raise ChannelError(slot.reply.get("error") or "the parent process is gone")
        return slot.reply.get("value")

    def _read(self) -> None:
        for line in self._reader:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "id" in message:
                slot = self._pending.get(message["id"])
                if slot is not None:
                    slot.reply = message
                    slot.done.set()
            elif "event" in message:
                self._events.put((message["event"], message.get("args") or {}))
        self._closed = True
        for slot in list(self._pending.values()):
            slot.done.set()
        self._events.put(None)

    def _deliver(self) -> None:
        assert self._listener is not None
        while (item := self._events.get()) is not None:
            self._listener(*item)
