"""Registration against a real PostgreSQL: created, unchanged, updated, removed, ad hoc rows kept."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from attune_shared.bus import RuleChanged
from attune_shared.packs import (
    CORE_PACK_DIR,
    InvalidPackError,
    register_core_pack,
    register_pack,
    validate_pack,
)
from attune_shared.packs.report import SECTIONS
from attune_shared.repos import (
    ActionRepository,
    PackRepository,
    PolicyRepository,
    RuleRepository,
    TriggerRepository,
)
from tests.packs.conftest import PackDir

EXAMPLES_DIR = CORE_PACK_DIR.parent / "examples"
TABLES = ("pack", "trigger", "action", "sensor", "rule", "policy")


async def snapshot(db: asyncpg.Pool) -> dict[str, list[tuple[Any, ...]]]:
    """Every catalog row's ref, id and `updated`, to prove a re-registration touched nothing."""
    rows = {}
    for table in TABLES:
        records = await db.fetch(f"SELECT ref, id, updated FROM {table} ORDER BY ref")
        rows[table] = [tuple(r) for r in records]
    return rows


async def test_core_and_examples_register_on_a_fresh_database(db_pool: asyncpg.Pool) -> None:
    core = await register_core_pack(db_pool)
    assert core.pack.created == ["core"]
    assert {
        "core.echo",
        "core.http",
        "core.local",
        "core.local_sudo",
        "core.noop",
        "core.sleep",
        "core.ask",
    } <= set(core.actions.created)
    assert {
        "core.crontimer",
        "core.datetimetimer",
        "core.intervaltimer",
        "core.webhook",
        "core.st2.IntervalTimer",
        "core.st2.CronTimer",
        "core.st2.DateTimer",
        "core.st2.webhook",
        "core.st2.generic.actiontrigger",
        "core.st2.generic.notifytrigger",
        "core.st2.generic.inquiry",
    } == set(core.triggers.created)
    assert core.sensors.created == ["core.timer"]
    assert core.rule_changes == []

    examples = await register_pack(db_pool, EXAMPLES_DIR)
    assert examples.pack.created == ["examples"]
    assert examples.triggers.created == ["examples.alert"]
    assert len(examples.rules.created) == len(examples.rule_changes) >= 5
    assert {(c.op, c.rule_ref, c.trigger_ref) for c in examples.rule_changes} == {
        ("created", ref, "core.intervaltimer" if ref == "examples.heartbeat" else "examples.alert")
        for ref in examples.rules.created
    }
    heartbeat = next(c for c in examples.rule_changes if c.rule_ref == "examples.heartbeat")
    assert heartbeat.enabled is False

    pack = await PackRepository(db_pool).get_by_ref("examples")
    assert pack is not None and pack.path == str(EXAMPLES_DIR.resolve())
    assert pack.config["oncall_channel"] == "#ops-oncall"
    assert pack.config["page_threshold"] == 3
    rule = await RuleRepository(db_pool).get_by_ref("examples.web_warnings")
    echo = await ActionRepository(db_pool).get_by_ref("core.echo")
    alert = await TriggerRepository(db_pool).get_by_ref("examples.alert")
    assert rule is not None and echo is not None and alert is not None
    assert (rule.action, rule.trigger, rule.pack_ref) == (echo.id, alert.id, "examples")
    policy = await PolicyRepository(db_pool).get_by_ref("examples.one_remediation_per_host")
    assert policy is not None
    assert (policy.concurrency_limit, policy.concurrency_method, policy.concurrency_group_by) == (
        1,
        "enqueue",
        ["host"],
    )


async def test_registering_an_unchanged_pack_changes_nothing(db_pool: asyncpg.Pool) -> None:
    await register_core_pack(db_pool)
    await register_pack(db_pool, EXAMPLES_DIR)
    before = await snapshot(db_pool)
    again = await register_pack(db_pool, EXAMPLES_DIR)
    core_again = await register_core_pack(db_pool)
    assert await snapshot(db_pool) == before
    for report in (again, core_again):
        assert not report.changed
        assert report.rule_changes == []
        for name in SECTIONS:
            section = report.section(name)
            assert section.created == section.updated == section.removed == []
    assert len(again.rules.unchanged) == len(before["rule"])


async def test_removing_a_rule_file_removes_the_rule(db_pool: asyncpg.Pool, demo: PackDir) -> None:
    await register_pack(db_pool, demo.path)
    demo.remove("rules/on_alert.yaml")
    report = await register_pack(db_pool, demo.path)
    assert report.rules.removed == ["demo.on_alert"]
    assert report.rule_changes == [
        RuleChanged(rule_ref="demo.on_alert", trigger_ref="demo.alert", enabled=False, op="deleted")
    ]
    assert await RuleRepository(db_pool).get_by_ref("demo.on_alert") is None
    assert report.triggers.unchanged == ["demo.alert"]


