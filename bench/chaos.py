"""The chaos soak: `python -m bench --chaos 10m`.

A steady load of about a quarter of the measured capacity (events of ``chaos.tick`` matching rules
with builtin, shell and python actions, a concurrency policy, retries and an Orquesta workflow:
``bench/chaos_pack``) while a scheduler kills (SIGKILL) and restarts, at random every 10–40 s, a
sensor, one of two executors, the API, the NATS server or PostgreSQL (SIGKILL of the postmaster's
whole process group: an immediate shutdown), sometimes two at once. Only servers the soak itself
started, on 127.0.0.1. A service that exits on its own is restarted as a supervisor would (and
counted).

At the end it waits for quiet and checks: every published event stored once; every enforcement
resolved, one per event; every execution terminal, one chain of retries per processed
enforcement, workflow tasks dispatched once; every dead letter with a reason; no service left
crashed. Any violation makes the run fail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import re
import shutil
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
from nats.aio.client import Client as NatsClient

from attune_shared.bus import BusSpec, provision
from attune_shared.bus.messages import DLQ_REASON_HEADER, DeadLetter
from attune_shared.db import create_pool
from attune_shared.embedded import NatsServer, PostgresServer
from attune_shared.packs import register_core_pack, register_pack
from attune_shared.processes import ServiceProcess, free_port
from attune_shared.settings import DatabaseSettings
from attune_shared.statuses import TERMINAL_STATUSES

from .pipeline import Stack, peak_rss_mb, percentiles, wait_for_consumers
from .servers import fresh_database

PACK_DIR = Path(__file__).parent / "chaos_pack"
TRIGGER = "chaos.tick"
#: the kind of work of event ``n`` (its rule): n % 8
KINDS = ["builtin", "builtin", "builtin", "shell", "shell", "python", "policy", "workflow"]
TARGETS = ["sensor", "executor", "api", "nats", "postgres"]
TERMINAL = sorted(str(s) for s in TERMINAL_STATUSES)
EXECUTORS = 2
#: after a restart, new work must flow end to end again within this (else: a violation)
RECOVERY_TIMEOUT = 120.0


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``2m``, ``1h`` → seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", text.strip())
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a duration such as 120s, 10m or 1h")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def parse_interval(text: str) -> tuple[float, float]:
    """``10-40`` → (10.0, 40.0) seconds between faults."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?", text.strip())
    lo, hi = (float(m.group(1)), float(m.group(2) or m.group(1))) if m else (0.0, 0.0)
    if not 0 < lo <= hi:
        raise argparse.ArgumentTypeError(f"{text!r}: give MIN-MAX seconds, 0 < MIN <= MAX, e.g. 10-40")
    return lo, hi


@dataclass
class Fault:
    """One injection: what was killed, when (seconds into the soak), how long it stayed down, and how
    long the system took after the restart to complete new work again."""

    targets: list[str]
    at_s: float
    down_s: float = 0.0
    recovery_s: float | None = None


@dataclass
class Soak:
    """The servers, the services and the bookkeeping of one soak."""

    root: Path
    nats_server: NatsServer
    pg_server: PostgresServer
    stack: Stack
    api_url: str
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    #: services the scheduler has down on purpose (the supervisor leaves them alone)
    down: set[str] = field(default_factory=set)
    exits: Counter[str] = field(default_factory=Counter)
    #: each exit: service, when, exit code, its last log line
    exit_log: list[dict[str, Any]] = field(default_factory=list)
    #: numbers published (PubAck received) and the next number to publish
    acked: set[int] = field(default_factory=set)
    next_n: int = 0
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 2)


# --- the load ------------------------------------------------------------------------------------


async def _client(url: str) -> NatsClient:
    async def quiet(_: Exception) -> None:
        """Connection errors are expected here: the soak kills the server."""

    return await nats.connect(
        url,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.2,
        connect_timeout=2,
        allow_reconnect=True,
        error_cb=quiet,
    )


