"""Benchmark entry point: `uv run python -m bench [--events N] [--executors K] [--json PATH] [--smoke]`,
or the chaos soak: `uv run python -m bench --chaos 10m [--chaos-interval 10-40] [--json PATH]`.

Measures, on one machine, the raw ceilings of NATS JetStream and PostgreSQL and what the pipeline
achieves on top of them; prints a table with ratios and writes the figures as JSON. Exits 1 if any
run lost or duplicated work (the soak: on any violation of its invariants, bench/chaos.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

from attune_shared.db import create_pool
from attune_shared.settings import DatabaseSettings, ExecutorSettings

from . import chaos, completion, cpu, pipeline, raw, replicas, tail, workflows
from .report import render
from .servers import fresh_database, servers

#: the executor's default run slots, which the throughput and latency runs use
PRODUCT_CONCURRENCY: int = ExecutorSettings.model_fields["concurrency"].default


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--events", type=int, default=5000, help="events per throughput run (default 5000)")
    parser.add_argument(
        "--executors", type=int, default=1, help="executors for the throughput runs (default 1)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=8, help="per-executor concurrency in the scaling runs"
    )
    parser.add_argument(
        "--pipeline-concurrency",
        type=int,
        default=PRODUCT_CONCURRENCY,
        help="per-executor concurrency in the throughput and latency runs "
        f"(default {PRODUCT_CONCURRENCY}, the product default)",
    )
    parser.add_argument(
        "--rate", type=float, default=100.0, help="offered rate for the latency runs (events/s, default 100)"
    )
    parser.add_argument(
        "--repetitions", type=int, default=3, help="latency runs at --rate, 10 s each (default 3)"
    )
    parser.add_argument(
        "--bursts",
        type=int,
        default=3,
        help="ingest and noop bursts, taken in turn; each figure is the median burst (default 3)",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="NOT DURABLE: embedded PostgreSQL with fsync and synchronous_commit off (a crash loses "
        "committed work); the default is durable servers, as production runs",
    )
    parser.add_argument("--scaling", default="1,2,4", help="executor counts for the scaling runs")
    parser.add_argument("--smoke", action="store_true", help="small sizes for CI: correctness, not speed")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--chaos",
        type=chaos.parse_duration,
        metavar="DURATION",
        help="run the chaos soak for DURATION (120s, 10m, 1h) instead of the benchmark",
    )
    parser.add_argument(
        "--chaos-interval",
        type=chaos.parse_interval,
        default=(10.0, 40.0),
        metavar="MIN-MAX",
        help="seconds between faults, at random within MIN-MAX (default 10-40)",
    )
    parser.add_argument(
        "--chaos-rate", type=float, help="events/s offered during the soak (default: a quarter of capacity)"
    )
    parser.add_argument(
        "--chaos-calibration", type=int, default=400, help="events of the burst that measures capacity"
    )
    parser.add_argument(
        "--chaos-quiet-timeout", type=float, default=300.0, help="longest wait for quiet after the soak (s)"
    )
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.events
    results: dict[str, Any] = {
        "machine": {
            "cpus": _cpus(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_at_start": os.getloadavg(),
        },
        "params": {
            "events": n,
            "executors": args.executors,
            "pipeline_concurrency": args.pipeline_concurrency,
            "scaling_concurrency": args.concurrency,
            "rate": args.rate,
            "repetitions": args.repetitions,
            # unmeasured events before the ingest and the noop bursts
            "warm_up": max(n // 10, 50),
            "bursts": args.bursts,
        },
        "rss_mb": {},
    }
    bursts = results["params"]["bursts"]
    async with servers(durable=not args.fast) as srv:
        results["machine"]["embedded_servers"] = srv.embedded
        results["machine"]["durable"] = srv.durable
        # each ceiling is the median of as many measurements as the bursts it bounds
        nats_rates, pg_rates = [], []
        for _ in range(bursts):
            nats_rates.append(await raw.js_publish_and_consume(srv.nats_url, max(n, 1000)))
            async with fresh_database(srv.database_server_url) as db_url:
                pg_rates.append(await raw.pg_rows(db_url, max(n, 1000)))
        results["raw"] = {
            "shell_spawn_ms": round(await raw.spawn_ms(), 2),
            "js_publish_per_s": round(statistics.median(r["publish"] for r in nats_rates)),
            "js_bare_publish_per_s": round(statistics.median(r["bare_publish"] for r in nats_rates)),
            "js_consume_per_s": round(statistics.median(r["fetch"] for r in nats_rates)),
            "pg_executemany_rows_per_s": round(statistics.median(r[0] for r in pg_rates)),
            "pg_copy_rows_per_s": round(statistics.median(r[1] for r in pg_rates)),
            "js_publish_each_per_s": [round(r["publish"]) for r in nats_rates],
            "pg_copy_each_per_s": [round(r[1]) for r in pg_rates],
        }

        async with fresh_database(srv.database_server_url) as db_url:
            pool = await create_pool(DatabaseSettings(url=db_url), max_size=4)
            try:
                async with pipeline.stack(
                    db_url, srv.nats_url, args.executors, args.pipeline_concurrency
                ) as st:
                    # the API runs beside the pipeline, as in production, with no client at first
                    api_url = await st.start_api()
                    pids = {**st.pids(), **srv.pids}
                    # a tenth of the burst first, unmeasured: connections, caches, first imports
                    warm_up = results["params"]["warm_up"]
                    await pipeline.ingest(pool, st, "bench.ingest", warm_up, start=WARM_UP_START)
                    await pipeline.run_to_completion(pool, st, "bench.noop", warm_up, start=WARM_UP_START)
                    # ingest and noop bursts in turn, so that a slow moment of the machine weighs
                    # on both alike; each figure is the median burst
                    ingests, noops = [], []
                    for i in range(bursts):
                        ingests.append(
                            await _throughput(pool, st, "ingest", n, executions=False, start=i * n)
                        )
                        noops.append(
                            await _throughput(pool, st, "noop", n, executions=True, pids=pids, start=i * n)
                        )
                    results["ingest"] = _median_burst(ingests)
                    results["pipeline_noop"] = _median_burst(noops, pids)
                    follower = asyncio.create_task(pipeline.follow_executions(api_url))
                    try:
                        results["pipeline_noop_sse"] = await _throughput(
                            pool, st, "noop", n, executions=True, pids=pids, start=SSE_START
                        )
                    finally:
                        follower.cancel()
                        await asyncio.gather(follower, return_exceptions=True)
                    shell_n = max(n // 5, 50)
                    results["pipeline_shell"] = await _throughput(pool, st, "shell", shell_n, executions=True)
                    latency_n = max(min(int(args.rate * 10), n), 50)
                    results["tail"] = await tail.repetitions(
                        pool, st, "bench.noop", args.repetitions, latency_n, args.rate, start=TAIL_START
                    )
                    results["shell_low_load"] = await _shell_run_time(pool, st, start=2 * 10**7)
                    results["workflows"] = await workflows.measure(
                        pool, st, low_runs=5 if args.smoke else 20, saturation=10 if args.smoke else 50
                    )
                    # over every run on this stack, the fixed-rate and low-load ones included
                    published = {
                        ("bench.ingest", False): bursts * n + warm_up,
                        ("bench.noop", True): (bursts + 1) * n + args.repetitions * latency_n + warm_up,
                        ("bench.shell", True): shell_n + results["shell_low_load"]["count"],
                    }
                    results["correctness"] = {
                        trigger: await pipeline.correctness(pool, trigger, count, executions)
                        for (trigger, executions), count in published.items()
                    }
                    results["correctness"][workflows.WORKFLOW] = results["workflows"]["correctness"]
                results["rss_mb"].update(st.peaks)
                results["completion_unlistened_us"] = round(await completion.unlistened_us(pool), 2)
            finally:
                await pool.close()

        if not args.smoke:  # the cost of three stream replicas: the same burst on R1 and on a cluster at R3
            results["replicas"] = await replicas.compare(
                srv.database_server_url, srv.nats_url, n, args.pipeline_concurrency
            )
        results["scaling"] = []
        for executors in [int(k) for k in args.scaling.split(",") if k]:
            async with fresh_database(srv.database_server_url) as db_url:
                pool = await create_pool(DatabaseSettings(url=db_url), max_size=4)
                try:
                    async with pipeline.stack(db_url, srv.nats_url, executors, args.concurrency) as st:
                        results["scaling"].append(
                            await _scaling(pool, st, executors, args.concurrency, args.smoke)
                        )
                finally:
                    await pool.close()
    return _summarize(results)


#: payload numbers of the runs on the main stack, apart so that each run's events can be told apart
SSE_START = 4 * 10**7
TAIL_START = 10**7
WARM_UP_START = 5 * 10**7


async def _throughput(
    pool: asyncpg.Pool,
    st: pipeline.Stack,
    scenario: str,
    count: int,
    *,
    executions: bool,
    pids: dict[str, int] | None = None,
    start: int = 0,
    alone: bool = False,
) -> dict[str, Any]:
    """A burst of ``count`` events at once; with ``pids``, the CPU seconds each process spent on it."""
    trigger = f"bench.{scenario}"
    await pipeline.quiet(st)
    with pipeline.held_gc():
        before = cpu.snapshot(pids) if pids else None
        started = time.time()
        if executions:
            done = await pipeline.run_to_completion(pool, st, trigger, count, start=start)
        else:
            done = await pipeline.ingest(pool, st, trigger, count, start=start)
    elapsed = done - started
    result: dict[str, Any] = {
        "count": count,
        "seconds": round(elapsed, 3),
        "per_s": round(count / elapsed, 1),
    }
    if before is not None and pids:
        result["cpu_s"] = cpu.spent(before, cpu.snapshot(pids))
        result["cpu_s_per_1000"] = _per_1000(result["cpu_s"], count, pids)
    if executions:
        # extra information only: once rule matching has caught up, executions alone run faster
        result["late_steady_per_s"] = round(await pipeline.steady_rate(pool, trigger), 1)
    if alone:  # the only run of its trigger; on the main stack, the overall correctness counts them
        result["correctness"] = await pipeline.correctness(pool, trigger, count, executions)
    if executions:
        lat = await pipeline.latencies(pool, pipeline.SCENARIOS[scenario][0], start, count)  # type: ignore[index]
        result["latency_ms"] = {k: pipeline.percentiles(v) for k, v in lat.items() if k != "run"}
        result["run_ms"] = pipeline.percentiles(lat["run"])
    return result


def _median_burst(bursts: list[dict[str, Any]], pids: dict[str, int] | None = None) -> dict[str, Any]:
    """The burst of median rate, with every burst's rate beside it; CPU seconds are those of all
    the bursts together (per 1,000 over all of their events)."""
    ranked = sorted(bursts, key=lambda b: b["per_s"])
    result = {**ranked[(len(ranked) - 1) // 2], "each_per_s": [b["per_s"] for b in bursts]}
    if pids:
        spent = {k: round(sum(b["cpu_s"][k] for b in bursts), 3) for k in bursts[0]["cpu_s"]}
        result["cpu_s"] = spent
        result["cpu_s_per_1000"] = _per_1000(spent, sum(b["count"] for b in bursts), pids)
    return result


def _per_1000(spent: dict[str, float], count: int, pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds per 1,000 events of each process, of all services, of the servers, and what the
    rest of the machine (other tenants) used meanwhile."""
    services = sum(v for k, v in spent.items() if k.startswith("attune-"))
    servers = sum(v for k, v in spent.items() if k in ("postgres", "nats"))
    scale = 1000 / count
    per = {k: round(v * scale, 3) for k, v in spent.items() if k in pids}
    per["services"] = round(services * scale, 3)
    per["servers"] = round(servers * scale, 3)
    per["bench"] = round(spent["bench"] * scale, 3)
    per["others_on_host"] = round((spent["host"] - services - servers - spent["bench"]) * scale, 3)
    return per