async def test_removed_components_go_away_and_changed_ones_are_updated(
    db_pool: asyncpg.Pool, demo: PackDir
) -> None:
    await register_pack(db_pool, demo.path)
    demo.remove("policies/limit.yaml")
    demo.write("rules/on_alert.yaml", "ref: on_alert\ntrigger: alert\naction: run\nenabled: false\n")
    report = await register_pack(db_pool, demo.path)
    assert report.policies.removed == ["demo.limit"]
    assert report.rules.updated == ["demo.on_alert"]
    assert report.rule_changes == [
        RuleChanged(rule_ref="demo.on_alert", trigger_ref="demo.alert", enabled=False, op="updated")
    ]
    rule = await RuleRepository(db_pool).get_by_ref("demo.on_alert")
    assert rule is not None and rule.enabled is False and rule.criteria == {}


async def test_rule_parameters_take_yaml_1_1_booleans_where_the_schemas_say_boolean(
    db_pool: asyncpg.Pool, demo: PackDir
) -> None:
    demo.write(
        "actions/run.yaml",
        "ref: run\nrunner_type: shell\nentry_point: run.sh\nparameters:\n"
        "  force: {type: boolean}\n  env: {type: object}\n  note: {type: string}\n",
    )
    demo.write(
        "triggers/alert.yaml",
        "ref: alert\nparameters_schema:\n  type: object\n  properties: {urgent: {type: boolean}}\n",
    )
    demo.write(
        "rules/on_alert.yaml",
        """
name: on_alert
trigger: {type: alert, parameters: {urgent: yes}}
action:
  ref: run
  parameters: {force: on, note: yes, env: {ANSWER: yes}}
""",
    )
    await register_pack(db_pool, demo.path)
    rule = await RuleRepository(db_pool).get_by_ref("demo.on_alert")
    assert rule is not None
    assert rule.trigger_params == {"urgent": True}
    assert rule.action_params == {"force": True, "note": "yes", "env": {"ANSWER": "yes"}}


async def test_ad_hoc_components_survive_registration(db_pool: asyncpg.Pool, demo: PackDir) -> None:
    await register_pack(db_pool, demo.path)
    pack = await PackRepository(db_pool).get_by_ref("demo")
    trigger = await TriggerRepository(db_pool).get_by_ref("demo.alert")
    assert pack is not None and trigger is not None
    owner = {"pack": pack.id, "pack_ref": "demo", "is_adhoc": True}
    action = await ActionRepository(db_pool).insert(
        {"ref": "demo.from_api", "runner_type": "builtin", "entry_point": "noop", **owner}
    )
    await RuleRepository(db_pool).insert(
        {
            "ref": "demo.from_api",
            "trigger": trigger.id,
            "trigger_ref": "demo.alert",
            "action": action.id,
            "action_ref": "demo.from_api",
            **owner,
        }
    )
    # a pack rule may even use an API-created action of its own pack
    demo.write("rules/uses_api_action.yaml", "ref: uses_api_action\ntrigger: alert\naction: from_api\n")
    report = await register_pack(db_pool, demo.path)
    assert report.rules.created == ["demo.uses_api_action"]
    assert report.rules.removed == report.actions.removed == []
    assert await RuleRepository(db_pool).get_by_ref("demo.from_api") is not None
    assert await ActionRepository(db_pool).get_by_ref("demo.from_api") is not None


async def test_rules_may_use_other_packs_components(db_pool: asyncpg.Pool, demo: PackDir) -> None:
    await register_core_pack(db_pool)
    demo.write(
        "rules/tick.yaml",
        "ref: tick\ntrigger: core.intervaltimer\ntrigger_params: {unit: seconds, interval: 5}\n"
        "action: core.echo\naction_params: {message: tick}\n",
    )
    report = await register_pack(db_pool, demo.path)
    assert "demo.tick" in report.rules.created
    rule = await RuleRepository(db_pool).get_by_ref("demo.tick")
    noop = await ActionRepository(db_pool).get_by_ref("core.echo")
    assert rule is not None and noop is not None and rule.action == noop.id


REFERENCE_CASES = {
    "unknown trigger": (
        "ref: on_alert\ntrigger: nope\naction: run\n",
        "rules/on_alert.yaml:trigger: unknown trigger 'demo.nope'",
    ),
    "unknown action of this pack, StackStorm form": (
        "name: on_alert\ntrigger: {type: demo.alert}\naction: {ref: demo.walk}\n",
        "rules/on_alert.yaml:action.ref: unknown action 'demo.walk'",
    ),
    "trigger_params not matching the trigger's parameters_schema": (
        "ref: on_alert\ntrigger: core.intervaltimer\ntrigger_params: {unit: weeks, interval: 1}\naction: run\n",
        "rules/on_alert.yaml:trigger_params.unit: 'weeks' is not one of ['seconds', 'minutes', 'hours', 'days']",
    ),
}


