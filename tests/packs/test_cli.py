"""`attune pack validate|register` and the `attune migrate` seed step, as real processes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import asyncpg
from nats.aio.client import Client as NatsClient

from attune_shared.bus import RuleChanged, bus_spec
from attune_shared.packs import CORE_PACK_DIR
from attune_shared.repos import PackRepository, RuleRepository
from attune_shared.settings import Settings
from tests.packs.conftest import PackDir

EXAMPLES_DIR = CORE_PACK_DIR.parent / "examples"


async def attune(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "attune_cli", *map(str, args)]
    return await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=120
    )


async def test_validate_a_valid_pack(service_env: dict[str, str]) -> None:
    result = await attune(service_env, "pack", "validate", EXAMPLES_DIR, "--offline")
    assert result.returncode == 0, result.stderr
    assert f"pack examples is valid ({EXAMPLES_DIR})" in result.stdout


async def test_validate_lists_every_problem_and_exits_2(service_env: dict[str, str], demo: PackDir) -> None:
    demo.write("pack.yaml", "ref: demo\nversion: 1.0\n")
    demo.write("policies/limit.yaml", "ref: limit\naction: run\nconcurrency: {limit: 1, method: queue}\n")
    result = await attune(service_env, "pack", "validate", demo.path)
    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        "pack.yaml:version: 1.0 is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.0.0)",
        "policies/limit.yaml:concurrency.method: Input should be 'enqueue' or 'cancel'",
    ]
    assert "2 problems" in result.stderr

    result = await attune(service_env, "pack", "validate", demo.path, "--json")
    assert result.returncode == 2
    output = json.loads(result.stdout)
    assert output["valid"] is False
    assert output["problems"][1] == {
        "file": "policies/limit.yaml",
        "field": "concurrency.method",
        "message": "Input should be 'enqueue' or 'cancel'",
    }


async def test_validate_checks_references_in_the_database(service_env: dict[str, str]) -> None:
    result = await attune(service_env, "pack", "validate", EXAMPLES_DIR)
    assert result.returncode == 0  # the core pack is not registered in this database yet: noted
    assert (
        "note: rules/failed_disk_check.yaml:action: action core.echo is not installed "
        "(registers; cannot fire until it is)" in result.stdout.splitlines()
    )


async def test_migrate_seeds_the_core_pack(service_env: dict[str, str], db_pool: asyncpg.Pool) -> None:
    result = await attune(service_env, "migrate", "--no-seed")
    assert result.returncode == 0, result.stderr
    assert await PackRepository(db_pool).get_by_ref("core") is None
    result = await attune(service_env, "migrate", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["core_pack"]["pack"]["created"] == ["core"]
    assert "core.local" in report["core_pack"]["actions"]["created"]
    result = await attune(service_env, "migrate")
    assert "core pack: unchanged" in result.stdout


async def test_register_publishes_rule_changes_after_the_commit(
    service_env: dict[str, str], settings: Settings, nats_client: NatsClient, db_pool: asyncpg.Pool
) -> None:
    assert (await attune(service_env, "pack", "register", CORE_PACK_DIR)).returncode == 0
    result = await attune(service_env, "pack", "register", EXAMPLES_DIR, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["pack"]["created"] == ["examples"]
    assert report["published"] == len(report["rule_changes"]) == len(report["rules"]["created"])

    spec = bus_spec(settings.nats)
    js = nats_client.jetstream()
    info = await js.stream_info(spec.updates_stream)
    messages = [await js.get_msg(spec.updates_stream, seq) for seq in range(1, info.state.messages + 1)]
    assert {m.subject for m in messages} == {spec.subjects.rule_changed}
    published = [RuleChanged.model_validate_json(m.data or b"") for m in messages]
    assert published == [RuleChanged.model_validate(c) for c in report["rule_changes"]]
    rules = await RuleRepository(db_pool).list(pack="examples")
    assert {c.rule_ref for c in published} == {r.ref for r in rules}

    result = await attune(service_env, "pack", "register", EXAMPLES_DIR)
    assert result.returncode == 0, result.stderr
    assert "pack examples is unchanged" in result.stdout
    assert (await js.stream_info(spec.updates_stream)).state.messages == info.state.messages


async def test_register_prints_a_table_and_survives_an_unreachable_nats(
    service_env: dict[str, str], demo: PackDir
) -> None:
    env = {**service_env, "ATTUNE__NATS__URL": "nats://127.0.0.1:1", "ATTUNE__NATS__CONNECT_TIMEOUT": "1"}
    result = await attune(env, "pack", "register", demo.path)
    assert result.returncode == 0, result.stderr
    assert "created  demo.on_alert" in result.stdout
    assert "pack demo registered from" in result.stdout
    assert "1 rule change(s) were not published" in result.stderr


async def test_register_an_invalid_pack_exits_2_and_writes_nothing(
    service_env: dict[str, str], demo: PackDir, db_pool: asyncpg.Pool
) -> None:
    demo.write("actions/run.yaml", "ref: run\nrunner_type: shell\nentry_point: gone.sh\n")
    result = await attune(service_env, "pack", "register", demo.path)
    assert result.returncode == 2
    assert "actions/run.yaml:entry_point: file actions/gone.sh does not exist" in result.stderr
    assert "nothing was registered" in result.stderr
    assert await PackRepository(db_pool).get_by_ref("demo") is None