async def _publish_one(soak: Soak, nc: NatsClient, n: int) -> None:
    """Publish event ``n`` until JetStream acknowledges it (the same message id every time, so a
    retry after a lost PubAck is deduplicated by the stream)."""
    body = json.dumps({"n": n, "kind": KINDS[n % len(KINDS)]}).encode()
    subject = f"{soak.stack.prefix}.trigger.{TRIGGER}"
    while True:
        try:
            await nc.jetstream().publish(subject, body, headers={"Nats-Msg-Id": f"chaos:{n}"}, timeout=5)
            soak.acked.add(n)
            return
        except Exception:  # NATS away or restarting: try again, as a publisher should
            await asyncio.sleep(0.5)


async def publish_at(soak: Soak, nc: NatsClient, rate: float, until: float, recovered: asyncio.Event) -> None:
    """Publish at ``rate``/s until ``until`` (monotonic) and until every fault's recovery is timed
    (``recovered``: a fault late in the soak is restarted after ``until``, and its recovery is new
    work flowing again), then wait for every publish to be acked."""
    tasks: set[asyncio.Task[None]] = set()
    t0 = time.monotonic()
    sent = 0
    while time.monotonic() < until or not recovered.is_set():
        target = t0 + sent / rate
        if (delay := target - time.monotonic()) > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(_publish_one(soak, nc, soak.next_n))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        soak.next_n += 1
        sent += 1
    await asyncio.wait_for(asyncio.gather(*tasks), 300)


async def calibrate(soak: Soak, nc: NatsClient, pool: asyncpg.Pool, count: int) -> float:
    """Capacity (events/s of the mix, each to the end of its work) from a burst of ``count``."""
    started = time.monotonic()
    first = soak.next_n
    await asyncio.gather(*(_publish_one(soak, nc, first + i) for i in range(count)))
    soak.next_n += count
    await _wait(lambda: _settled(pool, count), 300, "the calibration burst to finish")
    return count / (time.monotonic() - started)


async def _settled(pool: asyncpg.Pool, events: int) -> bool:
    """``events`` stored and nothing left to do: each event's enforcement resolved (every event
    matches one rule), each processed enforcement has its execution, every execution terminal."""
    row = await pool.fetchrow(
        """SELECT (SELECT count(*) FROM event WHERE trigger_ref = $1) AS events,
                  (SELECT count(*) FROM enforcement WHERE status <> 'created') AS resolved,
                  (SELECT count(*) FROM enforcement f WHERE f.status = 'processed' AND NOT EXISTS
                      (SELECT 1 FROM execution x WHERE x.enforcement = f.id)) AS without_execution,
                  (SELECT count(*) FROM execution WHERE status <> ALL($2::text[])) AS open_executions""",
        TRIGGER,
        TERMINAL,
    )
    return bool(
        row["events"] >= events
        and row["resolved"] >= row["events"]
        and not row["without_execution"]
        and not row["open_executions"]
    )


async def _wait(predicate: Any, timeout: float, what: str, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        try:
            if await predicate():
                return
        except Exception as exc:  # the database or the API may be away: ask again
            last_error = f" (last error: {exc!r})"
        await asyncio.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}{last_error}")


# --- services, faults, supervision ----------------------------------------------------------------


async def start_services(soak: Soak) -> None:
    st = soak.stack
    port = int(soak.api_url.rsplit(":", 1)[1])
    info = {"ATTUNE__LOG__LEVEL": "INFO"}  # the readiness line, and what happened around each fault
    soak.services["sensor"] = await st.start("attune-sensor", **info)
    for i in range(EXECUTORS):
        soak.services[f"executor-{i}"] = await st.start(
            "attune-executor", ATTUNE__EXECUTOR__NAME=f"chaos-{st.prefix}-{i}", **info
        )
    soak.services["api"] = await st.start(
        "attune-api", ATTUNE__API__PORT=str(port), ATTUNE__API__AUTH_ENABLED="false", **info
    )
    await asyncio.gather(*(p.wait_ready(120) for p in soak.services.values()))


