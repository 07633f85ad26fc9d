"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from attune_api.deps import get_services, resolve
from attune_api.metrics import refresh_pipeline_gauges
from attune_api.problems import ProblemError

router = APIRouter(tags=["operations"])

CHECK_TIMEOUT = 2.0


@router.get("/health", summary="Liveness: the process serves requests")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/health/ready",
    summary="Readiness: PostgreSQL and NATS are reachable (503 otherwise)",
    responses={503: {"description": "a dependency is unreachable"}},
)
async def ready(request: Request) -> dict[str, Any]:
    services = get_services(request)
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await services.pool.fetchval("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    try:
        if not services.nc.is_connected:
            raise ConnectionError("not connected")
        await services.nc.flush(timeout=round(CHECK_TIMEOUT))
        checks["nats"] = "ok"
    except Exception as exc:
        checks["nats"] = f"unavailable: {type(exc).__name__}"
    failing = [name for name, state in checks.items() if state != "ok"]
    if failing:
        raise ProblemError(
            503,
            f"not ready: {', '.join(f'{name} {checks[name]}' for name in failing)}",
            slug="not-ready",
            headers={"Retry-After": "1"},
        )
    return {"status": "ready", "checks": checks}


@router.get(
    "/metrics",
    summary="Prometheus metrics (needs the viewer role unless api.metrics_public)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics(request: Request) -> Response:
    services = get_services(request)
    if not services.settings.api.metrics_public:
        authorization = request.headers.get("authorization", "")
        bearer = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
        await resolve(request, request.headers.get("x-api-key") or bearer)
    await refresh_pipeline_gauges(services.pool, services.nc, services.spec)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
