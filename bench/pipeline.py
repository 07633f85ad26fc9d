"""The pipeline measured end to end: real sensor and executor processes on real servers."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
from nats.js import JetStreamContext

from attune_shared.bus import BusSpec, provision
from attune_shared.db import create_pool
from attune_shared.processes import ServiceProcess, console_script, free_port
from attune_shared.repos import ActionRepository, PackRepository, RuleRepository, TriggerRepository
from attune_shared.settings import DatabaseSettings

from .servers import wait_until

#: Triggers of the benchmark pack, one per scenario so scenarios never match each other's rules.
SCENARIOS = {
    "ingest": None,
    "noop": ("core.noop", {}),
    "shell": ("core.local", {"cmd": "true"}),
    "sleep": ("core.sleep", {"seconds": 0.1}),
}
CORE_ACTIONS = {
    "core.noop": ("builtin", "noop", {"type": "object", "properties": {}}),
    "core.local": (
        "shell",
        "",
        {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
    ),
    "core.sleep": ("builtin", "sleep", {"type": "object", "properties": {"seconds": {"type": "number"}}}),
}


@dataclass
class Stack:
    """Sensor and executors running against one database and prefix."""

    database_url: str
    nats_url: str
    prefix: str
    workdir: Path
    #: the streams' replicas (3 on a NATS cluster)
    replicas: int = 1
    processes: list[ServiceProcess] = field(default_factory=list)
    #: peak RSS (MB) per process, filled when the stack stops
    peaks: dict[str, float] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATTUNE__")}
        env.update(
            ATTUNE__ENVIRONMENT="test",
            ATTUNE__DATABASE__URL=self.database_url,
            ATTUNE__NATS__URL=self.nats_url,
            ATTUNE__NATS__PREFIX=self.prefix,
            ATTUNE__NATS__REPLICAS=str(self.replicas),
            ATTUNE__SECURITY__SECRET_KEY=secrets.token_hex(16),
            ATTUNE__LOG__LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    async def start(self, script: str, **extra: str) -> ServiceProcess:
        index = len(self.processes)
        proc = ServiceProcess(
            script, [console_script(script)], self.env(**extra), self.workdir / f"{script}-{index}.log"
        )
        proc.start()
        self.processes.append(proc)
        return proc

    async def start_api(self) -> str:
        """Start the API (authentication off); its URL once it is ready."""
        port = free_port()
        proc = await self.start(
            "attune-api",
            ATTUNE__API__PORT=str(port),
            ATTUNE__API__AUTH_ENABLED="false",
            ATTUNE__LOG__LEVEL="INFO",  # its readiness line
        )
        await proc.wait_ready(60)
        return f"http://127.0.0.1:{port}"

    def pids(self) -> dict[str, int]:
        """Process id of each running service, by the name its figures carry (``attune-executor-1``)."""
        return {f"{p.name}-{i}": p.pid for i, p in enumerate(self.processes) if p.running}

    async def stop_all(self) -> None:
        """Record each process's peak RSS, then SIGTERM them all (together: each drains on its own)."""
        self.peaks = {f"{p.name}-{i}": peak_rss_mb(p.pid) for i, p in enumerate(self.processes) if p.running}
        await asyncio.gather(*(proc.terminate(timeout=30) for proc in self.processes))
        self.processes.clear()


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def seed_catalog(database_url: str) -> None:
    """The benchmark pack: trigger per scenario, the core actions it uses, one rule per scenario."""
    pool = await create_pool(DatabaseSettings(url=database_url), max_size=2)
    try:
        core, _ = await PackRepository(pool).upsert({"ref": "core", "label": "core", "version": "1.0.0"})
        bench, _ = await PackRepository(pool).upsert({"ref": "bench", "label": "bench", "version": "1.0.0"})
        actions = {}
        for ref, (runner, entry, schema) in CORE_ACTIONS.items():
            existing = await ActionRepository(pool).get_by_ref(ref)
            if existing is None:
                existing, _ = await ActionRepository(pool).upsert(
                    {
                        "ref": ref,
                        "pack": core.id,
                        "pack_ref": "core",
                        "runner_type": runner,
                        "entry_point": entry,
                        "parameters_schema": schema,
                    }
                )
            actions[ref] = existing
        for scenario, target in SCENARIOS.items():
            trigger, _ = await TriggerRepository(pool).upsert(
                {"ref": f"bench.{scenario}", "pack": bench.id, "pack_ref": "bench"}
            )
            if target is None:
                continue
            action_ref, params = target
            await RuleRepository(pool).upsert(
                {
                    "ref": f"bench.on_{scenario}",
                    "pack": bench.id,
                    "pack_ref": "bench",
                    "trigger": trigger.id,
                    "trigger_ref": trigger.ref,
                    "action": actions[action_ref].id,
                    "action_ref": action_ref,
                    "action_params": params,
                }
            )
    finally:
        await pool.close()


