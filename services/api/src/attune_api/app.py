"""The API process: the FastAPI application (factory, lifespan with pool, bus and SSE hub, routers)
served by uvicorn until SIGTERM (stop accepting, end live streams, finish in-flight requests)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import uvicorn
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from nats.aio.client import Client as NatsClient
from sse_starlette.sse import AppStatus

from attune_api import console, problems
from attune_api.audit import AuditMiddleware
from attune_api.auth import TokenSigner
from attune_api.context import RequestIdFilter
from attune_api.middleware import RequestMiddleware
from attune_api.routes import api_router, auth_router, health_router
from attune_api.services import Services
from attune_api.sse import Hub
from attune_api.throttle import AuthThrottle
from attune_shared.runtime import Runtime, connect, ready
from attune_shared.secrets import SecretBox
from attune_shared.settings import Settings
from attune_shared.workflows.engine import WorkflowEngine

log = logging.getLogger("attune.api")

SERVICE = "api"
#: Seconds in-flight requests get to finish after SIGTERM.
GRACEFUL_TIMEOUT = 15

VERSION = "0.1.0"
DESCRIPTION = """\
REST, live streams (SSE), webhooks, history and analytics of Attune.

Authenticate with an API key (`X-API-Key: atn_…` or `Authorization: Bearer atn_…`) or a bearer
token from `POST /auth/token`. Roles: `viewer` reads, `operator` also runs and cancels executions
and enables/disables rules, `admin` does everything. Errors are RFC 9457 problem details.
Lists are `{data, next}`, newest first; pass `next` as `before_id` for the next page.
The web console at `/` signs in with `POST /auth/session` (an HttpOnly cookie).
"""


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    """The application. With ``runtime`` (the server's), it uses that connection; without, its
    lifespan connects to PostgreSQL and NATS itself."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            rt = (
                runtime
                if runtime is not None
                else await stack.enter_async_context(connect(settings, SERVICE))
            )
            nc: NatsClient = rt.broker.connection
            hub = Hub(nc, rt.spec, settings.api.sse_queue_size)
            await hub.start()
            stack.push_async_callback(hub.close)
            box = SecretBox.of(settings.security)
            workflows = WorkflowEngine(rt.pool, rt.bus, box, api_url=settings.api.base_url())
            stack.push_async_callback(workflows.close)
            app.state.services = Services(
                settings=settings,
                pool=rt.pool,
                bus=rt.bus,
                nc=nc,
                spec=rt.spec,
                hub=hub,
                signer=TokenSigner(
                    settings.security.secret_key,
                    settings.api.token_ttl,
                    previous=settings.security.previous_secret_key,
                ),
                session_signer=TokenSigner(
                    settings.security.secret_key,
                    settings.api.session_ttl,
                    previous=settings.security.previous_secret_key,
                ),
                box=box,
                workflows=workflows,
                throttle=AuthThrottle(settings.api.auth_failure_limit, settings.api.auth_failure_window),
            )
            yield

    docs_public = settings.api.docs_public
    app = FastAPI(
        title="Attune API",
        version=VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json" if docs_public else None,
        docs_url="/docs" if docs_public else None,
        redoc_url="/redoc" if docs_public else None,
    )
    app.state.settings = settings
    problems.install(app)
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Location"],
        )
    app.add_middleware(AuditMiddleware)  # inside RequestMiddleware: the request id is known
    app.add_middleware(RequestMiddleware)
    app.include_router(health_router)
    app.include_router(auth_router)
    app.include_router(api_router)
    if not docs_public:
        _protected_docs(app)
    console.install(app, console.console_of(settings))
    return app


def _protected_docs(app: FastAPI) -> None:
    """/docs, /redoc and /openapi.json behind authentication (``api.docs_public = false``)."""
    from attune_api.deps import require

    viewer = [Depends(require("viewer"))]

    @app.get("/openapi.json", include_in_schema=False, dependencies=viewer)
    async def openapi() -> JSONResponse:
        document: dict[str, Any] = app.openapi()
        return JSONResponse(document)

    @app.get("/docs", include_in_schema=False, dependencies=viewer)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Attune API")

    @app.get("/redoc", include_in_schema=False, dependencies=viewer)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title="Attune API")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service runtime owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(
    settings: Settings, stopping: asyncio.Event, *, host: str | None = None, port: int | None = None
) -> None:
    """Serve until ``stopping`` is set; ``host``/``port`` override ``api.host``/``api.port`` (port 0:
    any free port, logged in the ``service.ready`` line)."""
    api = settings.api.model_copy(update={k: v for k, v in (("host", host), ("port", port)) if v is not None})
    settings = settings.model_copy(update={"api": api})
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestIdFilter())
    if not api.auth_enabled:
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
        bound = server.servers[0].sockets[0].getsockname()[1]
        ready(SERVICE, host=api.host, port=bound, auth_enabled=api.auth_enabled)
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
