"""`attune key rotate`'s work: every stored secret re-encrypted under the new key, once."""

from __future__ import annotations

import asyncpg
import pytest

from attune_shared.datastore import Datastore
from attune_shared.parameters import seal
from attune_shared.rotation import SEALED_COLUMNS, rotate_secrets
from attune_shared.secrets import SecretBox, SecretDecryptError

from ..shared.factories import make_execution, make_trigger


async def test_every_sealed_column_is_re_encrypted_once_and_the_old_key_may_go(db_pool: asyncpg.Pool) -> None:
    old = SecretBox("the-old-secret-key")
    await Datastore(db_pool, old).set("db.password", "hunter2", secret=True)
    await Datastore(db_pool, old).set("plain", "not a secret")
    await make_trigger(db_pool, "rot.hook", webhook_secret=old.encrypt("hook-secret"))
    config, secrets = seal({"token": "t0k3n", "n": 1}, ["token"], old)
    execution = await make_execution(db_pool, "rot.run", config=config, secrets=secrets)
    sealed_pack = await db_pool.execute(  # a pack whose config holds a secret
        "UPDATE pack SET config_secrets = $1 WHERE id = (SELECT min(id) FROM pack)", old.encrypt('{"k": "v"}')
    )
    assert sealed_pack == "UPDATE 1"
    await db_pool.execute(  # a workflow whose state is sealed
        "INSERT INTO workflow_execution (execution, execution_created, definition, digest, status, state, secrets) "
        "VALUES ($1, $2, '{}', 'd', 'running', '{\"sealed\": true}', $3)",
        execution.id,
        execution.created,
        old.encrypt('{"contexts": []}'),
    )

    both = SecretBox("the-new-secret-key", previous="the-old-secret-key")
    changed = await rotate_secrets(db_pool, both, batch=1)
    assert changed == {c.name: 1 if c.table != "enforcement" else 0 for c in SEALED_COLUMNS}
    assert await rotate_secrets(db_pool, both) == dict.fromkeys(changed, 0)  # idempotent

    new_only = SecretBox("the-new-secret-key")
    assert (await Datastore(db_pool, new_only).get("db.password", decrypt=True)).value == "hunter2"  # type: ignore[union-attr]
    assert (await Datastore(db_pool, new_only).get("plain")).value == "not a secret"  # type: ignore[union-attr]
    hook = await db_pool.fetchval("SELECT webhook_secret FROM trigger WHERE ref = 'rot.hook'")
    assert new_only.decrypt(hook) == "hook-secret"
    sealed = await db_pool.fetchval("SELECT secrets FROM execution WHERE id = $1", execution.id)
    assert new_only.decrypt(sealed) == '{"token": "t0k3n"}'
    with pytest.raises(SecretDecryptError):
        old.decrypt(sealed)
    state = await db_pool.fetchval(
        "SELECT secrets FROM workflow_execution WHERE execution = $1", execution.id
    )
    assert new_only.decrypt(state) == '{"contexts": []}'


async def test_a_value_neither_key_opens_stops_the_rotation_with_a_clear_error(db_pool: asyncpg.Pool) -> None:
    await Datastore(db_pool, SecretBox("some-other-key")).set("stray", "x", secret=True)
    with pytest.raises(
        SecretDecryptError, match="neither security.secret_key nor security.previous_secret_key"
    ):
        await rotate_secrets(db_pool, SecretBox("new", previous="old"))