async def _shell_run_time(
    pool: asyncpg.Pool, st: pipeline.Stack, start: int, count: int = 100, rate: float = 20.0
) -> dict[str, Any]:
    """running -> completed of `core.local true` at a low rate: what Attune adds to a process, without
    queueing for the CPU behind other actions."""
    trigger = "bench.shell"
    await pipeline.run_to_completion(pool, st, trigger, count, rate=rate, start=start)
    lat = await pipeline.latencies(pool, "core.local", start, count)
    return {"count": count, "rate": rate, "run_ms": pipeline.percentiles(lat["run"])}


async def _scaling(pool, st: pipeline.Stack, executors: int, concurrency: int, smoke: bool) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    ideal = executors * concurrency * 10.0  # core.sleep 0.1 s
    count = int(ideal * (2 if smoke else 6))
    result = await _throughput(pool, st, "sleep", count, executions=True, alone=True)
    # steady state (10th to 90th percentile of completions): the ideal describes the steady state,
    # not the ramp-up of the first round or the last, partly filled one; wall clock kept beside it
    return {
        "executors": executors,
        "per_s": result["late_steady_per_s"],
        "wall_per_s": result["per_s"],
        "ideal_per_s": ideal,
        "ratio": round(result["late_steady_per_s"] / ideal, 3),
        "correctness": result["correctness"],
    }


