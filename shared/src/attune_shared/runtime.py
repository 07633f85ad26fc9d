"""How a service process starts, runs and stops, written once for all services.

:func:`run` loads the settings (a bad setting exits 2 with one line), configures logging, and runs
the service coroutine until SIGTERM/SIGINT. :func:`connect` opens what a bus service needs — a
pool on a migrated database with its outage gate, a connected broker, the
:class:`~attune_shared.bus.Bus` publisher and the :class:`~attune_shared.bus.Settler` every consumer
settles through — after provisioning the streams and consumers, waiting for PostgreSQL and NATS
to come up within ``startup_wait``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from faststream.nats import NatsBroker
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_fixed

from attune_shared.bus import (
    Bus,
    BusSpec,
    RuleChanged,
    Settler,
    bus_spec,
    make_broker,
    provision,
    stop_broker,
)
from attune_shared.bus.broker import nats_refused, nats_unusable
from attune_shared.database_check import verify_database
from attune_shared.db import create_pool
from attune_shared.errors import AttuneError, ConfigError, ServerSetupError
from attune_shared.health import HEALTH, nats_answers
from attune_shared.logs import READY_EVENT, configure_logging
from attune_shared.metrics import DEAD_LETTERS
from attune_shared.outage import DatabaseGate
from attune_shared.settings import Settings, load_settings

log = logging.getLogger("attune.runtime")


@dataclass
class Runtime:
    """What a running service holds."""

    settings: Settings
    pool: asyncpg.Pool
    broker: NatsBroker
    bus: Bus
    spec: BusSpec
    settler: Settler
    gate: DatabaseGate


#: Allocations between two collections of the youngest generation, once a service is ready. What a
#: service allocates per message (models, dicts, tasks, futures) is freed by reference counting;
#: at Python's 700, an executor burst ran ~450 young and ~40 middle collections per 8,000 noop
#: executions, 5 % of its CPU (timed by ``gc.callbacks``), for what a collection every 10,000
#: allocations finds as well: 0.1 %. The objects kept that long are a few thousand at most.
GC_YOUNG_THRESHOLD = 10_000


async def follow_rule_changes(
    runtime: Runtime, handler: Callable[[RuleChanged], Awaitable[None]]
) -> Subscription:
    """Call ``handler`` with every ``rule.changed`` (a plain subscription: every replica of every
    service sees every change). Unsubscribe when stopping; a malformed message is ignored."""

    async def on_message(msg: Msg) -> None:
        try:
            change = RuleChanged.model_validate_json(msg.data)
        except ValueError:
            log.warning("rule_changed.invalid", extra={"subject": msg.subject})
            return
        await handler(change)

    return await runtime.broker.connection.subscribe(runtime.spec.subjects.rule_changed, cb=on_message)


def ready(service: str, **fields: object) -> None:
    """Log the readiness line tests and `attune up` wait for; /health/ready may answer 200 from now.

    What exists by now (modules, settings, compiled schemas, caches) lives as long as the process:
    it is moved out of the garbage collector's generations, so that a full collection — a pause of
    the event loop proportional to what it walks — no longer walks it again and again. From now on
    the youngest generation is collected after :data:`GC_YOUNG_THRESHOLD` allocations instead of
    Python's 700."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    HEALTH.mark_ready()
    log.info(READY_EVENT, extra={"service_name": service, **fields})


@asynccontextmanager
async def connect(
    settings: Settings, service: str, *, pool_size: int | None = None
) -> AsyncIterator[Runtime]:
    """Database pool (verified migrated), broker (connected, topology provisioned) and publisher."""
    pool = await create_pool(settings.database, application_name=f"attune-{service}", max_size=pool_size)
    try:
        async with pool.acquire() as conn:
            await verify_database(conn, timescale_required=settings.timescale.required)
        spec = bus_spec(settings.nats, settings.sensor.timer_lease_ttl)
        broker = make_broker(settings.nats, service)
        bus = Bus(broker, spec, timeout=settings.nats.publish_timeout)
        settler = Settler(
            spec, bus.dead_letter, on_dead_letter=lambda reason: DEAD_LETTERS.labels(service, reason).inc()
        )
        gate = DatabaseGate(pool)
        await _connect_broker(broker, settings.database.startup_wait, settings.nats.url)
        try:
            await provision(broker.connection, spec)
            HEALTH.watch("database", lambda: pool.fetchval("SELECT 1"))
            HEALTH.watch("nats", lambda: nats_answers(broker.connection))
            yield Runtime(settings, pool, broker, bus, spec, settler, gate)
        finally:
            HEALTH.reset()
            await gate.close()
            await stop_broker(broker)
    finally:
        await pool.close()


async def _connect_broker(broker: NatsBroker, wait: float, url: str) -> None:
    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(
                lambda exc: isinstance(exc, (NatsError, OSError, TimeoutError)) and not nats_refused(exc)
            ),
            stop=stop_after_delay(wait),
            wait=wait_fixed(0.5),
            reraise=True,
        ):
            with attempt:
                await broker.connect()
    except (NatsError, OSError, TimeoutError) as exc:
        raise nats_unusable(url, exc) from exc


def service_parser(service: str, description: str, *examples: str) -> argparse.ArgumentParser:
    """The command line of ``attune-<service>``: ``--help`` says what it does and how it is configured."""
    settings = ", ".join(("ATTUNE__DATABASE__URL", "ATTUNE__NATS__URL", *examples))
    return argparse.ArgumentParser(
        prog=f"attune-{service}",
        description=description,
        epilog="Configuration: config.yaml (path in ATTUNE_CONFIG) and environment variables "
        f"ATTUNE__SECTION__KEY, e.g. {settings}. Stops gracefully on SIGTERM.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def run(service: str, main: Callable[[Settings, asyncio.Event], Awaitable[None]]) -> None:
    """Entry point of a service: settings, logging, signals; exit 0 after a graceful stop.

    ``main(settings, stopping)`` must return once ``stopping`` is set, having finished or handed
    back its in-flight work.
    """
    try:
        settings = load_settings()
    except ConfigError as exc:
        sys.stderr.write(f"attune-{service}: config error: {exc}\n")
        sys.exit(2)
    configure_logging(settings.log, service)
    try:
        asyncio.run(_main(service, settings, main))
    except ServerSetupError as exc:
        sys.stderr.write(f"attune-{service}: {exc}\n")
        sys.exit(2)
    except AttuneError as exc:
        log.error("service.failed", extra={"error": str(exc)})
        sys.stderr.write(f"attune-{service}: {exc}\n")
        sys.exit(1)


async def _main(
    service: str, settings: Settings, main: Callable[[Settings, asyncio.Event], Awaitable[None]]
) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await main(settings, stopping)
    log.info("service.stopped", extra={"service_name": service})
