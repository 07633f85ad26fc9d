"""The latency tail at a fixed rate, over repetitions: percentiles, stalls over 100 ms, where each
slow execution spent its time, and the host's own stalls measured beside it.

Per execution, the hops from the trigger message to ``running``:

- ``trigger -> event``: the trigger message's stream time (the event's and execution's ``created``)
  to the sensor's ``event.created`` announcement, as this process received it (the row committed);
- ``event -> requested``: to the execution's INSERT history row (the rule matched, then the
  transaction that created the enforcement and its execution);
- ``requested -> running``: to the ``running`` history row (0 for an execution the executor created
  already running: both rows are of one transaction).

The announcement is observed by a plain NATS subscription of the benchmark (the API's way of
following it), so it carries this process's delivery delay too; the rows' times are the
database's. An execution slower than :data:`STALL_MS` is a stall; the host-stall probe
(``probe.py``) runs meanwhile, and the time the whole machine stood still during an execution is
subtracted to give the pipeline's own latency (what the targets count); so is the time the disk
took over 5 ms for the probe's ``fsync`` of 8 KB (every 10 ms): a durable commit waits for it too.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from attune_shared.bus import BusSpec

from .pipeline import Stack, connect_nats, percentiles, run_to_completion

STALL_MS = 100.0
HOPS = ("trigger -> event", "event -> requested", "requested -> running")
#: the slowest executions of a run kept with their hops in the results
KEEP_SLOW = 20

_ROWS = """SELECT x.id, e.id AS event_id,
       extract(epoch FROM x.created) AS t0,
       extract(epoch FROM q.created) AS requested,
       extract(epoch FROM r.created) AS running,
       extract(epoch FROM c.created) AS completed
FROM execution x
JOIN event e ON e.created = x.created AND e.trigger_ref = x.trigger_ref
LEFT JOIN LATERAL (SELECT h.created FROM execution_history h WHERE h.entity_id = x.id
                   AND h.operation = 'INSERT' LIMIT 1) q ON true
LEFT JOIN LATERAL (SELECT h.created FROM execution_history h WHERE h.entity_id = x.id
                   AND h.new_values->>'status' = 'running' LIMIT 1) r ON true
LEFT JOIN LATERAL (SELECT h.created FROM execution_history h WHERE h.entity_id = x.id
                   AND h.new_values->>'status' = 'completed' LIMIT 1) c ON true
