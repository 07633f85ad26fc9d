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
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from attune_shared.db import create_pool
from attune_shared.settings import DatabaseSettings

from . import chaos, completion, pipeline, raw, workflows
from .report import render
from .servers import fresh_database, servers


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
        default=16,
        help="per-executor concurrency in the throughput and latency runs (default 16, the product default)",
    )
    parser.add_argument(
        "--rate", type=float, default=200.0, help="offered rate for the latency run (events/s)"
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
        "machine": {"cpus": _cpus(), "python": platform.python_version(), "platform": platform.platform()},
        "params": {
            "events": n,
            "executors": args.executors,
            "pipeline_concurrency": args.pipeline_concurrency,
            "scaling_concurrency": args.concurrency,
            "rate": args.rate,
        },
        "rss_mb": {},
    }
    async with servers() as srv:
        results["machine"]["embedded_servers"] = srv.embedded
        publish_rate, consume_rate = await raw.js_publish_and_consume(srv.nats_url, max(n, 1000))
        async with fresh_database(srv.database_server_url) as db_url:
            executemany_rate, copy_rate = await raw.pg_rows(db_url, max(n, 1000))
        results["raw"] = {
            "shell_spawn_ms": round(await raw.spawn_ms(), 2),
            "js_publish_per_s": round(publish_rate),
            "js_consume_per_s": round(consume_rate),
            "pg_executemany_rows_per_s": round(executemany_rate),
            "pg_copy_rows_per_s": round(copy_rate),
        }

        async with fresh_database(srv.database_server_url) as db_url:
            pool = await create_pool(DatabaseSettings(url=db_url), max_size=4)
            try:
                async with pipeline.stack(
                    db_url, srv.nats_url, args.executors, args.pipeline_concurrency
                ) as st:
                    results["ingest"] = await _throughput(pool, st, "ingest", n, executions=False)
                    results["pipeline_noop"] = await _throughput(pool, st, "noop", n, executions=True)
                    shell_n = max(n // 5, 50)
                    results["pipeline_shell"] = await _throughput(pool, st, "shell", shell_n, executions=True)
                    latency_n = max(min(int(args.rate * 10), n), 50)
                    results["latency_fixed"] = await _latency(pool, st, latency_n, args.rate, start=10**7)
                    results["shell_low_load"] = await _shell_run_time(pool, st, start=2 * 10**7)
                    results["workflows"] = await workflows.measure(
                        pool, st, low_runs=5 if args.smoke else 20, saturation=10 if args.smoke else 50
                    )
                    await _api_footprint(pool, st, latency_n, args.rate, start=3 * 10**7)
                    # over every run on this stack, the fixed-rate and low-load ones included
                    published = {
                        ("bench.ingest", False): n,
                        ("bench.noop", True): n + 2 * latency_n,
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


COMPLETED = "SELECT count(*) FROM execution WHERE trigger_ref = $1 AND status = 'completed'"


async def _run_to_completion(  # type: ignore[no-untyped-def]
    pool, st: pipeline.Stack, trigger: str, count: int, *, rate: float | None = None, start: int = 0
) -> float:
    """Publish ``count`` events on ``trigger`` (at ``rate``/s, or at once); the time the last one completed."""
    before = await pipeline.count(pool, COMPLETED, trigger)
    await pipeline.publish(st.nats_url, f"{st.prefix}.trigger.{trigger}", count, rate=rate, start=start)
    return await pipeline.wait_count(pool, COMPLETED, before + count, 600, trigger)


async def _throughput(
    pool, st: pipeline.Stack, scenario: str, count: int, *, executions: bool
) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    trigger = f"bench.{scenario}"
    started = time.time()
    if executions:
        done = await _run_to_completion(pool, st, trigger, count)
    else:
        await pipeline.publish(st.nats_url, f"{st.prefix}.trigger.{trigger}", count)
        done = await pipeline.wait_count(
            pool, "SELECT count(*) FROM event WHERE trigger_ref = $1", count, 600, trigger
        )
    elapsed = done - started
    result: dict[str, Any] = {
        "count": count,
        "seconds": round(elapsed, 3),
        "per_s": round(count / elapsed, 1),
    }
    if executions:
        # extra information only: once rule matching has caught up, executions alone run faster
        result["late_steady_per_s"] = round(await pipeline.steady_rate(pool, trigger), 1)
    result["correctness"] = await pipeline.correctness(pool, trigger, count, executions)
    if executions:
        lat = await pipeline.latencies(pool, pipeline.SCENARIOS[scenario][0], 0)  # type: ignore[index]
        result["latency_ms"] = {k: pipeline.percentiles(v) for k, v in lat.items() if k != "run"}
        result["run_ms"] = pipeline.percentiles(lat["run"])
    return result


async def _latency(pool, st: pipeline.Stack, count: int, rate: float, start: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    trigger = "bench.noop"
    await _run_to_completion(pool, st, trigger, count, rate=rate, start=start)
    lat = await pipeline.latencies(pool, "core.noop", start)
    return {"count": count, "rate": rate, "latency_ms": {k: pipeline.percentiles(v) for k, v in lat.items()}}


async def _shell_run_time(
    pool, st: pipeline.Stack, start: int, count: int = 100, rate: float = 20.0
) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """running -> completed of `core.local true` at a low rate: what Attune adds to a process, without
    queueing for the CPU behind other actions."""
    trigger = "bench.shell"
    await _run_to_completion(pool, st, trigger, count, rate=rate, start=start)
    lat = await pipeline.latencies(pool, "core.local", start)
    return {"count": count, "rate": rate, "run_ms": pipeline.percentiles(lat["run"])}


async def _api_footprint(pool, st: pipeline.Stack, count: int, rate: float, start: int) -> None:  # type: ignore[no-untyped-def]
    """The API's share, last so that it takes no CPU from the figures above (it is not on the event
    path): its peak RSS while one SSE client follows every execution of a fixed-rate run."""
    follower = asyncio.create_task(pipeline.follow_executions(await st.start_api()))
    try:
        await _run_to_completion(pool, st, "bench.noop", count, rate=rate, start=start)
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)


async def _scaling(pool, st: pipeline.Stack, executors: int, concurrency: int, smoke: bool) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    ideal = executors * concurrency * 10.0  # core.sleep 0.1 s
    count = int(ideal * (2 if smoke else 6))
    result = await _throughput(pool, st, "sleep", count, executions=True)
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
    results["duplicates"] = sum(c["duplicates"] for c in checks)
    results["lost"] = sum(c["lost"] for c in checks)
    results["ingest"]["events_per_s"] = results["ingest"]["per_s"]
    noop, shell = results["pipeline_noop"], results["pipeline_shell"]
    results["pipeline"] = {"noop_per_s": noop["per_s"], "shell_per_s": shell["per_s"]}
    results["latency_ms"] = results["latency_fixed"]["latency_ms"]
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


def _cpus() -> int:
    import os

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
