"""The AsyncAPI document of the bus, generated from the same declarations the services use."""

from __future__ import annotations

from typing import Any

from faststream.specification import AsyncAPI

from attune_shared.bus.broker import Bus, bus_spec, make_broker
from attune_shared.bus.subscriptions import SUBSCRIPTIONS, subscribe
from attune_shared.settings import NatsSettings


def asyncapi_document(settings: NatsSettings, version: str = "1") -> dict[str, Any]:
    """AsyncAPI 3.0 document (as JSON-compatible data) of every subject, stream and message model."""
    broker = make_broker(settings, "docs")
    spec = bus_spec(settings)
    Bus(broker, spec)  # declares the publishers
    for durable, sub in SUBSCRIPTIONS.items():
        subscribe(broker, spec, durable, _documentation_handler(sub.model))
    document = AsyncAPI(
        broker,
        title="Attune bus",
        version=version,
        description="Subjects, streams and messages of the Attune pipeline (design.md §3).",
    ).to_specification()
    result: dict[str, Any] = document.to_jsonable()
    return result


def _documentation_handler(model: Any) -> Any:
    async def handler(body: Any) -> None:  # noqa: ARG001 - declared for its annotation; never started
        return None

    handler.__annotations__ = {"body": model if model is not None else dict[str, Any], "return": None}
    return handler
