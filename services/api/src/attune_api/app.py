"""The FastAPI application: factory, lifespan (pool, bus, SSE hub) and routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from nats.aio.client import Client as NatsClient

from attune_api import problems
from attune_api.auth import TokenSigner
from attune_api.middleware import RequestMiddleware
from attune_api.routes import api_router, auth_router, health_router
from attune_api.services import Services
from attune_api.sse import Hub
from attune_shared.runtime import Runtime, connect
from attune_shared.secrets import SecretBox
from attune_shared.settings import Settings

log = logging.getLogger("attune.api")

VERSION = "0.1.0"
DESCRIPTION = """\
REST, live streams (SSE), webhooks, history and analytics of Attune.

Authenticate with an API key (`X-API-Key: atn_…` or `Authorization: Bearer atn_…`) or a bearer
token from `POST /auth/token`. Roles: `viewer` reads, `operator` also runs and cancels executions
and enables/disables rules, `admin` does everything. Errors are RFC 9457 problem details.
Lists are `{data, next}`, newest first; pass `next` as `before_id` for the next page.
"""


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    """The application. With ``runtime`` (the server's), it uses that connection; without, its
    lifespan connects to PostgreSQL and NATS itself."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            rt = runtime if runtime is not None else await stack.enter_async_context(connect(settings, "api"))
            nc: NatsClient = rt.broker.connection
            hub = Hub(nc, rt.spec, settings.api.sse_queue_size)
            await hub.start()
            stack.push_async_callback(hub.close)
            app.state.services = Services(
                settings=settings,
                pool=rt.pool,
                bus=rt.bus,
                nc=nc,
                spec=rt.spec,
                hub=hub,
                signer=TokenSigner(settings.security.secret_key, settings.api.token_ttl),
                box=SecretBox(settings.security.secret_key),
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
    app.add_middleware(RequestMiddleware)
    app.include_router(health_router)
    app.include_router(auth_router)
    app.include_router(api_router)
    if not docs_public:
        _protected_docs(app)
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
