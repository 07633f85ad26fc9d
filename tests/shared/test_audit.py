"""The audit log's table: append-only (updates, deletes and truncation refused; retention's deletes
only), and what the shared package records for CLI commands."""

import asyncpg
import pytest

from attune_shared.audit import cli_actor, outcome_of, record_cli, without_credentials
from attune_shared.repos import AuditRepository, NewAuditRecord
from attune_shared.retention import purge_expired
from attune_shared.settings import RetentionSettings


async def _append(db: asyncpg.Pool, action: str = "rule.enable") -> int:
    record = await AuditRepository(db).append(
        NewAuditRecord(actor="alice", action=action, outcome="success", source="api", target="demo.rule")
    )
    return record.id


async def test_records_cannot_be_changed_deleted_or_truncated(db_pool: asyncpg.Pool) -> None:
    id = await _append(db_pool)
    for statement in (
        "UPDATE audit_log SET actor = 'mallory' WHERE id = $1",
        "DELETE FROM audit_log WHERE id = $1",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await db_pool.execute(statement, id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db_pool.execute("TRUNCATE audit_log")
    [row] = await AuditRepository(db_pool).list(actor="alice")
    assert row.id == id and row.target == "demo.rule"
    assert not any(hasattr(AuditRepository, name) for name in ("update", "delete", "upsert", "delete_by_ref"))


async def test_retention_deletes_only_expired_records(db_pool: asyncpg.Pool) -> None:
    await db_pool.execute(
        "INSERT INTO audit_log (created, actor, action, outcome, source) "
        "VALUES (now() - interval '400 days', 'old', 'rule.enable', 'success', 'api')"
    )
    fresh = await _append(db_pool)
    deleted = await purge_expired(db_pool, RetentionSettings())
    assert deleted is not None and deleted["audit_log"] == 1
    assert await db_pool.fetchval("SELECT array_agg(id) FROM audit_log") == [fresh]


async def test_cli_records_name_the_os_user(db_pool: asyncpg.Pool) -> None:
    await record_cli(db_pool, "apikey.revoke", "7", ok=False)
    [row] = await AuditRepository(db_pool).list(action="apikey.*")
    assert row.actor == cli_actor() and row.actor.startswith("cli:")
    assert (row.source, row.outcome, row.status, row.target) == ("cli", "error", 1, "7")


def test_outcomes_and_credentials() -> None:
    assert [outcome_of(s) for s in (200, 204, 401, 403, 404, 422, 429, 500)] == [
        "success",
        "success",
        "denied",
        "denied",
        "error",
        "error",
        "denied",
        "error",
    ]
    assert (
        without_credentials("https://bot:tok@git.example.com/p.git@v1") == "https://git.example.com/p.git@v1"
    )
    assert without_credentials("git@github.com:org/pack.git") == "git@github.com:org/pack.git"
    assert without_credentials("/opt/packs/demo") == "/opt/packs/demo"
