"""The printed table: each figure beside the raw ceiling it is bounded by."""

from __future__ import annotations

from typing import Any


def _row(label: str, value: str = "", note: str = "") -> str:
    return f"{label:<56}{value:>10}  {note}"


def _ratio(value: float, ceiling: float) -> str:
    return f"{value / ceiling:.0%}" if ceiling else "n/a"


def _pcts(p: dict[str, float]) -> str:
    return f"p50 {p['p50']}  p95 {p['p95']}  p99 {p['p99']}"


def _each(values: list[float], what: str = "") -> str:
    """``median of 3{what}: a, b, c`` for a figure measured more than once."""
    return (
        f"median of {len(values)}{what}: {', '.join(f'{v:,.0f}' for v in values)}" if len(values) > 1 else ""
    )


def _bursts(result: dict[str, Any]) -> str:
    each = _each(result.get("each_per_s", []), " bursts")
    return f"; {each}" if each else ""


def render(r: dict[str, Any]) -> str:
    raw = r["raw"]
    pub, con, copy = raw["js_publish_per_s"], raw["js_consume_per_s"], raw["pg_copy_rows_per_s"]
    bare = raw.get("js_bare_publish_per_s")
    ingest, noop, shell = r["ingest"]["per_s"], r["pipeline"]["noop_per_s"], r["pipeline"]["shell_per_s"]
    m = r["machine"]
    if not m["embedded_servers"]:
        servers = "configured servers (their own durability settings)"
    elif m["durable"]:
        servers = "embedded servers, durable (fsync and synchronous_commit on, NATS file storage)"
    else:
        servers = "embedded servers, FAST AND NOT DURABLE (PostgreSQL fsync and synchronous_commit off)"
    lines = [
        f"machine: {m['cpus']} CPUs, Python {m['python']}, load average at start {' '.join(f'{v:.2f}' for v in m['loadavg_at_start'])}",
        servers,
        "",
        _row("figure", "value", "vs raw ceiling"),
        _row(
            "raw: JetStream publish, the load generator's messages (msgs/s)",
            f"{pub:,}",
            _each(raw.get("js_publish_each_per_s", [])),
        ),
        _row(
            "raw: JetStream publish, bare payload (msgs/s)",
            f"{bare:,}" if bare else "-",
            "no headers, 256 in flight: the ceiling of rounds 1 to 8",
        ),
        _row("raw: JetStream fetch+ack (msgs/s)", f"{con:,}"),
        _row("raw: PG executemany (rows/s)", f"{raw['pg_executemany_rows_per_s']:,}"),
        _row("raw: PG COPY (rows/s)", f"{copy:,}", _each(raw.get("pg_copy_each_per_s", []))),
        _row(
            "ingest (events/s)",
            f"{ingest:,}",
            f"{_ratio(ingest, min(pub, con, copy))} of min(publish, fetch, COPY)"
            + (f", {_ratio(ingest, min(bare, con, copy))} with the bare publish" if bare else "")
            + _bursts(r["ingest"]),
        ),
        _row(
            f"pipeline core.noop (executions/s, concurrency {r['params']['pipeline_concurrency']})",
            f"{noop:,}",
            f"{_ratio(noop, ingest)} of ingest{_bursts(r['pipeline_noop'])}",
        ),
        _row(
            "pipeline core.local true (executions/s)",
            f"{shell:,}",
            f"{_ratio(shell, noop)} of noop",
        ),
        _row(
            "shell overhead, running -> completed (ms)",
            f"{r['shell_overhead_ms']}",
            f"p50 {r['shell_low_load']['run_ms']['p50']} ms at {r['shell_low_load']['rate']:.0f}/s "
            f"minus `sh -c true` alone {raw['shell_spawn_ms']} ms (at saturation: {r['pipeline_shell']['run_ms']['p50']} ms)",
        ),
    ]
    lines += _cpu_rows(r)
    lines += _tail_rows(r["tail"])
    for stage in ("running", "completed"):
        lines.append(
            _row(f"latency -> {stage} @ saturation (ms)", "", _pcts(r["latency_ms_saturation"][stage]))
        )
    wf = r["workflows"]
    low, sat = wf["low_load"], wf["saturation"]
    lines.append(
        _row(
            "workflow: engine per task transition @ low load (ms)",
            f"{low['per_transition_ms']['p50']}",
            f"p50 (p95 {low['per_transition_ms']['p95']}): 20 x core.noop workflow p50 {low['workflow_ms']['p50']} ms "
            f"minus 20 x bare core.noop p50 {low['noop_ms']['p50']} ms, over 20",
        )
    )
    lines.append(
        _row(
            "workflow: engine per task transition @ saturation (ms)",
            f"{sat['per_transition_ms']}",
            f"{sat['workflows']} workflows at once: {sat['workflow_tasks_per_s']:,} tasks/s vs "
            f"{sat['noop_per_s']:,} bare noops/s ({_ratio(sat['workflow_tasks_per_s'], sat['noop_per_s'])})",
        )
    )
    lines.append(
        _row(
            "completion triggers, no rule listening (µs/execution)",
            f"{r['completion_unlistened_us']}",
            "the executor's check per ended execution (cached)",
        )
    )
    if "replicas" in r:
        rep = r["replicas"]
        for key, label in (("r1", "one NATS server, R1"), ("r3", "three-node NATS cluster, R3")):
            run = rep[key]
            lines.append(
                _row(
                    f"pipeline core.noop, {label} (executions/s)",
                    f"{run['per_s']:,}",
                    _pcts(run["running_ms"]),
                )
            )
        lines.append(
            _row("R3 as a share of R1 (noop burst)", f"{rep['r3_of_r1']:.0%}", "same burst, same run")
        )
    for s in r["scaling"]:
        label = f"scaling: {s['executors']} executor(s), core.sleep 0.1"
        note = f"{_ratio(s['per_s'], s['ideal_per_s'])} of ideal {s['ideal_per_s']:.0f}/s (wall clock {s['wall_per_s']}/s)"
        lines.append(_row(label, f"{s['per_s']:,}", note))
    for name, mb in sorted(r["rss_mb"].items()):
        lines.append(_row(f"peak RSS {name} (MB)", f"{mb:.1f}"))
    lines.append(_row("duplicates / lost", f"{r['duplicates']} / {r['lost']}"))
    return "\n".join(lines)