def _service_names(soak: Soak, target: str) -> list[str]:
    if target == "executor":
        return [f"executor-{random.randrange(EXECUTORS)}"]
    return [target] if target in soak.services else []


async def _kill(soak: Soak, target: str) -> list[str]:
    """Kill ``target``; the names to restart."""
    if target == "nats":
        soak.down.add("nats")
        await asyncio.to_thread(soak.nats_server.kill)
        return ["nats"]
    if target == "postgres":
        soak.down.add("postgres")
        await asyncio.to_thread(soak.pg_server.kill)
        return ["postgres"]
    names = _service_names(soak, target)
    for name in names:
        soak.down.add(name)
        await soak.services[name].kill()
    return names


async def _restart(soak: Soak, name: str) -> None:
    if name == "nats":
        await asyncio.to_thread(soak.nats_server.start)
    elif name == "postgres":
        await asyncio.to_thread(soak.pg_server.start)
    else:
        soak.services[name].start()
    soak.down.discard(name)


async def supervise(soak: Soak) -> None:
    """Restart a service that exited on its own (as systemd or Kubernetes would), and count it."""
    while True:
        for name, proc in soak.services.items():
            if name not in soak.down and not proc.running:
                soak.exits[name] += 1
                last = proc.output().strip().splitlines()[-1:] or [""]
                soak.exit_log.append(
                    {"service": name, "at_s": soak.elapsed(), "code": proc.returncode, "last": last[0][:500]}
                )
                await asyncio.sleep(1)
                if name not in soak.down and not proc.running:
                    proc.start()
        await asyncio.sleep(0.5)


async def _healthy_since(soak: Soak, pool: asyncpg.Pool, n0: int) -> bool:
    """Every service up, the API answering, and a builtin run of an event numbered ``n0`` or later
    completed: new work flows end to end again."""
    if soak.down or not all(p.running for p in soak.services.values()):
        return False
    async with httpx.AsyncClient(base_url=soak.api_url, timeout=10) as http:
        if (await http.get("/api/v1/executions", params={"limit": 1})).status_code != 200:
            return False
    return bool(
        await pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM execution WHERE action_ref = 'chaos.say' AND status = 'completed' "
            "AND (config->>'n')::int >= $1 AND parent IS NULL)",
            n0,
        )
    )


async def inject(soak: Soak, fault: Fault, down_for: float) -> None:
    """Kill ``fault.targets`` together, keep them down ``down_for`` s, restart them."""
    names = [name for target in fault.targets for name in await _kill(soak, target)]
    killed = time.monotonic()
    await asyncio.sleep(down_for)
    for name in names:
        await _restart(soak, name)
    fault.down_s = round(time.monotonic() - killed, 2)


async def time_recovery(soak: Soak, pool: asyncpg.Pool, fault: Fault) -> None:
    """Seconds from the restart until new work flows end to end again (unset if it never does)."""
    restarted, n0 = time.monotonic(), soak.next_n
    with contextlib.suppress(TimeoutError):
        await _wait(lambda: _healthy_since(soak, pool, n0), RECOVERY_TIMEOUT, "recovery")
        fault.recovery_s = round(time.monotonic() - restarted, 2)


async def schedule_faults(
    soak: Soak,
    pool: asyncpg.Pool,
    until: float,
    interval: tuple[float, float],
    faults: list[Fault],
    recovered: asyncio.Event,
) -> None:
    """Every ``interval`` (random within it) one target, or two at once one time in four; one
    injection at a time (the next waits for the restart, not for the recovery). ``recovered`` is
    set once every recovery is timed (or timed out)."""
    recoveries: list[asyncio.Task[None]] = []
    try:
        while True:
            delay = random.uniform(*interval)
            if time.monotonic() + delay >= until:
                break
            await asyncio.sleep(delay)
            fault = Fault(random.sample(TARGETS, 2 if random.random() < 0.25 else 1), soak.elapsed())
            faults.append(fault)
            print(f"  {fault.at_s:8.1f} s  kill {' + '.join(fault.targets)}", flush=True)
            await inject(soak, fault, random.uniform(1, 6))
            recoveries.append(asyncio.create_task(time_recovery(soak, pool, fault)))
        await asyncio.gather(*recoveries)
    finally:
        recovered.set()


