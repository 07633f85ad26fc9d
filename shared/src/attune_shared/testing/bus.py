"""NATS for a test: its own subject prefix (so its own streams), a client, a provisioned bus."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client as NatsClient

from attune_shared.bus import Bus, bus_spec, make_broker, provision, stop_broker
from attune_shared.settings import Settings


@pytest.fixture
def nats_prefix() -> str:
    """A subject prefix (and so stream names) unique to this test."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest_asyncio.fixture
async def nats_client(nats_url: str, nats_prefix: str) -> AsyncIterator[NatsClient]:
    """A NATS connection; at teardown every stream and KV bucket of this test's prefix is deleted."""
    nc = await nats.connect(nats_url.split(","), connect_timeout=5, max_reconnect_attempts=3)
    try:
        yield nc
    finally:
        with contextlib.suppress(Exception):
            await delete_prefix_streams(nc, nats_prefix)
        await nc.close()


async def delete_prefix_streams(nc: NatsClient, prefix: str) -> None:
    """Delete the streams (``<PREFIX>_*``) and KV buckets (``KV_<prefix>_*``) of a prefix."""
    jsm = nc.jsm()
    for info in await jsm.streams_info():
        name = info.config.name or ""
        if name.startswith(f"{prefix.upper()}_") or name.startswith(f"KV_{prefix}_"):
            await jsm.delete_stream(name)


@pytest_asyncio.fixture
async def bus(settings: Settings, nats_client: NatsClient) -> AsyncIterator[Bus]:
    """A connected :class:`~attune_shared.bus.Bus` for this test's prefix, topology provisioned."""
    spec = bus_spec(settings.nats)
    await provision(nats_client, spec)
    broker = make_broker(settings.nats, "pytest")
    await broker.connect()
    try:
        yield Bus(broker, spec)
    finally:
        await stop_broker(broker)
