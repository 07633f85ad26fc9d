"""The AsyncAPI document of the bus, generated with FastStream from the same specs the services use.

The services publish through :class:`~attune_shared.bus.Bus` and consume through
:class:`~attune_shared.bus.consumer.BatchConsumer` (see why there); here every publication and
every consumer of the contract is declared as a FastStream publisher or subscriber with its
message model, so the document shows each subject, stream, consumer and message schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faststream import AckPolicy
from faststream.nats import JStream, PullSub
from faststream.specification import AsyncAPI

from attune_shared.bus.broker import bus_spec, make_broker
from attune_shared.bus.messages import (
    BusMessage,
    DeadLetter,
    EnforcementCreated,
    EventCreated,
    ExecutionRequested,
    ExecutionStatusChanged,
    RuleChanged,
)
from attune_shared.bus.provision import consumer_config
from attune_shared.bus.specs import (
    EXECUTOR_ENFORCEMENTS,
    EXECUTOR_EVENTS,
    EXECUTOR_EXECUTIONS,
    SENSOR_TRIGGERS,
    BusSpec,
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

#: Plain subscriptions (every replica sees every message): subject attribute, model, description.
BROADCAST_READERS: tuple[tuple[str, type[BusMessage], str], ...] = (
    (
        "rule_changed",
        RuleChanged,
        "Sensor replicas: add, change or remove the timers of the rule; read again which triggers rules use",
    ),
    ("rule_changed", RuleChanged, "Executor replicas: drop the cached rules"),
    ("execution_cancel", ExecutionStatusChanged, "Executor replicas: stop the run if it is theirs"),
)


def publications(spec: BusSpec) -> list[tuple[str, str | None, Any, str]]:
    """What :class:`~attune_shared.bus.Bus` publishes: subject, stream (None: plain NATS), body, description."""
    s = spec.subjects
    return [
        (
            s.trigger("{trigger_ref}"),
            spec.triggers_stream,
            dict[str, Any],
            "Trigger payloads (any JSON object); optional headers Nats-Msg-Id, Attune-Trace-Tag, "
            "Attune-Rule, Attune-Source",
        ),
        (
            s.event_created,
            spec.work_stream,
            EventCreated,
            "Events stored by the sensor whose trigger an enabled rule uses, to be matched",
        ),
        (
            s.event_unheard,
            None,
            EventCreated,
            "Events stored by the sensor whose trigger no enabled rule uses (no wake-up needed; for "
            "live followers such as the API's SSE streams)",
        ),
        (
            s.enforcement_created,
            spec.work_stream,
            EnforcementCreated,
            "Enforcements left pending, to be processed (republished by the maintenance loop)",
        ),
        (
            s.enforcement_processed,
            None,
            EnforcementCreated,
            "Enforcements created already resolved by rule matching (no wake-up needed; for live "
            "followers such as the API's SSE streams)",
        ),
        (s.execution_requested, spec.work_stream, ExecutionRequested, "Executions waiting to be scheduled"),
        (
            s.execution_status("{action_ref}"),
            spec.updates_stream,
            ExecutionStatusChanged,
            "Every execution status change, after its commit",
        ),
        (s.execution_cancel, None, ExecutionStatusChanged, "Cancel requests for running executions"),
        (
            s.rule_changed,
            spec.updates_stream,
            RuleChanged,
            "Rules created, changed, enabled, disabled or deleted",
        ),
        (
            s.dlq("{reason}"),
            spec.dlq_stream,
            DeadLetter,
            "Messages that cannot be processed, with the reason",
        ),
    ]


def asyncapi_document(settings: NatsSettings, version: str = "1") -> dict[str, Any]:
    """AsyncAPI 3.0 document (as JSON-compatible data) of every subject, stream and message model."""
    broker = make_broker(settings, "docs")
    spec = bus_spec(settings)
    for subject, stream, schema, description in publications(spec):
        broker.publisher(
            subject,
            stream=JStream(stream, declare=False) if stream else None,
            schema=schema,
            title=f"{subject}:publish",
            description=description,
        )
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
    for index, (name, model, description) in enumerate(BROADCAST_READERS):
        subject = getattr(spec.subjects, name)
        broker.subscriber(subject, title=f"{subject}:{index}", description=description)(_reads(model))
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