# --- the checks -----------------------------------------------------------------------------------


async def dead_letters(nc: NatsClient, spec: BusSpec) -> tuple[Counter[str], int]:
    """Dead letters by reason, and how many have none."""
    jsm = nc.jsm()
    state = (await jsm.stream_info(spec.dlq_stream)).state
    reasons: Counter[str] = Counter()
    unexplained = 0
    for seq in range(max(state.first_seq, 1), state.last_seq + 1):
        try:
            raw = await jsm.get_msg(spec.dlq_stream, seq)
        except nats.js.errors.NotFoundError:
            continue
        letter = DeadLetter.model_validate_json(raw.data or b"{}")
        reason = (raw.headers or {}).get(DLQ_REASON_HEADER) or letter.reason
        if reason and letter.reason and letter.detail:
            reasons[reason] += 1
        else:
            unexplained += 1
    return reasons, unexplained


async def check(soak: Soak, pool: asyncpg.Pool, nc: NatsClient) -> dict[str, Any]:
    """The invariants, after quiet. ``violations`` lists what broke."""
    v: list[str] = []
    stored = Counter(
        int(r["n"])
        for r in await pool.fetch(
            "SELECT (payload->>'n')::int AS n FROM event WHERE trigger_ref = $1", TRIGGER
        )
    )
    twice = sorted(n for n, c in stored.items() if c > 1)
    missing = sorted(soak.acked - set(stored))
    unpublished = sorted(set(stored) - soak.acked)
    if twice:
        v.append(f"{len(twice)} events stored more than once (n = {twice[:10]})")
    if missing:
        v.append(f"{len(missing)} published events not stored (n = {missing[:10]})")
    if unpublished:
        v.append(f"{len(unpublished)} events stored that were never acknowledged (n = {unpublished[:10]})")

    enf = await pool.fetchrow(
        """SELECT count(*) AS total,
                  count(*) FILTER (WHERE status = 'created') AS unresolved,
                  count(*) FILTER (WHERE status = 'disabled') AS disabled,
                  count(*) FILTER (WHERE status = 'disabled' AND coalesce(failure_reason, '') = '')
                      AS disabled_without_reason,
                  count(*) - count(DISTINCT (rule, event)) AS duplicate,
                  (SELECT count(*) FROM event e WHERE e.trigger_ref = $1 AND NOT EXISTS
                      (SELECT 1 FROM enforcement f WHERE f.event = e.id)) AS events_without
           FROM enforcement""",
        TRIGGER,
    )
    for key, what in [
        ("unresolved", "enforcements never resolved"),
        ("disabled_without_reason", "disabled enforcements without a reason"),
        ("duplicate", "duplicate enforcements (same rule and event)"),
        ("events_without", "events that matched a rule but have no enforcement"),
    ]:
        if enf[key]:
            v.append(f"{enf[key]} {what}")

    open_ = await pool.fetch(
        "SELECT id, action_ref, status FROM execution WHERE status <> ALL($1::text[]) ORDER BY id LIMIT 10",
        TERMINAL,
    )
    if open_:
        v.append(f"executions stuck non-terminal: {[(r['id'], r['action_ref'], r['status']) for r in open_]}")
    chains = await pool.fetchrow(
        """WITH per AS (
             SELECT enforcement, count(*) AS n, count(DISTINCT retry_count) AS distinct_tries,
                    count(*) FILTER (WHERE retry_count = 0) AS originals, max(retry_count) AS last
             FROM execution WHERE enforcement IS NOT NULL GROUP BY enforcement)
           SELECT (SELECT count(*) FROM per WHERE originals <> 1 OR n <> distinct_tries OR n <> last + 1)
                      AS broken_chains,
                  (SELECT count(*) FROM enforcement f WHERE f.status = 'processed'
                      AND NOT EXISTS (SELECT 1 FROM execution x WHERE x.enforcement = f.id)) AS without_execution,
                  (SELECT count(*) FROM per) AS chains""",
    )
    if chains["broken_chains"]:
        v.append(f"{chains['broken_chains']} enforcements with more than one execution per try")
    if chains["without_execution"]:
        v.append(f"{chains['without_execution']} processed enforcements without an execution")
    task_dupes = await pool.fetchval(
        """SELECT count(*) - count(DISTINCT (parent, task_name, retry_count))
           FROM execution WHERE parent IS NOT NULL"""
    )
    dispatch_dupes = await pool.fetchval(
        "SELECT count(*) - count(DISTINCT (workflow_execution, dispatch_key)) FROM workflow_task_dispatch"
    )
    if task_dupes or dispatch_dupes:
        v.append(f"workflow tasks run twice: {task_dupes} executions, {dispatch_dupes} dispatches")

    statuses = {
        f"{r['action_ref']} {r['status']}": int(r["n"])
        for r in await pool.fetch(
            "SELECT action_ref, status, count(*) AS n FROM execution GROUP BY 1, 2 ORDER BY 1, 2"
        )
    }
    letters, unexplained = await dead_letters(nc, BusSpec(soak.stack.prefix))
    if unexplained:
        v.append(f"{unexplained} dead letters without a reason")
    crashed = sorted(name for name, p in soak.services.items() if not p.running)
    if crashed:
        v.append(f"services not running at the end: {crashed}")
    return {
        "events": {"published": len(soak.acked), "stored": sum(stored.values())},
        "enforcements": {k: int(enf[k]) for k in ("total", "unresolved", "disabled", "duplicate")},
        "executions": {
            "chains": int(chains["chains"]),
            "by_status": {
                r["status"]: int(r["n"])
                for r in await pool.fetch("SELECT status, count(*) AS n FROM execution GROUP BY 1 ORDER BY 1")
            },
            "by_action_and_status": statuses,
        },
        "dead_letters": dict(letters),
        "violations": v,
    }