@pytest.mark.parametrize(("text", "expected"), REFERENCE_CASES.values(), ids=REFERENCE_CASES.keys())
async def test_unknown_references_refuse_the_pack(
    db_pool: asyncpg.Pool, demo: PackDir, text: str, expected: str
) -> None:
    await register_core_pack(db_pool)
    demo.write("rules/on_alert.yaml", text)
    with pytest.raises(InvalidPackError) as info:
        await register_pack(db_pool, demo.path)
    assert [str(p) for p in info.value.problems] == [expected]
    assert await PackRepository(db_pool).get_by_ref("demo") is None
    validation = await validate_pack(demo.path, db_pool)
    assert [str(p) for p in validation.problems] == [expected]


async def test_refs_to_packs_not_installed_register_and_say_why_they_cannot_fire(
    db_pool: asyncpg.Pool, demo: PackDir
) -> None:
    await register_core_pack(db_pool)
    demo.write(
        "rules/on_alert.yaml", "name: on_alert\ntrigger: {type: later.event}\naction: {ref: later.run}\n"
    )
    report = await register_pack(db_pool, demo.path)
    assert report.unresolved == [
        "rules/on_alert.yaml:action.ref: action later.run is not installed",
        "rules/on_alert.yaml:trigger.type: trigger later.event is not installed",
    ]
    rule = await RuleRepository(db_pool).get_by_ref("demo.on_alert")
    assert rule is not None and (rule.trigger, rule.action) == (None, None)
    later = PackDir(demo.path.parent / "later")
    later.write("pack.yaml", "ref: later\nversion: 1.0.0\n")
    later.write("triggers/event.yaml", "ref: event\n")
    later.write("actions/run.yaml", "ref: run\nrunner_type: builtin\nentry_point: noop\n")
    await register_pack(db_pool, later.path)
    rule = await RuleRepository(db_pool).get_by_ref("demo.on_alert")
    trigger = await TriggerRepository(db_pool).get_by_ref("later.event")
    action = await ActionRepository(db_pool).get_by_ref("later.run")
    assert rule is not None and trigger is not None and action is not None
    assert (rule.trigger, rule.action) == (trigger.id, action.id)  # linked once installed


async def test_a_ref_to_a_component_being_removed_is_unknown(db_pool: asyncpg.Pool, demo: PackDir) -> None:
    await register_pack(db_pool, demo.path)
    demo.remove("policies/limit.yaml")
    demo.remove("actions/run.yaml")
    with pytest.raises(InvalidPackError) as info:
        await register_pack(db_pool, demo.path)
    assert [str(p) for p in info.value.problems] == ["rules/on_alert.yaml:action: unknown action 'demo.run'"]


async def test_a_pack_with_several_bad_files_lists_all_and_writes_nothing(
    db_pool: asyncpg.Pool, demo: PackDir
) -> None:
    demo.write("triggers/alert.yaml", "ref: alert\nparameters_schema: {type: 12}\n")
    demo.write("actions/run.yaml", "ref: run\nrunner_type: shell\nentry_point: run.sh\nretries: 3\n")
    demo.write("rules/on_alert.yaml", "ref: on_alert\ntrigger: alert\n")
    with pytest.raises(InvalidPackError) as info:
        await register_pack(db_pool, demo.path)
    assert [str(p) for p in info.value.problems] == [
        "triggers/alert.yaml:parameters_schema.type: invalid JSON Schema: 12 is not valid under any of the given schemas",
        "actions/run.yaml:retries: unknown key (did you mean 'max_retries'?)",
        "rules/on_alert.yaml:action: required",
    ]
    assert str(info.value).startswith(f"pack {demo.path.resolve()} is invalid (3 problems):\n")
    assert await snapshot(db_pool) == {table: [] for table in TABLES}


async def test_offline_validation_checks_refs_against_the_bundled_core_pack(demo: PackDir) -> None:
    demo.write("rules/tick.yaml", "ref: tick\ntrigger: core.intervaltimer\naction: elsewhere.run\n")
    result = await validate_pack(demo.path)
    assert [str(p) for p in result.problems] == [
        "rules/tick.yaml:trigger_params: 'interval' is a required property",
        "rules/tick.yaml:trigger_params: 'unit' is a required property",
    ]
    assert [str(p) for p in result.unresolved] == [
        "rules/tick.yaml:action: action elsewhere.run is not checked"
    ]


async def test_concurrent_registrations_of_one_pack_are_serialized(db_pool: asyncpg.Pool) -> None:
    reports = await asyncio.gather(*(register_core_pack(db_pool) for _ in range(3)))
    assert sorted(r.changed for r in reports) == [False, False, True]
