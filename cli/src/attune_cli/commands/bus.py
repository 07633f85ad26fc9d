"""`attune bus init|docs` and `attune dlq list`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nats
import typer
from nats.aio.client import Client as NatsClient

from attune_cli.output import console, print_json, print_table
from attune_shared.bus import DeadLetter, bus_spec, provision
from attune_shared.bus.broker import nats_unusable
from attune_shared.bus.deadletters import recent_dead_letters
from attune_shared.bus.docs import asyncapi_document
from attune_shared.settings import NatsSettings, load_settings

bus_app = typer.Typer(help="The NATS JetStream topology and its documentation.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead-lettered messages.", no_args_is_help=True)


async def _connect(settings: NatsSettings) -> NatsClient:
    """One connection attempt per server (nats-py would retry forever with no attempts allowed)."""
    errors: list[Exception] = []

    async def remember(exc: Exception) -> None:
        errors.append(exc)  # raised below as one line; nats-py would log a traceback

    try:
        async with asyncio.timeout(2 * settings.connect_timeout + 1):
            return await nats.connect(
                settings.url.split(","),
                connect_timeout=settings.connect_timeout,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.2,
                allow_reconnect=False,
                error_cb=remember,
            )
    except Exception as exc:
        raise nats_unusable(settings.url, errors[-1] if errors else exc) from exc


@bus_app.command("init")
def init(json_output: bool = typer.Option(False, "-j", "--json", help="print the report as JSON")) -> None:
    """Create or update the streams, consumers and KV buckets of the bus (idempotent)."""
    settings = load_settings()

    async def go() -> Any:
        nc = await _connect(settings.nats)
        try:
            return await provision(nc, bus_spec(settings.nats, settings.sensor.timer_lease_ttl))
        finally:
            await nc.close()

    report = asyncio.run(go())
    if json_output:
        print_json(report.__dict__)
        return
    for kind in ("created", "updated", "unchanged"):
        for name in getattr(report, kind):
            console.print(f"  {kind:<9} {name}")


@bus_app.command("docs")
def docs(
    output: Path | None = typer.Option(None, "-o", "--output", help="write to this file instead of stdout"),
) -> None:
    """Print (or write) the AsyncAPI 3.0 document of the bus."""
    document = json.dumps(asyncapi_document(load_settings().nats), indent=2)
    if output is None:
        typer.echo(document)
    else:
        output.write_text(document + "\n")
        console.print(f"wrote {output}")


@dlq_app.command("list")
def dlq_list(
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=1000, help="most recent entries to show"),
    reason: str | None = typer.Option(None, "--reason", help="only this reason"),
    json_output: bool = typer.Option(False, "-j", "--json", help="JSON output"),
) -> None:
    """Show recent dead letters, newest first."""
    settings = load_settings()
    letters = asyncio.run(_recent_dead_letters(settings.nats, limit, reason))
    if json_output:
        print_json([{"seq": seq, **letter.model_dump(mode="json")} for seq, letter in letters])
        return
    print_table(
        (
            {
                "seq": seq,
                "failed_at": letter.failed_at.isoformat(timespec="seconds"),
                "reason": letter.reason,
                "subject": letter.subject,
                "detail": letter.detail[:80],
            }
            for seq, letter in letters
        ),
        ["seq", "failed_at", "reason", "subject", "detail"],
        title="dead letters",
    )


async def _recent_dead_letters(
    settings: NatsSettings, limit: int, reason: str | None
) -> list[tuple[int, DeadLetter]]:
    nc = await _connect(settings)
    try:
        return await recent_dead_letters(nc, bus_spec(settings), limit=limit, reason=reason)
    finally:
        await nc.close()
