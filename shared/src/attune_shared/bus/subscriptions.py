"""Who consumes what: the durable pull subscriptions of the contract, declared once.

Services attach their handlers with :func:`subscribe`; :mod:`attune_shared.bus.docs` declares the
same subscriptions with documentation-only handlers to generate the AsyncAPI document.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.subscriber.usecases.stream_pull_subscriber import PullStreamSubscriber

from attune_shared.bus.messages import BusMessage, EnforcementCreated, EventCreated, ExecutionRequested
from attune_shared.bus.provision import consumer_config
from attune_shared.bus.specs import (
    EXECUTOR_ENFORCEMENTS,
    EXECUTOR_EVENTS,
    EXECUTOR_EXECUTIONS,
    SENSOR_TRIGGERS,
    BusSpec,
)


@dataclass(frozen=True)
class Subscription:
    durable: str
    #: the body model; ``None`` for raw trigger payloads, which the sensor validates itself
    model: type[BusMessage] | None
    batch_size: int
    description: str


SUBSCRIPTIONS: dict[str, Subscription] = {
    s.durable: s
    for s in (
        Subscription(
            SENSOR_TRIGGERS, None, 256, "Sensor: validate trigger payloads and store them as events"
        ),
        Subscription(EXECUTOR_EVENTS, EventCreated, 64, "Executor: match the event against enabled rules"),
        Subscription(
            EXECUTOR_ENFORCEMENTS, EnforcementCreated, 64, "Executor: turn an enforcement into an execution"
        ),
        Subscription(
            EXECUTOR_EXECUTIONS, ExecutionRequested, 16, "Executor: apply policies, schedule and run"
        ),
    )
}


def subscribe(
    broker: NatsBroker,
    spec: BusSpec,
    durable: str,
    handler: Callable[..., Awaitable[Any]],
    *,
    batch_size: int | None = None,
    fetch_timeout: float = 5.0,
) -> PullStreamSubscriber:
    """Attach ``handler`` to the shared durable pull consumer ``durable``.

    Each fetch returns up to ``batch_size`` messages as soon as any are available; their handlers
    run concurrently and are settled one by one by the broker's :class:`~attune_shared.bus.settle.Settler`.
    """
    sub = SUBSCRIPTIONS[durable]
    consumer = spec.consumer(durable)
    subscriber: PullStreamSubscriber = broker.subscriber(
        consumer.filter_subject,
        stream=JStream(consumer.stream, declare=False),
        durable=durable,
        pull_sub=PullSub(batch_size=batch_size or sub.batch_size, timeout=fetch_timeout),
        config=consumer_config(consumer),
        ack_policy=AckPolicy.MANUAL,
        title=f"{consumer.filter_subject}:{durable}",
        description=sub.description,
    )
    subscriber(handler)
    return subscriber