WHERE x.trigger_ref = $1 AND (e.payload->>'n')::int >= $2 AND (e.payload->>'n')::int < $3"""


async def checkpoints(pool: asyncpg.Pool) -> dict[str, float]:
    """The server's checkpoints so far and the ms they spent writing and syncing (PostgreSQL 17+
    has them in ``pg_stat_checkpointer``, older ones in ``pg_stat_bgwriter``)."""
    try:
        row = await pool.fetchrow(
            "SELECT num_timed + num_requested AS n, write_time, sync_time FROM pg_stat_checkpointer"
        )
    except asyncpg.UndefinedTableError:
        row = await pool.fetchrow(
            "SELECT checkpoints_timed + checkpoints_req AS n, checkpoint_write_time AS write_time, "
            "checkpoint_sync_time AS sync_time FROM pg_stat_bgwriter"
        )
    assert row is not None
    return {
        "count": float(row["n"]),
        "write_ms": float(row["write_time"]),
        "sync_ms": float(row["sync_time"]),
    }


class Announcements:
    """When this process received each ``event.created`` (by id)."""

    def __init__(self, st: Stack) -> None:
        self.st = st
        self.events: dict[int, float] = {}
        self._nc: NatsClient | None = None

    async def __aenter__(self) -> Announcements:
        subjects = BusSpec(self.st.prefix).subjects
        self._nc = await connect_nats(self.st.nats_url)

        async def on_event(msg: Msg) -> None:
            self.events[json.loads(msg.data)["event_id"]] = time.time()

        await self._nc.subscribe(subjects.event_created, cb=on_event)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._nc is not None:
            await self._nc.close()


class Probe:
    """The host-stall probe as a child process, for the duration of a ``with`` block."""

    def __init__(self) -> None:
        self.result: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Probe:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bench.probe"],
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parent.parent,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGINT)
        out, _ = self._proc.communicate(timeout=30)
        self.result = json.loads(out or b"{}")


def _overlap_ms(start: float, end: float, stalls: list[tuple[float, float]]) -> float:
    """Milliseconds inside ``[start, end]`` (wall clock, s) covered by any of the host's stalls
    (``(start, ms)``: a late wake-up, a slow ``fsync``), each moment counted once."""
    total, reached = 0.0, start
    for s0, ms in sorted(stalls):
        s1 = min(end, s0 + ms / 1000)
        s0 = max(reached, s0)
        if s1 > s0:
            total += (s1 - s0) * 1000
            reached = s1
    return total


def _ms(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round((b - a) * 1000, 2)


async def one_run(
    pool: asyncpg.Pool, st: Stack, trigger: str, count: int, rate: float, start: int
) -> dict[str, Any]:
    """``count`` events at ``rate``/s on ``trigger`` (a rule to ``core.noop``) with the probe beside."""
    before = await checkpoints(pool)
    async with Announcements(st) as seen:
        with Probe() as probe:
            await run_to_completion(pool, st, trigger, count, rate=rate, start=start)
        await asyncio.sleep(0.2)  # the last announcements in flight to this process
    after = await checkpoints(pool)
    stalls = [(float(w), float(ms)) for w, ms in probe.result.get("stalls", [])]
    fsync = probe.result.get("fsync", {})
    slow_fsyncs = [(float(w), float(ms)) for w, ms in fsync.get("stalls", [])]
    host_stalls = stalls + slow_fsyncs
    rows = await pool.fetch(_ROWS, trigger, start, start + count)
    to_running, own_running, to_completed, slow = [], [], [], []
    every_hop: dict[str, list[float]] = {hop: [] for hop in HOPS}
    for r in rows:
        t0, running = float(r["t0"]), r["running"] and float(r["running"])
        if r["completed"] is not None:
            to_completed.append((float(r["completed"]) - t0) * 1000)
        if not running:
            continue
        latency = (running - t0) * 1000
        to_running.append(latency)
        host = _overlap_ms(t0, running, host_stalls)
        own_running.append(latency - host)
        points = [
            t0,
            seen.events.get(r["event_id"]),
            r["requested"] and float(r["requested"]),
            running,
        ]
        hops = {hop: _ms(a, b) for hop, a, b in zip(HOPS, points[:-1], points[1:], strict=True)}
        for hop, ms in hops.items():
            if ms is not None:
                every_hop[hop].append(ms)
        if latency <= STALL_MS:
            continue
        slow.append(
            {
                "execution": r["id"],
                "at": round(t0, 3),
                "ms": round(latency, 2),
                "host_stalled_ms": round(host, 2),
                "cpu_stalled_ms": round(_overlap_ms(t0, running, stalls), 2),
                "fsync_stalled_ms": round(_overlap_ms(t0, running, slow_fsyncs), 2),
                "own_ms": round(latency - host, 2),
                "hops_ms": hops,
            }
        )
    slow.sort(key=lambda s: -s["ms"])
    own = [s for s in slow if s["own_ms"] > STALL_MS]
    return {
        "count": count,
        "measured": len(to_running),
        "running_ms": percentiles(to_running),
        # the same, each execution less the time the host stood still meanwhile: what the target counts
        "own_running_ms": percentiles(own_running),
        "completed_ms": percentiles(to_completed),
        "max_ms": round(max(to_running, default=0.0), 2),
        "stalls": len(slow),
        "own_stalls": len(own),
        "max_own_ms": round(max(own_running, default=0.0), 2),
        "slow_hops": _dominant_hops(slow),
        "hops_ms": {hop: percentiles(ms) for hop, ms in every_hop.items() if ms},
        "checkpoints": {k: round(after[k] - before[k], 1) for k in after},
        "host": {k: v for k, v in probe.result.items() if k not in ("stalls", "fsync")}
        | {"stalls_over_50ms": sum(1 for _, ms in stalls if ms > 50)},
        "fsync": {k: v for k, v in fsync.items() if k != "stalls"}
        | {"over_50ms": sum(1 for _, ms in slow_fsyncs if ms > 50)},
        "slowest": slow[:KEEP_SLOW],
        "_values": (to_running, to_completed),
    }


def _dominant_hops(slow: list[dict[str, Any]]) -> dict[str, int]:
    """For how many slow executions each hop was the longest."""
    counts = dict.fromkeys(HOPS, 0)
    for s in slow:
        known = {h: ms for h, ms in s["hops_ms"].items() if ms is not None}
        if known:
            counts[max(known, key=lambda h: known[h])] += 1
    return counts


async def repetitions(
    pool: asyncpg.Pool, st: Stack, trigger: str, reps: int, count: int, rate: float, start: int
) -> dict[str, Any]:
    """:func:`one_run` ``reps`` times (payload numbers ``start + i * 10**6 …``), and the worst of them."""
    runs = [await one_run(pool, st, trigger, count, rate, start + i * 10**6) for i in range(reps)]
    values = [r.pop("_values") for r in runs]
    return {
        "rate": rate,
        "count": count,
        "repetitions": reps,
        "runs": runs,
        "worst_p99_ms": max(r["running_ms"]["p99"] for r in runs),
        "worst_own_p99_ms": max(r["own_running_ms"]["p99"] for r in runs),
        "stalls": sum(r["stalls"] for r in runs),
        "own_stalls": sum(r["own_stalls"] for r in runs),
        "max_own_ms": max(r["max_own_ms"] for r in runs),
        "latency_ms": {
            "running": percentiles([v for running, _ in values for v in running]),
            "completed": percentiles([v for _, completed in values for v in completed]),
        },
    }
