"""Streams, consumers and KV buckets written once as data; :mod:`attune_shared.bus.provision` applies them.

Names derive from the prefix: prefix ``attune`` gives streams ``ATTUNE_TRIGGERS``, ``ATTUNE_WORK``,
``ATTUNE_UPDATES``, ``ATTUNE_DLQ`` and KV buckets ``attune_<name>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from attune_shared.bus.subjects import Subjects

DAY = 24 * 3600.0

#: Durable consumer names (shared by every replica of the consuming service).
SENSOR_TRIGGERS = "sensor"
EXECUTOR_EVENTS = "executor-events"
EXECUTOR_ENFORCEMENTS = "executor-enforcements"
EXECUTOR_EXECUTIONS = "executor-executions"

#: Redeliveries before a message is dead-lettered (the last delivery is dead-lettered too).
MAX_DELIVER = 10

#: KV bucket holding the timer leader's lease.
LEASES_BUCKET = "leases"


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    retention: Literal["limits", "workqueue"]
    max_age: float  # seconds
    storage: Literal["file", "memory"] = "file"
    duplicate_window: float = 120.0  # seconds
    max_bytes: int = -1
    description: str = ""


@dataclass(frozen=True)
class ConsumerSpec:
    stream: str
    durable: str
    filter_subject: str
    ack_wait: float  # seconds
    max_deliver: int = MAX_DELIVER
    max_ack_pending: int = 4096
    max_waiting: int = 512
    description: str = ""


@dataclass(frozen=True)
class KvSpec:
    bucket: str
    ttl: float  # seconds; 0 = keep
    history: int = 1
    description: str = ""


@dataclass(frozen=True)
class BusSpec:
    """The whole topology for one prefix."""

    prefix: str
    replicas: int = 1
    lease_ttl: float = 10.0
    subjects: Subjects = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "subjects", Subjects(self.prefix))

    def stream_name(self, kind: str) -> str:
        return f"{self.prefix.upper().replace('-', '_')}_{kind}"

    @property
    def triggers_stream(self) -> str:
        return self.stream_name("TRIGGERS")

    @property
    def work_stream(self) -> str:
        return self.stream_name("WORK")

    @property
    def updates_stream(self) -> str:
        return self.stream_name("UPDATES")

    @property
    def dlq_stream(self) -> str:
        return self.stream_name("DLQ")

    def bucket(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    def streams(self) -> list[StreamSpec]:
        s = self.subjects
        return [
            StreamSpec(
                self.triggers_stream,
                (s.triggers,),
                retention="workqueue",
                max_age=7 * DAY,
                description="trigger payloads from producers, timers and webhooks; consumed by the sensor",
            ),
            StreamSpec(
                self.work_stream,
                (s.event_created, s.enforcement_created, s.execution_requested),
                retention="workqueue",
                max_age=7 * DAY,
                description="wake-ups carrying row ids: events, enforcements and executions to process",
            ),
            StreamSpec(
                self.updates_stream,
                (s.execution_statuses, s.rule_changed),
                retention="limits",
                max_age=DAY,
                description="execution status changes and rule changes, kept a day for replay",
            ),
            StreamSpec(
                self.dlq_stream,
                (s.dead_letters,),
                retention="limits",
                max_age=30 * DAY,
                description="messages that could not be processed, with the reason",
            ),
        ]

    def consumers(self) -> list[ConsumerSpec]:
        s = self.subjects
        return [
            ConsumerSpec(
                self.triggers_stream,
                SENSOR_TRIGGERS,
                s.triggers,
                ack_wait=30.0,
                description="sensor replicas: trigger payload -> event row",
            ),
            ConsumerSpec(
                self.work_stream,
                EXECUTOR_EVENTS,
                s.event_created,
                ack_wait=30.0,
                description="executor replicas: event -> rule matching -> enforcements",
            ),
            ConsumerSpec(
                self.work_stream,
                EXECUTOR_ENFORCEMENTS,
                s.enforcement_created,
                ack_wait=30.0,
                description="executor replicas: enforcement -> execution",
            ),
            ConsumerSpec(
                self.work_stream,
                EXECUTOR_EXECUTIONS,
                s.execution_requested,
                ack_wait=60.0,
                max_ack_pending=2048,
                description="executor replicas: schedule and run executions",
            ),
        ]

    def key_values(self) -> list[KvSpec]:
        return [
            KvSpec(
                self.bucket(LEASES_BUCKET),
                ttl=self.lease_ttl,
                description="leader leases (the timer leader); entries expire after the TTL",
            ),
        ]

    def consumer(self, durable: str) -> ConsumerSpec:
        for spec in self.consumers():
            if spec.durable == durable:
                return spec
        raise KeyError(durable)
