"""Rules read the datastore (``st2kv``), and a secret they hand to an action stays sealed
everywhere but in the action's own process: not in any row, not in the executor's log."""

from __future__ import annotations

import hashlib

import asyncpg

from attune_shared.bus import Bus
from attune_shared.constants import SYSTEM_USER
from attune_shared.datastore import Datastore
from attune_shared.models import KeyScope
from attune_shared.repos import EnforcementRepository
from attune_shared.secrets import MASK, SecretBox
from attune_shared.settings import Settings
from attune_shared.statuses import EnforcementStatus, ExecutionStatus
from attune_shared.types import Queryable

from ..shared.factories import make_action, make_rule, make_trigger
from .conftest import StartExecutor
from .helpers import enforcements_of, finished, fire

SECRET = "correct-horse-battery-staple-4242"
#: prints the SHA-256 of the token it gets, the region, and the retries setting
SCRIPT = (
    "python3 -c 'import sys, json, hashlib; p = json.load(sys.stdin); "
    'print(hashlib.sha256(p["token"].encode()).hexdigest(), p["region"], p["retries"], p["zone"])\''
)


async def dump_database(db: Queryable) -> str:
    """Every row of every table, as text: what a database dump would show."""
    tables = await db.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'attune' AND table_type = 'BASE TABLE'"
    )
    parts = []
    for t in tables:
        parts += [str(r[0]) for r in await db.fetch(f'SELECT t::text FROM "{t["table_name"]}" t')]
    return "\n".join(parts)


async def test_rules_read_keys_and_secrets_reach_only_the_action(
    db_pool: asyncpg.Pool, bus: Bus, settings: Settings, start_executor: StartExecutor
) -> None:
    store = Datastore(db_pool, SecretBox(settings.security.secret_key))
    await store.set("deploy.token", SECRET, secret=True)
    await store.set("deploy.region", "eu-west-3")
    await store.set("retries", 3)
    await store.set("zone", "b", scope=KeyScope.USER, user=SYSTEM_USER)
    trigger = await make_trigger(db_pool, "kv.deploy")
    action = await make_action(
        db_pool,
        "kv.deploy",
        runner_type="shell",
        parameters_schema={
            "type": "object",
            "properties": {
                "cmd": {"type": "string"},
                "token": {"type": "string"},  # not marked secret: decrypt_kv seals it anyway
                "region": {"type": "string"},
                "retries": {"type": "integer"},
                "zone": {"type": "string", "default": "{{ st2kv.user.zone }}"},
            },
            "required": ["cmd", "token", "region"],
        },
    )
    await make_rule(
        db_pool,
        "kv.on_deploy",
        trigger=trigger,
        action=action,
        criteria={"trigger.attempts": {"type": "lessthan", "pattern": "{{ st2kv.system.retries }}"}},
        action_params={
            "cmd": SCRIPT,
            "token": "{{ st2kv.system.deploy.token | decrypt_kv }}",
            "region": "{{ st2kv.system.deploy.region }}",
            "retries": "{{ st2kv.system.retries }}",
        },
    )
    await make_rule(
        db_pool,
        "kv.broken",
        trigger=trigger,
        action=action,
        action_params={"cmd": "true", "token": "{{ st2kv.system.nope | decrypt_kv }}", "region": "x"},
    )
    executor = await start_executor()

    events = await fire(db_pool, bus, "kv.deploy", {"attempts": 1}, {"attempts": 5})
    [x] = await finished(db_pool, 1, "kv.deploy")
    assert x.status is ExecutionStatus.COMPLETED, x.result
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    assert x.result is not None and x.result["stdout"].strip() == f"{digest} eu-west-3 3 b"
    assert x.config["token"] == MASK and x.config["region"] == "eu-west-3" and x.config["retries"] == 3
    enforcements = await enforcements_of(db_pool, events)
    processed = [e for e in enforcements if e.status is EnforcementStatus.PROCESSED]
    assert [e.config["token"] for e in processed] == [MASK]
    # the rule reading a key that does not exist leaves a record naming it, and runs nothing
    [broken] = [e for e in enforcements if e.rule_ref == "kv.broken" and e.event == events[0].id]
    assert broken.status is EnforcementStatus.DISABLED
    assert "st2kv.system.nope does not exist" in (broken.failure_reason or "")
    # the second event had too many attempts for the threshold read from the datastore
    assert not [e for e in enforcements if e.rule_ref == "kv.on_deploy" and e.event == events[1].id]

    await executor.terminate()
    assert SECRET not in await dump_database(db_pool)
    assert SECRET not in executor.output()
    assert (await EnforcementRepository(db_pool).get(processed[0].id, processed[0].created)).secrets  # type: ignore[union-attr]
