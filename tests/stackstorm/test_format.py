"""A StackStorm pack registers as StackStorm registers it."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import ANY

import asyncpg
import pytest

from attune_shared.packs import InvalidPackError, RegistrationReport, load_pack, register_pack
from attune_shared.packs.config import ConfigSealError, open_config
from attune_shared.repos import (
    ActionRepository,
    PackRepository,
    PolicyRepository,
    RuleRepository,
    SensorRepository,
)
from attune_shared.secrets import SecretBox

from .conftest import API_TOKEN


def problems(path: Path) -> list[str]:
    with pytest.raises(InvalidPackError) as info:
        load_pack(path)
    return [str(p) for p in info.value.problems]


async def test_the_pack_registers_as_stackstorm_writes_it(
    db_pool: asyncpg.Pool, registered: RegistrationReport
) -> None:
    assert registered.pack.created == ["st2demo"]
    assert sorted(registered.triggers.created) == ["st2demo.file_seen", "st2demo.tick"]
    assert sorted(registered.sensors.created) == ["st2demo.CounterSensor", "st2demo.InboxWatcher"]
    assert registered.policies.created == ["st2demo.greet.concurrency"]
    assert registered.unresolved == ["rules/later.yaml:action.ref: action otherpack.do_it is not installed"]
    pack = await PackRepository(db_pool).get_by_ref("st2demo")
    assert pack is not None and pack.version == "0.1.0"  # `version: 0.1` as StackStorm reads it
    assert pack.metadata["author"] == "Attune tests" and pack.metadata["python_versions"] == ["3"]
    assert pack.config == {"greeting": "Hello", "api_token": "********", "inbox": pack.config["inbox"]}
    actions = await ActionRepository(db_pool).get_by_refs(
        {"st2demo.greet", "st2demo.hello", "st2demo.remote_uptime"}
    )
    greet = actions["st2demo.greet"]
    assert greet.runner_type == "local-shell-cmd"
    assert {"cmd", "cwd", "env", "kwarg_op", "sudo", "sudo_password", "timeout", "who", "times"} == set(
        greet.parameters_schema["properties"]
    )
    assert greet.parameters_schema["additionalProperties"] is False
    assert actions["st2demo.hello"].max_retries == 1  # the action.retry policy
    assert actions["st2demo.hello"].parameters_schema["properties"]["token"]["secret"] is True
    assert actions["st2demo.remote_uptime"].runner_type == "remote-shell-cmd"  # registered as written
    sensor = await SensorRepository(db_pool).get_by_ref("st2demo.CounterSensor")
    assert sensor is not None
    assert (sensor.class_name, sensor.poll_interval, sensor.entry_point, sensor.trigger_types) == (
        "CounterSensor",
        4,
        "counter_sensor.py",
        ["st2demo.tick"],
    )
    policy = await PolicyRepository(db_pool).get_by_ref("st2demo.greet.concurrency")
    assert policy is not None and (policy.concurrency_limit, policy.concurrency_method) == (2, "enqueue")
    later = await RuleRepository(db_pool).get_by_ref("st2demo.later")
    assert later is not None and later.action is None and later.enabled


async def test_the_config_is_kept_when_registered_again_without_its_file(
    db_pool: asyncpg.Pool, registered: RegistrationReport, st2demo: Path, box: SecretBox
) -> None:
    (st2demo.parent.parent / "configs" / "st2demo.yaml").unlink()
    report = await register_pack(db_pool, st2demo, box=box)
    assert not report.changed
    pack = await PackRepository(db_pool).get_by_ref("st2demo")
    assert pack is not None and open_config(pack, box)["api_token"] == API_TOKEN


async def test_a_config_secret_is_stored_sealed(
    db_pool: asyncpg.Pool, registered: RegistrationReport, st2demo: Path, box: SecretBox
) -> None:
    row = await db_pool.fetchrow("SELECT config::text, config_secrets FROM pack WHERE ref = 'st2demo'")
    assert (
        API_TOKEN not in row["config"] + row["config_secrets"] and '"api_token": "********"' in row["config"]
    )
    pack = await PackRepository(db_pool).get_by_ref("st2demo")
    assert open_config(pack, box) == {"api_token": API_TOKEN, "greeting": "Hello", "inbox": ANY}
    # without the secret key, such a config cannot be registered (it would be stored in clear)
    with pytest.raises(
        ConfigSealError, match="pack st2demo holds secrets: registering it needs the secret key"
    ):
        await register_pack(db_pool, st2demo)


async def test_a_config_that_does_not_match_its_schema_is_refused(
    db_pool: asyncpg.Pool, st2demo: Path
) -> None:
    config = st2demo.parent.parent / "configs" / "st2demo.yaml"
    config.write_text("api_token: 12\n")
    with pytest.raises(InvalidPackError) as info:
        await register_pack(db_pool, st2demo)
    assert [str(p) for p in info.value.problems] == [f"{config}:api_token: 12 is not of type 'string'"]
    assert await PackRepository(db_pool).get_by_ref("st2demo") is None


MALFORMED = {
    "unknown runner type": (
        "actions/bad.yaml",
        "name: bad\nrunner_type: teleport\n",
        "actions/bad.yaml:runner_type: unknown runner type 'teleport'",
    ),
    "missing entry point": (
        "actions/bad.yaml",
        "name: bad\nrunner_type: python-script\nentry_point: py/gone.py\n",
        "actions/bad.yaml:entry_point: file actions/py/gone.py does not exist",
    ),
    "entry point outside the pack": (
        "actions/bad.yaml",
        "name: bad\nrunner_type: local-shell-script\nentry_point: ../../../etc/passwd\n",
        "actions/bad.yaml:entry_point: '../../../etc/passwd' is outside the pack directory",
    ),
    "runner parameter type overridden": (
        "actions/bad.yaml",
        "name: bad\nrunner_type: local-shell-cmd\nparameters:\n  timeout: {type: string}\n",
        'actions/bad.yaml:parameters.timeout: the attribute "type" of runner parameter "timeout" cannot be overridden',
    ),
    "sensor file missing": (
        "sensors/bad.yaml",
        "class_name: Bad\nentry_point: gone.py\n",
        "sensors/bad.yaml:entry_point: file sensors/gone.py does not exist",
    ),
    "poll interval below StackStorm's minimum": (
        "sensors/counter.yaml",
        "class_name: CounterSensor\nentry_point: counter_sensor.py\npoll_interval: 1\n",
        "sensors/counter.yaml:poll_interval: Input should be greater than or equal to 4",
    ),
    "unknown policy type": (
        "policies/bad.yaml",
        "name: bad\nresource_ref: st2demo.greet\npolicy_type: action.teleport\n",
        "policies/bad.yaml:policy_type: Input should be 'action.concurrency', 'action.concurrency.attr' or "
        "'action.retry'",
    ),
}


@pytest.mark.parametrize(("file", "text", "expected"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_stackstorm_files_are_refused_naming_file_and_field(
    st2demo: Path, file: str, text: str, expected: str
) -> None:
    (st2demo / file).write_text(text)
    found = problems(st2demo)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_pack_ref_comes_from_ref_then_directory_then_name(tmp_path: Path) -> None:
    meta = "name: {name}\ndescription: d\nversion: 1.0.0\nauthor: a\n"
    by_dir = tmp_path / "from_dir"
    by_dir.mkdir()
    (by_dir / "pack.yaml").write_text(meta.format(name="Not Valid"))
    assert load_pack(by_dir).ref == "from_dir"
    by_name = tmp_path / "stackstorm-thing"
    by_name.mkdir()
    (by_name / "pack.yaml").write_text(meta.format(name="thing"))
    assert load_pack(by_name).ref == "thing"
    (by_name / "pack.yaml").write_text(meta.format(name="Not Valid"))
    [problem] = problems(by_name)
    assert problem.startswith('pack.yaml:name: Pack name "Not Valid" contains invalid characters')
    (by_name / "pack.yaml").write_text(meta.format(name="Not Valid") + "ref: chosen\n")
    assert load_pack(by_name).ref == "chosen"
