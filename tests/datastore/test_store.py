"""The datastore against a real database: scopes, JSON values, secrets, expiry, prefix pages, and
templates that read it (``st2kv``) the StackStorm way."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from attune_shared.datastore import Datastore, references
from attune_shared.errors import TemplateRenderError
from attune_shared.models import KeyScope
from attune_shared.parameters import complete_parameters
from attune_shared.rules import build_context, render_params
from attune_shared.secrets import MASK, SecretBox

BOX = SecretBox("datastore-test-secret")


@pytest.fixture
def store(db_pool: asyncpg.Pool) -> Datastore:
    return Datastore(db_pool, BOX)


async def test_keys_have_scopes_values_of_any_json_type_and_secrets(
    store: Datastore, db_pool: asyncpg.Pool
) -> None:
    await store.set("region", "eu-west-1")
    await store.set("limits", {"cpu": 2, "hosts": ["a", "b"]}, description="quotas")
    await store.set("region", "us-east-2", scope=KeyScope.USER, user="alice")
    secret = await store.set("api.token", "s3cr3t-value", secret=True)
    assert secret.value is None and secret.shown() == MASK
    assert (await store.get("region")).value == "eu-west-1"  # type: ignore[union-attr]
    assert (await store.get("region", scope=KeyScope.USER, user="alice")).value == "us-east-2"  # type: ignore[union-attr]
    assert await store.get("region", scope=KeyScope.USER, user="bob") is None
    assert (await store.get("limits")).value == {"cpu": 2, "hosts": ["a", "b"]}  # type: ignore[union-attr]
    assert (await store.get("api.token", decrypt=True)).value == "s3cr3t-value"  # type: ignore[union-attr]
    # at rest, the secret is ciphertext
    stored = await db_pool.fetchval("SELECT value FROM key WHERE name = 'api.token'")
    assert "s3cr3t" not in stored and BOX.decrypt(stored) == "s3cr3t-value"
    # setting again replaces; deleting removes
    await store.set("region", "ap-south-1")
    assert (await store.get("region")).value == "ap-south-1"  # type: ignore[union-attr]
    assert await store.delete("region") and not await store.delete("region")


async def test_an_expired_key_vanishes_for_readers_at_once_and_is_purged(
    store: Datastore, db_pool: asyncpg.Pool
) -> None:
    await store.set("lease", "held", ttl=0.3)
    await store.set("forever", "x", ttl=3600)
    assert (await store.get("lease")).value == "held"  # type: ignore[union-attr]
    await asyncio.sleep(0.4)  # the ttl itself is the behaviour under test
    assert await store.get("lease") is None
    assert [k.name for k in await store.list()] == ["forever"]
    assert await store.repo.purge_expired() == 1
    assert await db_pool.fetchval("SELECT count(*) FROM key") == 1
    # setting a key again without a ttl makes it permanent (StackStorm)
    await store.set("forever", "y")
    assert (await store.get("forever")).expires_at is None  # type: ignore[union-attr]


async def test_listing_by_prefix_a_page_at_a_time(store: Datastore) -> None:
    for i in range(7):
        await store.set(f"app.{i}", str(i))
    await store.set("apple", "not under app.")
    await store.set("app.x", "mine", scope=KeyScope.USER, user="alice")
    first = await store.list(prefix="app.", scope=KeyScope.SYSTEM, limit=4)
    rest = await store.list(prefix="app.", scope=KeyScope.SYSTEM, after=first[-1].name, limit=4)
    assert [k.name for k in first + rest] == [f"app.{i}" for i in range(7)]
    assert [k.name for k in await store.list(prefix="app.", scope=KeyScope.USER, user="alice")] == ["app.x"]
    assert [k.name for k in await store.list(prefix="app_")] == []  # `_` is not a wildcard


def test_templates_name_the_keys_they_read() -> None:
    found = references(
        {
            "a": "{{ st2kv.system.db.host }}:{{ st2kv.user.port }}",
            "b": ["{{ st2kv.system['odd-name'] | decrypt_kv }}"],
            "c": "no datastore here",
        }
    )
    assert found == {
        (KeyScope.SYSTEM, "db"),
        (KeyScope.SYSTEM, "db.host"),
        (KeyScope.USER, "port"),
        (KeyScope.SYSTEM, "odd-name"),
    }


async def test_rule_parameters_read_keys_like_stackstorm(store: Datastore) -> None:
    await store.set("db.host", "db-1.internal")
    await store.set("db.port", 5432)
    await store.set("threshold", "90")
    await store.set("token", "t0ps3cret", secret=True)
    await store.set("region", "eu", scope=KeyScope.USER, user="attune")
    params = {
        "url": "postgres://{{ st2kv.system.db.host }}:{{ st2kv.system.db.port }}",
        "port": "{{ st2kv.system.db.port }}",
        "token": "{{ st2kv.system.token | decrypt_kv }}",
        "sealed": "{{ st2kv.system.token }}",
        "region": "{{ st2kv.user.region }}",
        "fallback": "{{ st2kv.system.missing | default('none') }}",
    }
    kv = await store.template_context([params], user="attune")
    rendered = render_params(params, {**build_context({}), **kv})
    assert rendered["url"] == "postgres://db-1.internal:5432"
    assert rendered["port"] == 5432  # a whole-string template keeps the JSON value's type
    assert rendered["token"] == "t0ps3cret"
    assert rendered["sealed"] != "t0ps3cret" and BOX.decrypt(rendered["sealed"]) == "t0ps3cret"
    assert rendered["region"] == "eu"
    assert rendered["fallback"] == "none"


async def test_a_missing_key_is_an_error_naming_it_never_an_empty_string(store: Datastore) -> None:
    kv = await store.template_context(["{{ st2kv.system.nope }}"], user="attune")
    with pytest.raises(
        TemplateRenderError, match=r"action_params.x: datastore key st2kv.system.nope does not exist"
    ):
        render_params({"x": "{{ st2kv.system.nope }}"}, {**build_context({}), **kv})
    with pytest.raises(TemplateRenderError, match="st2kv.system.nope does not exist"):
        render_params({"x": "host {{ st2kv.system.nope }}"}, {**build_context({}), **kv})
    with pytest.raises(TemplateRenderError, match="st2kv.system.nope does not exist"):
        render_params({"x": "{{ st2kv.system.nope | decrypt_kv }}"}, {**build_context({}), **kv})


async def test_parameter_defaults_may_read_the_datastore(store: Datastore) -> None:
    await store.set("default_region", "eu-central-1")
    schema = {
        "type": "object",
        "properties": {
            "region": {"type": "string", "default": "{{ st2kv.system.default_region }}"},
            "count": {"type": "integer", "default": 3},
        },
    }
    kv = await store.template_context([schema], user="attune")
    filled = complete_parameters({}, schema, context={**build_context({}), **kv})
    assert filled == {"region": "eu-central-1", "count": 3}
    assert complete_parameters({"region": "given"}, schema, context=kv) == {"region": "given", "count": 3}
