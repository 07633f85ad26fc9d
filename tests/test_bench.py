"""The benchmark's report shape (the figures themselves are measured by `python -m bench`, never asserted)."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from attune_shared.constants import PROJECT_ROOT

pytestmark = pytest.mark.slow


def test_smoke_benchmark_writes_every_key_with_nothing_lost(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--bursts", "2", "--json", str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    r = json.loads(out.read_text())
    for key in ("js_publish_per_s", "js_bare_publish_per_s", "js_consume_per_s", "pg_copy_rows_per_s"):
        assert r["raw"][key] > 0, key
    assert r["ingest"]["events_per_s"] > 0
    assert r["pipeline"]["noop_per_s"] > 0 and r["pipeline"]["shell_per_s"] > 0
    for stage in ("running", "completed"):
        assert set(r["latency_ms"][stage]) == {"p50", "p95", "p99"}
    assert r["scaling"] and all(set(s) >= {"executors", "per_s", "ideal_per_s"} for s in r["scaling"])
    assert r["duplicates"] == 0 and r["lost"] == 0
    assert 0 < r["completion_unlistened_us"] < 1000  # a cached lookup, no query, nothing published
    # correctness counts every run, the fixed-rate and low-load ones too
    noop = r["correctness"]["bench.noop"]
    tail = r["tail"]
    warm_up = r["params"]["warm_up"]
    events, bursts = r["params"]["events"], r["params"]["bursts"]
    # the bursts, taken in turn, and the one with the SSE client
    assert noop["completed"] == warm_up + (bursts + 1) * events + 3 * tail["count"] == noop["events"]
    assert r["correctness"]["bench.ingest"]["events"] == warm_up + bursts * events
    # each figure is the median of two bursts: the lower (the burst reported is one of them)
    for burst in (r["ingest"], r["pipeline_noop"]):
        assert len(burst["each_per_s"]) == bursts == 2
        assert burst["per_s"] == min(burst["each_per_s"])
    assert len(r["raw"]["js_publish_each_per_s"]) == len(r["raw"]["pg_copy_each_per_s"]) == 2
    each = r["raw"]["js_publish_each_per_s"]
    assert min(each) - 1 <= r["raw"]["js_publish_per_s"] <= max(each) + 1
    # the tail: three repetitions, each with its stalls, their hops and the host probe beside it
    assert r["machine"]["durable"] and "durable (fsync and synchronous_commit on" in result.stdout
    assert len(tail["runs"]) == tail["repetitions"] == 3
    for run in tail["runs"]:
        assert run["measured"] == run["count"] == tail["count"]
        assert set(run["running_ms"]) == {"p50", "p95", "p99"}
        # less the host's stalls, never more than the latency itself
        assert 0 <= run["own_running_ms"]["p99"] <= run["running_ms"]["p99"]
        assert run["own_running_ms"]["p99"] <= run["max_own_ms"] <= run["max_ms"]
        assert 0 <= run["own_stalls"] <= run["stalls"] <= run["count"]
        assert run["host"]["ticks"] > 0 and run["checkpoints"]["count"] >= 0
        assert run["fsync"]["ticks"] > 0 and 0 < run["fsync"]["p50_ms"] <= run["fsync"]["max_ms"]
        assert all(set(s["hops_ms"]) == set(run["slow_hops"]) for s in run["slowest"])
    # CPU per 1,000 noop executions, per service and for the servers, the API with and without a client
    per = r["pipeline_noop"]["cpu_s_per_1000"]
    assert per["services"] > 0 and per["servers"] > 0
    assert set(r["cpu_s_per_1000_noop"]) == {"services", "servers", "api_no_client", "api_one_client"}
    assert {name.rsplit("-", 1)[0] for name in r["rss_mb"]} == {
        "attune-sensor",
        "attune-executor",
        "attune-api",
    }
    assert "duplicates / lost" in result.stdout
    # the workflow figure, and its correctness: every workflow completed its 20 tasks, once each
    wf = r["correctness"]["benchwf.noop20"]
    assert (
        wf["workflows"]
        == wf["completed"]
        == r["workflows"]["low_load"]["workflows"] + r["workflows"]["saturation"]["workflows"]
    )
    assert wf["tasks"] == 20 * wf["workflows"] and wf["duplicates"] == wf["lost"] == 0
    assert set(r["workflow_transition_ms"]) == {"low_load_p50", "saturation"}
    assert "engine per task transition" in result.stdout


def test_chaos_durations_and_intervals_parse_or_name_the_fix() -> None:
    from bench.chaos import parse_duration, parse_interval

    assert [parse_duration(t) for t in ("90", "120s", "2m", "1h")] == [90, 120, 120, 3600]
    assert parse_interval("10-40") == (10, 40) and parse_interval("5") == (5, 5)
    with pytest.raises(argparse.ArgumentTypeError, match="'10 minutes': give a duration"):
        parse_duration("10 minutes")
    with pytest.raises(argparse.ArgumentTypeError, match="MIN-MAX"):
        parse_interval("40-10")


def test_a_moment_the_host_stalled_is_subtracted_once() -> None:
    from bench.tail import _overlap_ms

    # a CPU stall of 0.2 s at t=10.1 and a slow fsync of 0.3 s at t=10.2 overlap for 0.1 s
    stalls = [(10.2, 300.0), (10.1, 200.0)]
    assert _overlap_ms(10.0, 11.0, stalls) == pytest.approx(400.0)
    assert _overlap_ms(10.15, 10.25, stalls) == pytest.approx(100.0)
    assert _overlap_ms(11.0, 12.0, stalls) == 0.0
