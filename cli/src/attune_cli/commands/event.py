"""`attune event publish` (straight to NATS) and `attune event list` (through the API)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer
from nats.errors import Error as NatsError

from attune_cli.client import ApiClient, short
from attune_cli.output import console, fail, print_json, print_table
from attune_shared.bus import Bus, bus_spec, make_broker, provision, stop_broker
from attune_shared.bus.broker import nats_unusable
from attune_shared.settings import NatsSettings, load_settings

event_app = typer.Typer(help="Events: publish trigger payloads, list stored events.", no_args_is_help=True)


@event_app.command("publish")
def publish(
    trigger_ref: str = typer.Argument(..., help="the trigger, e.g. examples.alert"),
    payload: str = typer.Argument(..., help="the payload: a JSON object"),
    msg_id: str | None = typer.Option(
        None, "--msg-id", help="Nats-Msg-Id: republishing the same id makes one event"
    ),
    trace_tag: str | None = typer.Option(
        None, "--trace-tag", help="carried from the event to its executions"
    ),
    json_output: bool = typer.Option(False, "-j", "--json", help="print the publish acknowledgement as JSON"),
) -> None:
    """Publish a payload to <prefix>.trigger.<TRIGGER_REF> on NATS (no API involved); the sensor stores it."""
    try:
        body = json.loads(payload)
    except ValueError as exc:
        fail(f"the payload is not JSON: {exc}", code=2)
    if not isinstance(body, dict):
        fail(f"the payload must be a JSON object, not {type(body).__name__}", code=2)
    settings = load_settings()
    ack = asyncio.run(_publish(settings.nats, trigger_ref, body, msg_id, trace_tag))
    if json_output:
        print_json(ack)
    else:
        duplicate = " (duplicate: already published)" if ack["duplicate"] else ""
        console.print(
            f"published to {ack['subject']}: {ack['stream']} seq {ack['seq']}{duplicate}", highlight=False
        )


async def _publish(
    settings: NatsSettings,
    trigger_ref: str,
    payload: dict[str, Any],
    msg_id: str | None,
    trace_tag: str | None,
) -> dict[str, Any]:
    spec = bus_spec(settings)
    broker = make_broker(settings, "cli")
    try:
        try:
            await asyncio.wait_for(broker.connect(), timeout=settings.connect_timeout)
        except (TimeoutError, OSError, NatsError) as exc:
            raise nats_unusable(settings.url, exc) from None
        await provision(broker.connection, spec)
        ack = await Bus(broker, spec, timeout=settings.publish_timeout).trigger(
            trigger_ref, payload, msg_id=msg_id, trace_tag=trace_tag
        )
    finally:
        await stop_broker(broker)
    return {
        "subject": spec.subjects.trigger(trigger_ref),
        "stream": ack.stream,
        "seq": ack.seq,
        "duplicate": bool(ack.duplicate),
        "msg_id": msg_id,
    }


@event_app.command("list")
def list_events(
    trigger: str | None = typer.Option(None, "--trigger", help="a trigger ref or wildcard"),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000),
    json_output: bool = typer.Option(False, "-j", "--json", help="print JSON"),
) -> None:
    """List stored events, newest first."""
    page = ApiClient().get("/api/v1/events", {"trigger_ref": trigger, "limit": limit})
    if json_output:
        print_json(page["data"])
        return
    rows = [{**e, "payload": short(e["payload"], 60)} for e in page["data"]]
    print_table(rows, ["id", "trigger_ref", "created", "source_ref", "payload"], title="events")