@asynccontextmanager
async def stack(
    database_url: str, nats_url: str, executors: int, concurrency: int, *, replicas: int = 1
) -> AsyncIterator[Stack]:
    """Sensor and executors on a fresh prefix; ``nats_url`` may list a cluster's servers
    (comma-separated), with ``replicas`` 3."""
    prefix = f"b{uuid.uuid4().hex[:8]}"
    nc = await connect_nats(nats_url)
    await provision(nc, BusSpec(prefix, replicas=replicas))
    s = Stack(
        database_url, nats_url, prefix, Path(tempfile.mkdtemp(prefix="attune-bench-logs-")), replicas=replicas
    )
    try:
        await seed_catalog(database_url)
        await s.start("attune-sensor")
        for i in range(executors):
            await s.start(
                "attune-executor",
                ATTUNE__EXECUTOR__NAME=f"bench-{prefix}-{i}",
                ATTUNE__EXECUTOR__CONCURRENCY=str(concurrency),
            )
        await wait_for_consumers(nc, prefix, executors)
        yield s
    finally:
        await s.stop_all()
        jsm = nc.jsm()
        for info in await jsm.streams_info():
            if (info.config.name or "").startswith(prefix.upper() + "_") or (
                info.config.name or ""
            ).startswith(f"KV_{prefix}_"):
                await jsm.delete_stream(info.config.name)
        await nc.close()


async def connect_nats(url: str) -> nats.NATS:
    """A client of one server or of a cluster (``url`` comma-separated)."""
    return await nats.connect([server.strip() for server in url.split(",")])


async def follow_executions(api_url: str) -> None:
    """Read the API's live execution stream, as a dashboard would, so the API works during the run."""
    async with httpx.AsyncClient(base_url=api_url, timeout=None) as http:
        while True:  # the API drops a client that falls behind; a dashboard reconnects
            try:
                async with http.stream("GET", "/api/v1/executions/stream") as response:
                    async for _ in response.aiter_lines():
                        pass
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)


async def wait_for_consumers(nc: nats.NATS, prefix: str, executors: int, timeout: float = 60) -> None:
    """Services are ready when their pull requests are waiting on the durable consumers."""
    spec = BusSpec(prefix)
    jsm = nc.jsm()

    async def waiting() -> bool:
        sensor = await jsm.consumer_info(spec.triggers_stream, "sensor")
        events = await jsm.consumer_info(spec.work_stream, "executor-events")
        return sensor.num_waiting >= 1 and events.num_waiting >= min(executors, 1)

    if not await wait_until(waiting, timeout, 0.1):
        raise RuntimeError("services did not start consuming within 60 s")


@contextmanager
def held_gc() -> Iterator[None]:
    """The benchmark's own garbage collector held off while a burst is timed (collected first,
    outside the clock). A full collection of this process took 25–28 ms, a fifth of a 2,000-event
    ingest burst or a third of a publish ceiling, and came every other burst: the load generator
    stopped mid-burst, the pipeline and servers idled, and the figure halved at random."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


#: Publishes of the load generator awaiting their PubAck at once.
IN_FLIGHT = 512
#: The load generator yields to the event loop (its client's flusher and reader) this often.
FLUSH_EVERY = 64


def trigger_message(subject: str, n: int) -> tuple[bytes, dict[str, str]]:
    """The load generator's ``n``-th message: a small alert payload, with a ``Nats-Msg-Id``."""
    body = json.dumps({"n": n, "host": f"h{n % 17}", "severity": "info"}).encode()
    return body, {"Nats-Msg-Id": f"{subject}:{n}"}


