"""Liveness and readiness of a bus service, served beside ``/metrics`` on its metrics port.

- ``GET /health/live``: 200 while the service's event loop answers (a wedged loop is 503: restart it).
- ``GET /health/ready``: 200 once the service consumes (:meth:`Health.mark_ready`) and every
  registered check passes — the database answers, NATS answers, each durable consumer it reads
  exists on the server; else 503. Both answer JSON: ``{"status": "ok" | "unavailable",
  "checks": {name: "ok" | reason}}``.

The checks run on the service's event loop; the HTTP server is a thread (as prometheus-client's
own), so a loop that stopped answering is what liveness reports.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from nats.aio.client import Client as NatsClient
from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

Check = Callable[[], Awaitable[object]]

LIVE_PATH = "/health/live"
READY_PATH = "/health/ready"
#: seconds one check (and the loop, for liveness) has to answer
CHECK_TIMEOUT = 3.0


class Health:
    """The checks of one process; services register them as they connect."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._checks: dict[str, Check] = {}
        self._ready = False

    def watch(self, name: str, check: Check) -> None:
        """Run ``check`` (on the calling event loop) for every readiness probe; raising = not ready."""
        self._loop = asyncio.get_running_loop()
        self._checks[name] = check

    def forget(self, *names: str) -> None:
        for name in names:
            self._checks.pop(name, None)

    def mark_ready(self, ready: bool = True) -> None:
        """The service consumes (or, with False, no longer does: it stops)."""
        self._ready = ready

    def reset(self) -> None:
        self._checks.clear()
        self._ready = False

    async def _run_checks(self) -> dict[str, str]:
        names = list(self._checks)
        outcomes = await asyncio.gather(
            *(asyncio.wait_for(self._checks[n](), CHECK_TIMEOUT) for n in names), return_exceptions=True
        )
        return {
            name: "ok" if not isinstance(outcome, BaseException) else _reason(outcome)
            for name, outcome in zip(names, outcomes, strict=True)
        }

    def _on_loop(self, make: Callable[[], Awaitable[Any]]) -> Any:
        """Run a coroutine on the service's loop from the HTTP thread; TimeoutError if it is stuck."""
        assert self._loop is not None

        async def run() -> Any:
            return await make()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(CHECK_TIMEOUT + 1)

    def live(self) -> tuple[bool, dict[str, str]]:
        if self._loop is None or self._loop.is_closed():
            return True, {}  # starting (or stopped): the process answers, nothing more to ask
        try:
            self._on_loop(lambda: asyncio.sleep(0))
        except Exception as exc:
            return False, {"event_loop": _reason(exc)}
        return True, {"event_loop": "ok"}

    def ready(self) -> tuple[bool, dict[str, str]]:
        if self._loop is None or self._loop.is_closed():
            return False, {"service": "starting"}
        try:
            checks = self._on_loop(self._run_checks)
        except Exception as exc:
            return False, {"event_loop": _reason(exc)}
        checks = {"service": "ok" if self._ready else "not consuming", **checks}
        return all(v == "ok" for v in checks.values()), checks


async def nats_answers(nc: NatsClient) -> None:
    """Connected, and a PING gets its PONG (a reconnecting client buffers and would not say)."""
    if not nc.is_connected:
        raise ConnectionError("not connected (reconnecting)")
    await nc.flush(timeout=round(CHECK_TIMEOUT))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {CHECK_TIMEOUT:g} s"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


#: The process's checks (one service per process, like prometheus-client's default registry).
HEALTH = Health()


def health_app(health: Health = HEALTH) -> Callable[[dict[str, Any], Any], Iterable[bytes]]:
    """A WSGI app: the two health paths, and prometheus-client's ``/metrics`` for everything else."""
    metrics = make_wsgi_app()

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path not in (LIVE_PATH, READY_PATH):
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        ok, checks = health.live() if path == LIVE_PATH else health.ready()
        body = json.dumps({"status": "ok" if ok else "unavailable", "checks": checks}).encode()
        start_response(
            "200 OK" if ok else "503 Service Unavailable",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds are not worth a log line."""


def serve(port: int, host: str = "127.0.0.1", health: Health = HEALTH) -> None:
    """Serve ``/metrics``, ``/health/live`` and ``/health/ready`` on ``host:port`` in a daemon thread."""
    server = make_server(host, port, health_app(health), ThreadingWSGIServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="attune-health", daemon=True).start()