# --- the run --------------------------------------------------------------------------------------


async def soak(
    duration: float, interval: tuple[float, float], rate: float | None, calibration: int, quiet_timeout: float
) -> dict[str, Any]:
    logging.getLogger("asyncpg.pool").setLevel(logging.CRITICAL)  # "cannot reconnect": the soak's doing
    root = Path(tempfile.mkdtemp(prefix="attune-chaos-"))
    nats_server = NatsServer(root / "nats")
    pg_server = PostgresServer(root / "pg", durable=True)  # an immediate shutdown must lose nothing committed
    nats_server.start()
    pg_server.start()
    nc: NatsClient | None = None
    try:
        async with fresh_database(pg_server.url) as db_url:
            prefix = f"c{uuid.uuid4().hex[:8]}"
            nc = await _client(nats_server.url)
            await provision(nc, BusSpec(prefix))
            pool = await create_pool(DatabaseSettings(url=db_url), max_size=4)
            stack = Stack(db_url, nats_server.url, prefix, root / "logs")
            stack.workdir.mkdir()
            s = Soak(root, nats_server, pg_server, stack, f"http://127.0.0.1:{free_port()}")
            try:
                await register_core_pack(pool)
                await register_pack(pool, PACK_DIR)
                return await _run(s, pool, nc, duration, interval, rate, calibration, quiet_timeout)
            finally:
                await stack.stop_all()
                with contextlib.suppress(Exception):
                    await pool.close()
    finally:
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()
        pg_server.stop()
        nats_server.stop()
        shutil.rmtree(root / "pg", ignore_errors=True)
        shutil.rmtree(root / "nats", ignore_errors=True)