async def publish(
    nats_url: str, subject: str, count: int, *, rate: float | None = None, start: int = 0
) -> float:
    """Publish ``count`` payloads (``n`` = start…); at saturation (bounded in-flight) or at ``rate``/s.
    Returns the wall time the first message was sent."""
    nc = await connect_nats(nats_url)
    try:
        return await publish_on(nc.jetstream(), subject, count, rate=rate, start=start)
    finally:
        await nc.close()


async def publish_on(
    js: JetStreamContext, subject: str, count: int, *, rate: float | None = None, start: int = 0
) -> float:
    """:func:`publish` on a connection already open (the raw ceiling publishes the same way).

    Publishes go out as they are made, ``IN_FLIGHT`` at most awaiting their PubAck. The client
    writes only when the loop comes round to its flusher, so the producer yields every
    ``FLUSH_EVERY`` publishes: made all at once (one ``gather`` of every publish, before the
    fifteenth round), the first write waited for the whole burst's tasks and the first 512
    publishes, and the servers and services sat idle for the first 20–45 ms of a burst.
    """
    in_flight = asyncio.Semaphore(IN_FLIGHT)
    started = time.time()

    async def one(n: int) -> None:
        try:
            body, headers = trigger_message(subject, n)
            await js.publish(subject, body, headers=headers, timeout=30)
        finally:
            in_flight.release()

    tasks = []
    for i in range(count):
        if rate is not None:
            delay = started + i / rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
        await in_flight.acquire()
        tasks.append(asyncio.create_task(one(start + i)))
        if i % FLUSH_EVERY == FLUSH_EVERY - 1:
            await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    return started


COMPLETED = "SELECT count(*) FROM execution WHERE trigger_ref = $1 AND status = 'completed'"
#: When the last of them completed: its end is the execution's last update (``updated`` is set by a
#: trigger on every update), in the server's clock, which is this machine's.
LAST_COMPLETED = (
    "SELECT extract(epoch FROM max(updated)) FROM execution WHERE trigger_ref = $1 AND status = 'completed'"
)
#: Completion is polled this often. The finish time is read from the rows afterwards, so a coarse
#: poll costs no precision; a fine one (every 20 ms, before) cost the measured servers a scan of the
#: execution table 50 times a second and rounded a burst's end up by 10 ms on average.
POLL_SECONDS = 0.1


async def run_to_completion(
    pool: asyncpg.Pool, st: Stack, trigger: str, n: int, *, rate: float | None = None, start: int = 0
) -> float:
    """Publish ``n`` events on ``trigger`` (at ``rate``/s, or at once); the time the last one completed."""
    before = await count(pool, COMPLETED, trigger)
    await publish(st.nats_url, f"{st.prefix}.trigger.{trigger}", n, rate=rate, start=start)
    await wait_count(pool, COMPLETED, before + n, 600, trigger)
    return float(await pool.fetchval(LAST_COMPLETED, trigger))


async def ingest(pool: asyncpg.Pool, st: Stack, trigger: str, n: int, *, start: int = 0) -> float:
    """Publish ``n`` events on ``trigger`` at once; the time their rows were all stored.

    The rows are counted every 10 ms (an event row keeps no time of its own insert): a finer poll
    would load the server it measures, a coarser one (20 ms, before) rounded a 0.2 s burst's end
    up by 5 % on average."""
    sql = "SELECT count(*) FROM event WHERE trigger_ref = $1"
    target = await count(pool, sql, trigger) + n
    await publish(st.nats_url, f"{st.prefix}.trigger.{trigger}", n, start=start)
    await wait_count(pool, sql, target, 600, trigger, every=0.01)
    return time.time()


async def quiet(st: Stack, timeout: float = 120) -> None:
    """Wait until the services have nothing left to do: no trigger message, event, enforcement or
    execution wake-up waiting or in flight. A burst measured right after another would otherwise
    also pay for the end of that one (an ingest burst leaves its events to the executor)."""
    nc = await connect_nats(st.nats_url)
    jsm = nc.jsm()
    spec = BusSpec(st.prefix)
    try:

        async def idle() -> bool:
            for c in spec.consumers():
                info = await jsm.consumer_info(c.stream, c.durable)
                if info.num_pending or info.num_ack_pending:
                    return False
            return True

        if not await wait_until(idle, timeout, 0.05):
            raise TimeoutError(f"the services were still busy after {timeout:.0f} s")
    finally:
        await nc.close()


async def count(pool: asyncpg.Pool, sql: str, *args: Any) -> int:
    return int(await pool.fetchval(sql, *args))