def _summarize(results: dict[str, Any]) -> dict[str, Any]:
    checks = [*results["correctness"].values(), *(r["correctness"] for r in results["scaling"])]
    if "replicas" in results:
        checks += [results["replicas"]["r1"]["correctness"], results["replicas"]["r3"]["correctness"]]
    results["duplicates"] = sum(c["duplicates"] for c in checks)
    results["lost"] = sum(c["lost"] for c in checks)
    results["ingest"]["events_per_s"] = results["ingest"]["per_s"]
    noop, shell = results["pipeline_noop"], results["pipeline_shell"]
    results["pipeline"] = {"noop_per_s": noop["per_s"], "shell_per_s": shell["per_s"]}
    results["latency_ms"] = results["tail"]["latency_ms"]
    per = results["pipeline_noop"]["cpu_s_per_1000"]
    results["cpu_s_per_1000_noop"] = {
        "services": per["services"],
        "servers": per["servers"],
        "api_no_client": _api_share(per),
        "api_one_client": _api_share(results["pipeline_noop_sse"]["cpu_s_per_1000"]),
    }
    # what Attune adds to a shell action: running -> completed of `true` at low load, minus `true` itself
    low = results["shell_low_load"]["run_ms"]["p50"]
    results["shell_overhead_ms"] = round(low - results["raw"]["shell_spawn_ms"], 2)
    results["latency_ms_saturation"] = noop["latency_ms"]
    wf = results["workflows"]
    results["workflow_transition_ms"] = {
        "low_load_p50": wf["low_load"]["per_transition_ms"]["p50"],
        "saturation": wf["saturation"]["per_transition_ms"],
    }
    return results


def _api_share(per: dict[str, float]) -> float:
    return sum(v for k, v in per.items() if k.startswith("attune-api"))


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.chaos is not None:
        return _chaos(args)
    if args.smoke:
        args.events = min(args.events, 300)
        args.scaling = "1,2"
        args.concurrency = min(args.concurrency, 4)
    results = asyncio.run(run(args))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    sys.stdout.write(render(results) + "\n")
    if results["duplicates"] or results["lost"]:
        sys.stderr.write(f"FAILED: {results['duplicates']} duplicates, {results['lost']} lost\n")
        return 1
    return 0


def _chaos(args: argparse.Namespace) -> int:
    results = asyncio.run(
        chaos.soak(
            args.chaos, args.chaos_interval, args.chaos_rate, args.chaos_calibration, args.chaos_quiet_timeout
        )
    )
    results["machine"] = {
        "cpus": _cpus(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    sys.stdout.write(chaos.render(results) + "\n")
    if results["violations"]:
        sys.stderr.write(
            f"FAILED: {len(results['violations'])} violations; service logs in {results['logs']}\n"
        )
        return 1
    shutil.rmtree(Path(results["logs"]).parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