async def _run(
    s: Soak,
    pool: asyncpg.Pool,
    nc: NatsClient,
    duration: float,
    interval: tuple[float, float],
    rate: float | None,
    calibration: int,
    quiet_timeout: float,
) -> dict[str, Any]:
    await start_services(s)
    await wait_for_consumers(nc, s.stack.prefix, EXECUTORS)
    capacity = await calibrate(s, nc, pool, calibration)
    rate = rate or max(capacity / 4, 1.0)
    print(f"capacity {capacity:.1f} events/s (burst of {calibration}); soak at {rate:.1f}/s", flush=True)
    supervisor = asyncio.create_task(supervise(s))
    faults: list[Fault] = []
    s.started = time.monotonic()
    until = s.started + duration
    recovered = asyncio.Event()
    try:
        await asyncio.gather(
            publish_at(s, nc, rate, until, recovered),
            schedule_faults(s, pool, until, interval, faults, recovered),
        )
        quiet_started = time.monotonic()
        await _wait(lambda: _settled(pool, len(s.acked)), quiet_timeout, "quiet (every execution terminal)")
        quiet_s = time.monotonic() - quiet_started
    except TimeoutError as exc:
        quiet_s = float("nan")
        timeout_problem: str | None = str(exc)
    else:
        timeout_problem = None
    finally:
        supervisor.cancel()
        await asyncio.gather(supervisor, return_exceptions=True)
    result = await check(s, pool, nc)
    if timeout_problem:
        result["violations"].insert(0, timeout_problem)
    recoveries = [f.recovery_s for f in faults if f.recovery_s is not None]
    unrecovered = [f for f in faults if f.recovery_s is None]
    if unrecovered:
        result["violations"].append(
            f"{len(unrecovered)} faults after which new work did not flow within {RECOVERY_TIMEOUT:.0f} s"
        )
    result.update(
        {
            "params": {
                "duration_s": duration,
                "interval_s": list(interval),
                "rate_per_s": round(rate, 1),
                "capacity_per_s": round(capacity, 1),
                "calibration_events": calibration,
                "executors": EXECUTORS,
            },
            "faults": {
                "injected": len(faults),
                "by_target": dict(Counter(t for f in faults for t in f.targets)),
                "double": sum(len(f.targets) > 1 for f in faults),
                "recovery_s": {
                    "p50": percentiles(recoveries)["p50"] if recoveries else None,
                    "max": max(recoveries) if recoveries else None,
                },
                "log": [asdict(f) for f in faults],
            },
            "service_exits": dict(s.exits),
            "service_exit_log": s.exit_log,
            "quiet_s": round(quiet_s, 1),
            "rss_mb": {name: round(peak_rss_mb(p.pid), 1) for name, p in s.services.items() if p.running},
            "logs": str(s.stack.workdir),
        }
    )
    return result


def render(r: dict[str, Any]) -> str:
    f, p = r["faults"], r["params"]
    lines = [
        f"chaos soak: {p['duration_s']:.0f} s at {p['rate_per_s']}/s (capacity {p['capacity_per_s']}/s), "
        f"faults every {p['interval_s'][0]:.0f}-{p['interval_s'][1]:.0f} s",
        f"faults injected: {f['injected']} ({f['double']} double) {f['by_target']}",
        f"recovery after restart (s): p50 {f['recovery_s']['p50']}  max {f['recovery_s']['max']}",
        f"service exits restarted by the soak: {r['service_exits'] or 'none'}",
        f"events published {r['events']['published']}, stored {r['events']['stored']}; "
        f"enforcements {r['enforcements']}; execution chains {r['executions']['chains']}",
        f"executions by status: {r['executions']['by_status']}",
        f"dead letters: {r['dead_letters'] or 'none'}; quiet after {r['quiet_s']} s",
        "violations: " + ("none" if not r["violations"] else "\n  " + "\n  ".join(r["violations"])),
    ]
    return "\n".join(lines)