async def wait_count(
    pool: asyncpg.Pool, sql: str, target: int, timeout: float, *args: Any, every: float = POLL_SECONDS
) -> None:
    """Wait until ``sql`` counts ``target``, asking every ``every`` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if await count(pool, sql, *args) >= target:
            return
        await asyncio.sleep(every)
    raise TimeoutError(
        f"{sql} did not reach {target} within {timeout:.0f} s (now {await count(pool, sql, *args)})"
    )


async def steady_rate(pool: asyncpg.Pool, trigger_ref: str) -> float:
    """Completions per second between the 10th and the 90th percentile of completion times.

    Not the headline figure: in a burst, rule matching finishes early, and the later completions
    run without it. The scaling runs use it (their work is the sleeping, not the matching)."""
    times = [
        r["updated"].timestamp()
        for r in await pool.fetch(
            "SELECT updated FROM execution WHERE trigger_ref = $1 AND status = 'completed' ORDER BY updated",
            trigger_ref,
        )
    ]
    if len(times) < 10:
        return float("nan")
    lo, hi = int(len(times) * 0.1), int(len(times) * 0.9)
    span = times[hi] - times[lo]
    return (hi - lo) / span if span > 0 else float("nan")


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99
    return {"p50": round(q[49], 2), "p95": round(q[94], 2), "p99": round(q[98], 2)}


async def latencies(pool: asyncpg.Pool, action_ref: str, start: int, count: int) -> dict[str, list[float]]:
    """Per execution of the events ``start`` … ``start + count - 1``: ms from the trigger message's
    stream time (= execution.created) to running and to completed, and from running to completed
    (``run``)."""
    rows = await pool.fetch(
        """SELECT x.id,
                  extract(epoch FROM (r.created - x.created)) * 1000 AS to_running,
                  extract(epoch FROM (c.created - x.created)) * 1000 AS to_completed
           FROM execution x
           JOIN event e ON e.created = x.created AND e.trigger_ref = x.trigger_ref
           LEFT JOIN LATERAL (SELECT h.created FROM execution_history h WHERE h.entity_id = x.id
                              AND h.new_values->>'status' = 'running' LIMIT 1) r ON true
           LEFT JOIN LATERAL (SELECT h.created FROM execution_history h WHERE h.entity_id = x.id
                              AND h.new_values->>'status' = 'completed' LIMIT 1) c ON true
           WHERE x.action_ref = $1 AND (e.payload->>'n')::int >= $2 AND (e.payload->>'n')::int < $3""",
        action_ref,
        start,
        start + count,
    )
    both = [r for r in rows if r["to_running"] is not None and r["to_completed"] is not None]
    return {
        "running": [float(r["to_running"]) for r in rows if r["to_running"] is not None],
        "completed": [float(r["to_completed"]) for r in rows if r["to_completed"] is not None],
        "run": [float(r["to_completed"] - r["to_running"]) for r in both],
    }


async def correctness(
    pool: asyncpg.Pool, trigger_ref: str, published: int, expect_executions: bool
) -> dict[str, int]:
    """Events, enforcements, executions, duplicates and lost for one scenario."""
    events = await count(pool, "SELECT count(*) FROM event WHERE trigger_ref = $1", trigger_ref)
    distinct = await count(
        pool, "SELECT count(DISTINCT payload->>'n') FROM event WHERE trigger_ref = $1", trigger_ref
    )
    enforcements = await count(pool, "SELECT count(*) FROM enforcement WHERE trigger_ref = $1", trigger_ref)
    executions = await count(pool, "SELECT count(*) FROM execution WHERE trigger_ref = $1", trigger_ref)
    per_enforcement = await count(
        pool, "SELECT count(DISTINCT enforcement) FROM execution WHERE trigger_ref = $1", trigger_ref
    )
    completed = await count(
        pool, "SELECT count(*) FROM execution WHERE trigger_ref = $1 AND status = 'completed'", trigger_ref
    )
    duplicates = (events - distinct) + (executions - per_enforcement)
    lost = published - distinct
    if expect_executions:
        lost += distinct - completed if completed < distinct else 0
    return {
        "events": events,
        "enforcements": enforcements,
        "executions": executions,
        "completed": completed,
        "duplicates": duplicates,
        "lost": lost,
    }
