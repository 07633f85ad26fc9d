"""``attune-api``: the HTTP API (REST, SSE, webhooks) on uvicorn.

Configuration comes from the settings (``ATTUNE__API__HOST``, ``ATTUNE__API__PORT``, …);
``--host``/``--port`` override them. Port 0 picks a free port, logged in the ``service.ready`` line.
SIGTERM: stop accepting, end live streams, finish in-flight requests, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Iterator

import uvicorn
from sse_starlette.sse import AppStatus

from attune_api.app import create_app
from attune_api.context import RequestIdFilter
from attune_shared.runtime import connect, ready, run
from attune_shared.settings import Settings

log = logging.getLogger("attune.api")

SERVICE = "api"
#: Seconds in-flight requests get to finish after SIGTERM.
GRACEFUL_TIMEOUT = 15


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service runtime owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="attune-api",
        description="Attune API service: REST (/api/v1), live streams (SSE), webhooks, analytics, "
        "auth; OpenAPI at /docs. Settings come from ATTUNE__… environment variables or ATTUNE_CONFIG.",
    )
    parser.add_argument("--host", help="listen address (default: api.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default: api.port, 8080; 0 = any free port)")
    return parser.parse_args()


def main() -> None:
    args = _parse_args()

    async def serve(settings: Settings, stopping: asyncio.Event) -> None:
        api = settings.api.model_copy(
            update={k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
        )
        settings = settings.model_copy(update={"api": api})
        for handler in logging.getLogger().handlers:
            handler.addFilter(RequestIdFilter())
        if not settings.api.auth_enabled:
            log.warning(
                "api.auth_disabled",
                extra={
                    "warning": "AUTHENTICATION IS OFF (ATTUNE__API__AUTH_ENABLED=false): every request is an "
                    "anonymous admin. Never run this way outside development."
                },
            )
        async with connect(settings, SERVICE) as runtime:
            app = create_app(settings, runtime)
            server = _Server(
                uvicorn.Config(
                    app,
                    host=api.host,
                    port=api.port,
                    log_config=None,
                    access_log=False,
                    lifespan="on",
                    timeout_graceful_shutdown=GRACEFUL_TIMEOUT,
                    proxy_headers=True,
                )
            )
            serving = asyncio.create_task(server.serve())
            while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn has no event)
                await asyncio.sleep(0.02)
            if serving.done():
                serving.result()
                return
            port = server.servers[0].sockets[0].getsockname()[1]
            ready(SERVICE, host=api.host, port=port, auth_enabled=settings.api.auth_enabled)
            stop = asyncio.create_task(stopping.wait())
            await asyncio.wait({serving, stop}, return_when=asyncio.FIRST_COMPLETED)
            if stop.done():
                log.info("api.stopping")
                AppStatus.should_exit = True
                await app.state.services.hub.close()
                server.should_exit = True
                await serving
            else:
                stop.cancel()
                serving.result()

    run(SERVICE, serve)


if __name__ == "__main__":
    main()
