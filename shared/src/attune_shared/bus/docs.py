"""The AsyncAPI document of the bus, generated with FastStream from the same specs the services use.

The services consume through :class:`~attune_shared.bus.consumer.BatchConsumer` (see why there);
here each consumer of the contract is declared as a FastStream subscriber with the model it reads,
so the document shows every subject, stream, consumer and message schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faststream import AckPolicy
from faststream.nats import JStream, PullSub
from faststream.specification import AsyncAPI

from attune_shared.bus.broker import Bus, bus_spec, make_broker
from attune_shared.bus.messages import (
    BusMessage,
    EnforcementCreated,
    EventCreated,
    ExecutionRequested,
    RuleChanged,
)
from attune_shared.bus.provision import consumer_config
from attune_shared.bus.specs import (
    EXECUTOR_ENFORCEMENTS,
    EXECUTOR_EVENTS,
    EXECUTOR_EXECUTIONS,
    SENSOR_TRIGGERS,
)
from attune_shared.settings import NatsSettings


@dataclass(frozen=True)
class Consumption:
    """Who reads a durable consumer, and what."""

    durable: str
    #: the body model; ``None`` for raw trigger payloads (any JSON object)
    model: type[BusMessage] | None
    description: str


CONSUMERS = (
    Consumption(SENSOR_TRIGGERS, None, "Sensor replicas: validate trigger payloads and store them as events"),
    Consumption(EXECUTOR_EVENTS, EventCreated, "Executor replicas: match each event against enabled rules"),
    Consumption(
        EXECUTOR_ENFORCEMENTS, EnforcementCreated, "Executor replicas: turn enforcements into executions"
    ),
    Consumption(
        EXECUTOR_EXECUTIONS, ExecutionRequested, "Executor replicas: apply policies, schedule and run"
    ),
)

#: Services that read ``rule.changed`` (every replica sees every change: a plain subscription).
RULE_CHANGE_READERS = {
    "sensor": "Sensor replicas: add, change or remove the timers of the rule",
    "executor": "Executor replicas: drop the cached rules",
}


def asyncapi_document(settings: NatsSettings, version: str = "1") -> dict[str, Any]:
    """AsyncAPI 3.0 document (as JSON-compatible data) of every subject, stream and message model."""
    broker = make_broker(settings, "docs")
    spec = bus_spec(settings)
    Bus(broker, spec)  # declares the publishers
    for item in CONSUMERS:
        consumer = spec.consumer(item.durable)
        broker.subscriber(
            consumer.filter_subject,
            stream=JStream(consumer.stream, declare=False),
            durable=item.durable,
            pull_sub=PullSub(),
            config=consumer_config(consumer),
            ack_policy=AckPolicy.MANUAL,
            title=f"{consumer.filter_subject}:{item.durable}",
            description=item.description,
        )(_reads(item.model))
    for service, description in RULE_CHANGE_READERS.items():
        broker.subscriber(
            spec.subjects.rule_changed,
            title=f"{spec.subjects.rule_changed}:{service}",
            description=description,
        )(_reads(RuleChanged))
    document = AsyncAPI(
        broker,
        title="Attune bus",
        version=version,
        description="Subjects, streams and messages of the Attune pipeline (design.md §3).",
    ).to_specification()
    result: dict[str, Any] = document.to_jsonable()
    return result


def _reads(model: Any) -> Any:
    async def handler(body: Any) -> None:  # noqa: ARG001 - declared for its annotation; never started
        return None

    handler.__annotations__ = {"body": model if model is not None else dict[str, Any], "return": None}
    return handler
