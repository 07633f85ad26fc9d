"""Apply the bus specs to a NATS server: create what is missing, update what drifted.

nats-py (and so FastStream) binds to an existing durable consumer without comparing its
configuration, so a changed ``ack_wait`` in code would silently not apply; this function is
where specs become the live configuration. ``attune bus init`` runs it, and so does every service
at start.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import APIError, BucketNotFoundError, NotFoundError, ServiceUnavailableError

from attune_shared.bus.specs import BusSpec, ConsumerSpec, KvSpec, StreamSpec
from attune_shared.errors import ServerSetupError


class ProvisionError(ServerSetupError):
    """NATS cannot hold the topology: no JetStream, or a live stream or consumer differs in a way
    that cannot be updated in place, or the server refuses a configuration."""


@dataclass
class ProvisionReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def stream_config(spec: StreamSpec, replicas: int) -> StreamConfig:
    """The nats-py configuration of a stream spec."""
    return StreamConfig(
        name=spec.name,
        description=spec.description,
        subjects=list(spec.subjects),
        retention=RetentionPolicy.WORK_QUEUE if spec.retention == "workqueue" else RetentionPolicy.LIMITS,
        storage=StorageType.FILE if spec.storage == "file" else StorageType.MEMORY,
        max_age=spec.max_age,
        max_bytes=spec.max_bytes,
        duplicate_window=spec.duplicate_window,
        num_replicas=replicas,
    )


def consumer_config(spec: ConsumerSpec) -> ConsumerConfig:
    """The nats-py configuration of a durable pull consumer spec."""
    return ConsumerConfig(
        name=spec.durable,
        durable_name=spec.durable,
        description=spec.description,
        filter_subject=spec.filter_subject,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=spec.ack_wait,
        max_deliver=spec.max_deliver,
        max_ack_pending=spec.max_ack_pending,
        max_waiting=spec.max_waiting,
    )


_STREAM_EDITABLE = ("subjects", "max_age", "max_bytes", "duplicate_window", "description", "num_replicas")
_STREAM_FIXED = ("retention", "storage")
_CONSUMER_EDITABLE = (
    "ack_wait",
    "max_deliver",
    "max_ack_pending",
    "max_waiting",
    "description",
    "filter_subject",
)
_CONSUMER_FIXED = ("ack_policy", "deliver_policy")


def _differs(live: object, desired: object, fields: tuple[str, ...]) -> list[str]:
    return [f for f in fields if _norm(getattr(live, f)) != _norm(getattr(desired, f))]


def _values(config: object, fields: list[str]) -> str:
    return ", ".join(f"{f} {_shown(getattr(config, f))}" for f in fields)


def _shown(value: object) -> object:
    return getattr(value, "value", value)


async def _require_jetstream(nc: NatsClient) -> None:
    try:
        await nc.jsm().account_info()
    except ServiceUnavailableError as exc:
        where = f"{nc.connected_url.hostname}:{nc.connected_url.port}" if nc.connected_url else "the server"
        raise ProvisionError(
            f"NATS at {where} has JetStream disabled: start nats-server with --jetstream (-js), or add "
            "`jetstream {}` to its configuration"
        ) from exc


async def _refused(what: str, call: Awaitable[object]) -> None:
    """Run a JetStream API call; the server's refusal becomes one line naming the object."""
    try:
        await call
    except APIError as exc:
        raise ProvisionError(
            f"{what}: NATS refused its configuration ({exc.description or exc}, error {exc.err_code}); "
            "remove what conflicts with it on the server, then run `attune bus init`"
        ) from exc


def _norm(value: object) -> object:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, list):
        return sorted(value)
    return value


async def provision(nc: NatsClient, spec: BusSpec) -> ProvisionReport:
    """Make the server's streams, consumers and KV buckets match ``spec``."""
    await _require_jetstream(nc)
    js = nc.jetstream()
    jsm = nc.jsm()
    report = ProvisionReport()
    for stream in spec.streams():
        desired = stream_config(stream, spec.replicas)
        name = f"stream {stream.name}"
        try:
            live = (await jsm.stream_info(stream.name)).config
        except NotFoundError:
            await _refused(name, jsm.add_stream(desired))
            report.created.append(name)
            continue
        fixed = _differs(live, desired, _STREAM_FIXED)
        if fixed:
            raise ProvisionError(
                f"{name} exists with {_values(live, fixed)}; Attune needs {_values(desired, fixed)}, which "
                f"cannot be changed in place: delete the stream (nats stream rm {stream.name}, losing its "
                "messages) and run `attune bus init`"
            )
        if _differs(live, desired, _STREAM_EDITABLE):
            await _refused(name, jsm.update_stream(desired))
            report.updated.append(name)
        else:
            report.unchanged.append(f"stream {stream.name}")

    for consumer in spec.consumers():
        desired_c = consumer_config(consumer)
        name = f"consumer {consumer.stream}/{consumer.durable}"
        try:
            live_c = (await jsm.consumer_info(consumer.stream, consumer.durable)).config
        except NotFoundError:
            await _refused(name, jsm.add_consumer(consumer.stream, desired_c))
            report.created.append(name)
            continue
        fixed = _differs(live_c, desired_c, _CONSUMER_FIXED)
        if fixed:
            raise ProvisionError(
                f"{name} exists with {_values(live_c, fixed)}; Attune needs {_values(desired_c, fixed)}, "
                f"which cannot be changed in place: delete the consumer (nats consumer rm {consumer.stream} "
                f"{consumer.durable}) and run `attune bus init`"
            )
        if _differs(live_c, desired_c, _CONSUMER_EDITABLE):
            # create-or-update on servers >= 2.9
            await _refused(name, jsm.add_consumer(consumer.stream, desired_c))
            report.updated.append(name)
        else:
            report.unchanged.append(name)

    for kv in spec.key_values():
        await _provision_kv(js, kv, spec.replicas, report)
    return report


async def _provision_kv(js: JetStreamContext, kv: KvSpec, replicas: int, report: ProvisionReport) -> None:
    name = f"kv {kv.bucket}"
    try:
        status = await (await js.key_value(kv.bucket)).status()
    except BucketNotFoundError:
        await js.create_key_value(
            KeyValueConfig(
                bucket=kv.bucket,
                ttl=kv.ttl or None,
                history=kv.history,
                replicas=replicas,
                description=kv.description,
            )
        )
        report.created.append(name)
        return
    if round(status.ttl or 0, 3) != round(kv.ttl, 3):
        stream = status.stream_info.config
        stream.max_age = kv.ttl
        stream.duplicate_window = min(stream.duplicate_window or 120.0, kv.ttl) if kv.ttl else 120.0
        await js.update_stream(stream)
        report.updated.append(name)
    else:
        report.unchanged.append(name)
