"""Events -> rules -> enforcements -> executions -> results, end to end against a real executor."""

from __future__ import annotations

import json

import asyncpg
import httpx
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from prometheus_client.parser import text_string_to_metric_families

from attune_shared.bus import Bus, EnforcementCreated, RuleChanged
from attune_shared.bus.specs import EXECUTOR_EVENTS
from attune_shared.constants import PACKS_DIR
from attune_shared.packs import register_pack
from attune_shared.processes import free_port
from attune_shared.repos import (
    ActionRepository,
    EnforcementRepository,
    ExecutionHistoryRepository,
    NewEnforcement,
    PolicyRepository,
    RuleRepository,
)
from attune_shared.statuses import EnforcementStatus, ExecutionStatus

from ..shared.factories import make_action, make_rule, make_trigger
from .conftest import StartExecutor
from .helpers import (
    HttpServer,
    announce_events,
    enforcements_of,
    executions_of,
    finished,
    fire,
    request,
    wait_for,
)


async def test_matching_rules_run_their_actions(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    trigger = await make_trigger(db_pool, "demo.alert")
    await make_trigger(db_pool, "demo.other")
    echo = await ActionRepository(db_pool).get_by_ref("core.echo")
    sink = await make_action(db_pool, "demo.sink", runner_type="builtin", entry_point="noop")
    await make_rule(
        db_pool,
        "demo.echo_critical",
        trigger=trigger,
        action=echo,
        criteria={"trigger.severity": {"type": "equals", "pattern": "critical"}},
        action_params={"message": "{{ trigger.host }} is {{ trigger.severity }}"},
    )
    await make_rule(
        db_pool,
        "demo.noop_web",
        trigger=trigger,
        action=sink,
        criteria={"trigger.host": {"type": "startswith", "pattern": "web"}},
        action_params={"event": "{{ event.id }}", "rule": "{{ rule.ref }}"},
    )
    await make_rule(db_pool, "demo.elsewhere", trigger=await make_trigger(db_pool, "demo.other"), action=sink)
    await start_executor()

    events = await fire(
        db_pool,
        bus,
        "demo.alert",
        {"host": "web-1", "severity": "critical"},
        {"host": "db-2", "severity": "info"},
        {"host": "web-3", "severity": "info"},
    )
    await finished(db_pool, 3)
    [x] = await executions_of(db_pool, "core.echo")
    assert x.status is ExecutionStatus.COMPLETED
    assert x.result == {  # StackStorm's core.echo: a shell command, StackStorm's result shape
        "failed": False,
        "succeeded": True,
        "return_code": 0,
        "duration_ms": x.result["duration_ms"],
        "stdout": "web-1 is critical",
        "stderr": "",
    }
    assert x.rule_ref == "demo.echo_critical" and x.trigger_ref == "demo.alert"
    assert x.timeout_seconds == 600 and x.worker is not None and x.started_at is not None
    noops = sorted(await executions_of(db_pool, "demo.sink"), key=lambda n: n.config["event"])
    assert [n.config for n in noops] == [
        {"event": events[0].id, "rule": "demo.noop_web"},
        {"event": events[2].id, "rule": "demo.noop_web"},
    ]
    enforcements = await enforcements_of(db_pool, events)
    assert sorted((e.event, e.rule_ref) for e in enforcements) == [
        (events[0].id, "demo.echo_critical"),
        (events[0].id, "demo.noop_web"),
        (events[2].id, "demo.noop_web"),
    ]
    for e in enforcements:
        assert e.status is EnforcementStatus.PROCESSED and e.resolved_at is not None
        assert e.created == next(ev.created for ev in events if ev.id == e.event)
        assert (e.resolved_at - e.created).total_seconds() < 1.0
    echo_enforcement = next(e for e in enforcements if e.rule_ref == "demo.echo_critical")
    assert x.enforcement == echo_enforcement.id and x.created == echo_enforcement.created
    assert echo_enforcement.config["message"] == "web-1 is critical"
    # the immutable default, rendered: the message shell-quoted (docs/security.md)
    assert echo_enforcement.config["cmd"] == "echo 'web-1 is critical'"
    history = await ExecutionHistoryRepository(db_pool).for_entity(x.id)
    statuses = [h.new_values["status"] for h in reversed(history) if "status" in h.changed_fields]
    assert statuses == ["requested", "scheduling", "scheduled", "running", "completed"]


async def test_an_idle_replica_does_the_work_it_creates_without_wake_ups(
    db_pool: asyncpg.Pool, bus: Bus, nats_client: NatsClient, core: None, start_executor: StartExecutor
) -> None:
    """The replica that matched the events processes their enforcements and, while it has free
    run slots, creates their executions already running: neither ``enforcement.created`` nor
    ``execution.requested`` crosses the stream for them (live followers get an
    ``enforcement.processed`` notice). An action with a policy is scheduled through the stream."""
    trigger = await make_trigger(db_pool, "demo.alert")
    await make_rule(
        db_pool,
        "demo.direct",
        trigger=trigger,
        action=await make_action(db_pool, "demo.free", entry_point="noop"),
    )
    guarded = await make_action(db_pool, "demo.guarded", entry_point="noop")
    await make_rule(
        db_pool, "demo.policed", trigger=await make_trigger(db_pool, "demo.other"), action=guarded
    )
    await PolicyRepository(db_pool).insert(
        {"ref": "demo.few", "pack": guarded.pack, "pack_ref": "demo", "action_ref": "demo.guarded"}
        | {"concurrency_limit": 5, "concurrency_method": "enqueue"}
    )
    seen: dict[str, list[int]] = {}

    async def record(msg: Msg) -> None:
        body = json.loads(msg.data)
        seen.setdefault(msg.subject.rsplit(".", 1)[1], []).append(
            body.get("execution_id") or body["enforcement_id"]
        )

    subjects = bus.spec.subjects
    subs = [
        await nats_client.subscribe(subject, cb=record)
        for subject in (subjects.execution_requested, subjects.enforcements)
    ]
    try:
        await start_executor(CONCURRENCY="8")
        events = await fire(db_pool, bus, "demo.alert", *({"n": n} for n in range(5)))
        free = await finished(db_pool, 5, "demo.free")
        assert {x.status for x in free} == {ExecutionStatus.COMPLETED}
        await fire(db_pool, bus, "demo.other", {"n": 1})
        [policed] = await finished(db_pool, 1, "demo.guarded")
        assert policed.status is ExecutionStatus.COMPLETED
        await nats_client.flush()
        assert seen.get("requested") == [policed.id]
        assert "created" not in seen
        assert len(seen["processed"]) == 6
        assert set(seen["processed"]) >= {e.id for e in await enforcements_of(db_pool, events)}
        # created `running` with their enforcements resolved, in one transaction; the policed one was
        # started apart from its creation
        pre_run = ("requested", "scheduling", "scheduled", "running")
        resolved = {e.id: e.resolved_at for e in await enforcements_of(db_pool, events)}
        for x in [*free, policed]:
            history = await ExecutionHistoryRepository(db_pool).for_entity(x.id)
            steps = [h for h in reversed(history) if h.new_values["status"] in pre_run]
            assert [h.new_values["status"] for h in steps] == list(pre_run)
            assert (len({h.created for h in steps}) == 1) is (x is not policed)
            if x is not policed:
                assert resolved[x.enforcement] == steps[0].created
    finally:
        for sub in subs:
            await sub.unsubscribe()


async def test_each_execution_is_announced_step_by_step_in_order(
    db_pool: asyncpg.Pool, bus: Bus, nats_client: NatsClient, core: None, start_executor: StartExecutor
) -> None:
    """The starts of a batch are announced together, the actions running meanwhile: each execution
    still gets one announcement per transition, in order, its end after its start."""
    await make_rule(
        db_pool,
        "demo.many",
        trigger=await make_trigger(db_pool, "demo.alert"),
        action=await make_action(db_pool, "demo.quick", entry_point="noop"),
    )
    seen: dict[int, list[tuple[str | None, str]]] = {}

    async def record(msg: Msg) -> None:
        body = json.loads(msg.data)
        seen.setdefault(body["execution_id"], []).append((body["old_status"], body["new_status"]))

    sub = await nats_client.subscribe(bus.spec.subjects.execution_status("demo.quick"), cb=record)
    try:
        await start_executor(CONCURRENCY="8")
        await fire(db_pool, bus, "demo.alert", *({"n": n} for n in range(40)))
        done = await finished(db_pool, 40, "demo.quick")
        await nats_client.flush()
        steps = [
            (None, "requested"),
            ("requested", "scheduling"),
            ("scheduling", "scheduled"),
            ("scheduled", "running"),
            ("running", "completed"),
        ]

        async def all_seen() -> bool | None:
            return all(len(seen.get(x.id, [])) == len(steps) for x in done) or None

        await wait_for(all_seen, 10, "five announcements of each execution")
        assert {x.id: seen[x.id] for x in done} == {x.id: steps for x in done}
    finally:
        await sub.unsubscribe()


async def test_redelivered_events_and_enforcements_are_harmless(
    db_pool: asyncpg.Pool, bus: Bus, nats_client: NatsClient, core: None, start_executor: StartExecutor
) -> None:
    await make_rule(
        db_pool,
        "demo.always",
        trigger=await make_trigger(db_pool),
        action=await ActionRepository(db_pool).get_by_ref("core.noop"),
    )
    await start_executor()
    events = await fire(db_pool, bus, "demo.alert", {"n": 1}, {"n": 2})
    await finished(db_pool, 2)
    enforcements = await enforcements_of(db_pool, events)
    await announce_events(bus, events + events)
    for e in enforcements:
        await bus.enforcement_created(
            EnforcementCreated(enforcement_id=e.id, created=e.created, rule_ref=e.rule_ref)
        )

    async def consumed() -> bool:
        info = await nats_client.jsm().consumer_info(bus.spec.work_stream, EXECUTOR_EVENTS)
        work = await nats_client.jsm().stream_info(bus.spec.work_stream)
        return info.num_pending == 0 and info.num_ack_pending == 0 and work.state.messages == 0

    await wait_for(consumed, 10, "redelivered messages consumed")
    assert len(await enforcements_of(db_pool, events)) == 2
    assert len(await executions_of(db_pool)) == 2


async def test_event_for_one_rule_only_runs_that_rule(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    trigger = await make_trigger(db_pool)
    noop = await ActionRepository(db_pool).get_by_ref("core.noop")
    await make_rule(db_pool, "demo.first", trigger=trigger, action=noop)
    await make_rule(db_pool, "demo.second", trigger=trigger, action=noop)
    await start_executor()
    events = await fire(db_pool, bus, "demo.alert", {"tick": 1}, rule_ref="demo.second")
    [x] = await finished(db_pool, 1)
    assert x.rule_ref == "demo.second"
    assert [e.rule_ref for e in await enforcements_of(db_pool, events)] == ["demo.second"]


async def test_rule_and_parameter_errors_are_recorded_on_the_enforcement(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    trigger = await make_trigger(db_pool)
    echo = await ActionRepository(db_pool).get_by_ref("core.echo")
    sleep = await ActionRepository(db_pool).get_by_ref("core.sleep")
    await make_rule(
        db_pool,
        "demo.missing_key",
        trigger=trigger,
        action=echo,
        action_params={"message": "{{ trigger.nope.deeper }}"},
    )
    await make_rule(
        db_pool,
        "demo.wrong_type",
        trigger=trigger,
        action=sleep,
        action_params={"seconds": "{{ trigger.host }}"},
    )
    await make_rule(db_pool, "demo.missing_param", trigger=trigger, action=echo, action_params={})
    await make_rule(
        db_pool,
        "demo.unknown_param",
        trigger=trigger,
        action=echo,
        action_params={"message": "x", "colour": "red"},
    )
    await make_rule(
        db_pool,
        "demo.bad_criteria",
        trigger=trigger,
        action=echo,
        criteria={"trigger.host": {"type": "equalz", "pattern": "x"}},
        action_params={"message": "x"},
    )
    # valid, but raises on this payload: no match, recorded naming the rule, the criterion and the error
    await make_rule(
        db_pool,
        "demo.criteria_raises",
        trigger=trigger,
        action=echo,
        criteria={"trigger.host": {"type": "lessthan", "pattern": 5}},
        action_params={"message": "x"},
    )
    executor = await start_executor()
    events = await fire(db_pool, bus, "demo.alert", {"host": "web-1"})

    async def resolved() -> list | None:
        rows = await enforcements_of(db_pool, events)
        return (
            rows if len(rows) == 6 and all(r.status is not EnforcementStatus.CREATED for r in rows) else None
        )

    reasons = {
        e.rule_ref: (e.status, e.failure_reason)
        for e in await wait_for(resolved, 10, "6 resolved enforcements")
    }
    for status, _ in reasons.values():
        assert status is EnforcementStatus.DISABLED
    assert (
        "action_params.message" in reasons["demo.missing_key"][1] and "nope" in reasons["demo.missing_key"][1]
    )
    assert "seconds" in reasons["demo.wrong_type"][1] and "number" in reasons["demo.wrong_type"][1]
    assert "message: required" in reasons["demo.missing_param"][1]
    assert "colour" in reasons["demo.unknown_param"][1], reasons["demo.unknown_param"]
    assert (
        "criteria.trigger.host.type" in reasons["demo.bad_criteria"][1]
        and "equalz" in reasons["demo.bad_criteria"][1]
    )
    assert reasons["demo.criteria_raises"][1] == (
        f"rule demo.criteria_raises: criterion trigger.host (lessthan) raised on event {events[0].id}: "
        "lessthan failed: '<' not supported between instances of 'str' and 'int'"
    )
    warning = next(
        line
        for line in executor.output().splitlines()
        if "enforcement.failed" in line and "criteria_raises" in line
    )
    assert "lessthan failed" in warning
    assert await executions_of(db_pool) == []


async def test_criteria_errors_are_counted_and_logged_once_per_rule(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    """1,000 alerts lacking a field two rules test: 2,000 enforcements resolved `disabled` with the
    reason, two warnings (one per rule, in full) instead of 2,000, and the metric counts every one."""
    trigger = await make_trigger(db_pool)
    noop = await ActionRepository(db_pool).get_by_ref("core.noop")
    for ref, field in (("demo.needs_count", "count"), ("demo.needs_threshold", "threshold")):
        await make_rule(
            db_pool,
            ref,
            trigger=trigger,
            action=noop,
            criteria={f"trigger.{field}": {"type": "greaterthan", "pattern": 1}},
        )
    await make_rule(db_pool, "demo.fine", trigger=trigger, action=noop)
    port = free_port()
    executor = await start_executor(METRICS_PORT=str(port))
    events = await fire(db_pool, bus, "demo.alert", *({"host": f"web-{i}"} for i in range(1000)))
    await wait_for(lambda: _enforced(db_pool, events), 60, "three enforcements for each of the 1,000 events")

    async def counted() -> dict[str, float]:
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        found = {
            sample.labels["rule_ref"]: sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "attune_rule_criteria_errors"
            for sample in family.samples
            if sample.name.endswith("_total")
        }
        return found if sum(found.values()) == 2000 else {}

    assert await wait_for(counted, 20, "2,000 criteria errors counted") == {
        "demo.needs_count": 1000,
        "demo.needs_threshold": 1000,
    }
    warnings = [json.loads(line) for line in executor.output().splitlines() if "enforcement.failed" in line]
    assert sorted(w["rule"] for w in warnings) == ["demo.needs_count", "demo.needs_threshold"], warnings
    for warning in warnings:
        assert "raised on event" in warning["reason"] and "greaterthan failed" in warning["reason"]
        assert warning["level"] == "warning" and "repeats" not in warning


async def _enforced(db: asyncpg.Pool, events: list) -> bool:
    rows = await enforcements_of(db, events)
    return len(rows) == 3 * len(events) and all(r.status is not EnforcementStatus.CREATED for r in rows)


async def test_disabled_rule_or_missing_action_disables_the_enforcement(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    trigger = await make_trigger(db_pool)
    gone = await make_action(db_pool, "demo.gone")
    off = await make_rule(db_pool, "demo.off", trigger=trigger, enabled=False)
    orphan = await make_rule(db_pool, "demo.orphan", trigger=trigger, action=gone)
    await ActionRepository(db_pool).delete_by_ref("demo.gone")
    [event] = await fire(
        db_pool, bus, "demo.other", {}
    )  # matches nothing; its row is the enforcements' event
    rows = await EnforcementRepository(db_pool).create_many(
        [
            NewEnforcement(
                rule=r.id,
                rule_ref=r.ref,
                trigger_ref=r.trigger_ref,
                event=event.id,
                event_created=event.created,
            )
            for r in (off, orphan)
        ]
    )
    await start_executor()
    for e in rows:
        await bus.enforcement_created(
            EnforcementCreated(enforcement_id=e.id, created=e.created, rule_ref=e.rule_ref)
        )

    async def resolved() -> dict | None:
        found = {e.rule_ref: e for e in await EnforcementRepository(db_pool).for_events([event.id])}
        return found if all(e.status is EnforcementStatus.DISABLED for e in found.values()) else None

    found = await wait_for(resolved, 10, "disabled enforcements")
    assert found["demo.off"].failure_reason == "rule demo.off is disabled"
    assert found["demo.orphan"].failure_reason == "action demo.gone does not exist"
    assert all(e.resolved_at is not None for e in found.values())
    assert await executions_of(db_pool) == []


async def test_rule_changes_apply_at_once(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    trigger = await make_trigger(db_pool)
    rule = await make_rule(
        db_pool,
        "demo.toggled",
        trigger=trigger,
        action=await make_action(db_pool, "demo.sink", runner_type="builtin", entry_point="noop"),
    )
    await start_executor(CACHE_TTL="600")  # only rule.changed can invalidate the cached rules
    await fire(db_pool, bus, "demo.alert", {"n": 1})
    await finished(db_pool, 1)
    await RuleRepository(db_pool).update(rule.ref, {"enabled": False})
    await bus.rule_changed(
        RuleChanged(rule_ref=rule.ref, trigger_ref=rule.trigger_ref, enabled=False, op="disabled")
    )
    await RuleRepository(db_pool).update(rule.ref, {"enabled": True, "action_params": {"again": True}})

    async def applied() -> bool:
        # the executor sees the change once an event's execution carries the new parameters
        await fire(db_pool, bus, "demo.alert", {"n": 2})
        xs = await executions_of(db_pool, "demo.sink")
        return any(x.config == {"again": True} for x in xs)

    await bus.rule_changed(
        RuleChanged(rule_ref=rule.ref, trigger_ref=rule.trigger_ref, enabled=True, op="updated")
    )
    await wait_for(applied, 10, "the updated rule")


async def test_example_pack_end_to_end(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    await register_pack(db_pool, PACKS_DIR / "examples")
    await start_executor()
    payload = {
        "host": "db-1",
        "severity": "critical",
        "message": "Disk full on /var",
        "count": 5,
        "threshold": 3,
        "tags": ["production"],
        "checks": [{"name": "disk-root", "status": "failed"}],
    }
    await fire(db_pool, bus, "examples.alert", payload)
    done = {x.action_ref: x for x in await finished(db_pool, 4, timeout=30)}
    assert {ref: x.status for ref, x in done.items()} == {
        "core.echo": ExecutionStatus.COMPLETED,
        "examples.notify": ExecutionStatus.COMPLETED,
        "examples.remediate": ExecutionStatus.COMPLETED,
        "examples.triage": ExecutionStatus.COMPLETED,
    }
    notify = done["examples.notify"]
    assert notify.result is not None
    assert notify.result["stdout"].strip() == (
        f"[#ops-oncall] critical: db-1: Disk full on /var (rule examples.page_on_critical) "
        f"(execution {notify.id} of examples.notify)"
    )
    triage = done["examples.triage"].result
    assert triage is not None and triage["data"]["score"] == 55 and triage["data"]["page"] is True
    assert triage["data"]["execution"] == str(done["examples.triage"].id)
    assert "remediated db-1" in done["examples.remediate"].result["stdout"]  # type: ignore[index]


async def test_http_action(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    await start_executor()
    async with HttpServer(status=201, body=b'{"id": 7}') as server:
        ok = await request(
            db_pool,
            bus,
            "core.http",
            {
                "url": f"{server.url}/hooks",
                "method": "POST",
                "body": '{"a": 1}',
                "headers": {"X-Token": "t", "Content-Type": "application/json"},
                "params": {"q": "1"},
            },
        )
        [done] = await finished(db_pool, 1)
        assert done.id == ok.id and done.status is ExecutionStatus.COMPLETED
        assert done.result is not None
        assert {k: done.result[k] for k in ("status_code", "body", "parsed")} == {
            "status_code": 201,
            "body": {"id": 7},
            "parsed": True,
        }
        method, path, headers, body = server.requests[0]
        assert (method, path, headers["x-token"], json.loads(body)) == ("POST", "/hooks?q=1", "t", {"a": 1})
        assert headers["user-agent"].startswith("st2/") and headers["x-stanley-action"] == "http"
        server.status = 500
        await request(db_pool, bus, "core.http", {"url": f"{server.url}/fail"})
        failed = (await finished(db_pool, 2))[1]
        assert failed.status is ExecutionStatus.FAILED  # StackStorm: only 200-206 succeed
        assert failed.result is not None and failed.result["status_code"] == 500


async def test_execution_metrics_count_every_run(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    """Ends counted per batch and the running gauge read when scraped still tell every run: 40
    noops finished and timed, and a sleeping action counted as running while it runs, not after."""
    port = free_port()
    await start_executor(METRICS_PORT=str(port))

    async def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    noops = [await request(db_pool, bus, "core.noop") for _ in range(40)]
    await finished(db_pool, len(noops), timeout=20)
    await request(db_pool, bus, "core.sleep", {"seconds": 3})

    async def running() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        found = await samples()
        return found if found.get(("attune_executor_running_actions", ())) == 1 else {}

    seen = await wait_for(running, 10, "the sleep action counted as running")
    assert (
        seen[("attune_executions_finished_total", (("action_ref", "core.noop"), ("status", "completed")))]
        == 40
    )
    assert _timed(seen) == 40
    await finished(db_pool, len(noops) + 1, timeout=20)
    after = await samples()
    assert after[("attune_executor_running_actions", ())] == 0
    assert _timed(after) == 41
    assert (
        after[("attune_executions_finished_total", (("action_ref", "core.sleep"), ("status", "completed")))]
        == 1
    )


def _timed(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    """Runs timed in ``attune_action_duration_seconds``, whatever their runner."""
    return sum(v for (name, _), v in samples.items() if name == "attune_action_duration_seconds_count")
