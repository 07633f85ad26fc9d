"""Structured logging: one JSON object per line (or plain text for humans), set up once per process."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from typing import Any

from attune_shared.settings import LogSettings

#: Attributes every LogRecord has; anything else passed via ``extra=`` is emitted as a field.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

#: Logged once a service is consuming; tests and `attune up` wait for it.
READY_EVENT = "service.ready"


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class Throttle:
    """At most one log line per key per ``interval`` seconds, for a warning that can repeat once per
    message (a rule whose criterion fails on every event). The first line of a key is logged as
    given; each later one that is let through adds ``repeats``: how many were held back since the
    previous line (a metric counts them all)."""

    def __init__(
        self, logger: logging.Logger, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        #: key -> (when its last line was logged, lines held back since)
        self._last: dict[Hashable, tuple[float, int]] = {}

    def warning(self, key: Hashable, message: str, **fields: object) -> None:
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last[0] < self.interval:
            self._last[key] = (last[0], last[1] + 1)
            return
        if last is not None:
            fields = {**fields, "repeats": last[1], "interval_seconds": self.interval}
        self._last[key] = (now, 0)
        self.logger.warning(message, extra=fields)


class TextFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)-7s {service} %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}
        text = super().format(record)
        return text + ("  " + " ".join(f"{k}={v}" for k, v in extras.items()) if extras else "")


def configure_logging(settings: LogSettings, service: str) -> None:
    """Route every logger to stderr in the configured format and level."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if settings.format == "json" else TextFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    for noisy in ("nats", "faststream", "asyncio", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