def _cpu_rows(r: dict[str, Any]) -> list[str]:
    per = r["pipeline_noop"]["cpu_s_per_1000"]
    sse = r["pipeline_noop_sse"]
    lines = [
        _row("CPU s per 1,000 noop executions: services", f"{per['services']}", _by_process(per)),
        _row("CPU s per 1,000 noop executions: servers", f"{per['servers']}", "PostgreSQL + NATS"),
        _row(
            "CPU s per 1,000 noop executions: rest of the host",
            f"{per['others_on_host']}",
            f"other tenants meanwhile; the load generator itself {per['bench']}",
        ),
        _row(
            "API CPU s per 1,000 noop executions, no SSE client",
            f"{r['cpu_s_per_1000_noop']['api_no_client']}",
        ),
        _row(
            "API CPU s per 1,000 noop executions, one SSE client",
            f"{r['cpu_s_per_1000_noop']['api_one_client']}",
            f"noop burst with the client: {sse['per_s']:,}/s",
        ),
    ]
    return lines


def _by_process(per: dict[str, float]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(per.items()) if k.startswith("attune-"))


def _tail_rows(t: dict[str, Any]) -> list[str]:
    lines = []
    for i, run in enumerate(t["runs"], 1):
        host, fsync = run["host"], run["fsync"]
        lines.append(
            _row(
                f"latency -> running @ {t['rate']:.0f}/s, run {i} (ms)",
                "",
                f"{_pcts(run['running_ms'])}  max {run['max_ms']}; own p99 {run['own_running_ms']['p99']}; "
                f"stalls >100 ms: {run['stalls']} "
                f"(pipeline's own {run['own_stalls']}, own max {run['max_own_ms']}); "
                f"host probe p99 {host.get('p99_ms')} max {host.get('max_ms')}, "
                f"fsync p99 {fsync['p99_ms']} max {fsync['max_ms']}; "
                f"checkpoints {run['checkpoints']['count']:.0f} (sync {run['checkpoints']['sync_ms']:.0f} ms)",
            )
        )
        if run.get("hops_ms"):
            lines.append(
                _row(
                    "  per hop, every execution (p50 / p99 ms)",
                    "",
                    ", ".join(f"{h} {v['p50']} / {v['p99']}" for h, v in run["hops_ms"].items()),
                )
            )
        slow = {hop: n for hop, n in run["slow_hops"].items() if n}
        if slow:
            lines.append(
                _row(
                    "  longest hop of the stalled executions",
                    "",
                    ", ".join(f"{h}: {n}" for h, n in slow.items()),
                )
            )
    lines.append(
        _row(
            f"latency -> running @ {t['rate']:.0f}/s, {t['repetitions']} runs pooled (ms)",
            "",
            f"{_pcts(t['latency_ms']['running'])}; worst run's p99 {t['worst_p99_ms']} "
            f"(own {t['worst_own_p99_ms']}); "
            f"stalls >100 ms {t['stalls']} (own {t['own_stalls']}), own max {t['max_own_ms']}",
        )
    )
    lines.append(
        _row(
            f"latency -> completed @ {t['rate']:.0f}/s, pooled (ms)", "", _pcts(t["latency_ms"]["completed"])
        )
    )
    return lines
