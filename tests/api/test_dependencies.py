"""Every route runs in the event loop: FastAPI runs a plain-function dependency or endpoint in its
thread pool, a thread hop per request that also made the API's RSS grow by a worker thread's arena."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from attune_api.app import create_app
from attune_shared.settings import Settings


def _routes(routes: list[Any]) -> list[APIRoute]:
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):  # an included router
            found += _routes(route.original_router.routes)
        elif hasattr(route, "routes"):
            found += _routes(route.routes)
    return found


def _blocking(dependant: Dependant) -> list[str]:
    call = dependant.call
    found = []
    if call is not None and not inspect.isclass(call):
        target = call if inspect.isfunction(call) or inspect.ismethod(call) else type(call).__call__
        if not (inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)):
            found.append(f"{call.__module__}.{getattr(call, '__qualname__', type(call).__qualname__)}")
    for sub in dependant.dependencies:
        found += _blocking(sub)
    return found


def test_no_route_needs_the_thread_pool() -> None:
    routes = _routes(create_app(Settings()).routes)
    assert len(routes) > 50  # the whole API was walked
    blocking = {f"{name} (in {route.path})" for route in routes for name in _blocking(route.dependant)}
    assert not blocking, sorted(blocking)
