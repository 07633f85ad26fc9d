"""`attune apikey create|list|revoke`: API keys, straight against the database (bootstraps the first).
Creating and revoking are recorded in the audit log (actor ``cli:<OS user>``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import typer

from attune_cli.output import console, err_console, print_json, print_table
from attune_shared.apikeys import ROLES, SCOPES, CreatedKey, create_api_key
from attune_shared.audit import record_cli
from attune_shared.db import connect
from attune_shared.models.identity import ApiKeyScope, Role
from attune_shared.repos import ApiKeyRepository, IdentityRepository
from attune_shared.settings import DatabaseSettings, load_settings

apikey_app = typer.Typer(
    help="API keys (stored hashed; a key is shown once, when created). Works on the database directly.",
    no_args_is_help=True,
)


@apikey_app.command("create")
def create(
    role: str = typer.Option(..., "--role", help="admin, operator or viewer"),
    login: str = typer.Option(
        "admin", "--login", help="the identity the key belongs to (created when missing)"
    ),
    name: str = typer.Option("", "--name", help="what the key is for"),
    scope: str = typer.Option("write", "--scope", help="write, or read: the key may only read"),
    expires_in: float | None = typer.Option(
        None, "--expires-in", min=0.001, help="days until the key stops working (default: never)"
    ),
    json_output: bool = typer.Option(False, "-j", "--json", help="print JSON"),
) -> None:
    """Create an API key and print it (the only time it is shown)."""
    if role not in ROLES:
        raise typer.BadParameter("must be admin, operator or viewer", param_hint="--role")
    if scope not in SCOPES:
        raise typer.BadParameter("must be read or write", param_hint="--scope")
    expires_at = None if expires_in is None else datetime.now(UTC) + timedelta(days=expires_in)
    settings = load_settings()
    created = asyncio.run(_create(settings.database, role, login, name, scope, expires_at))
    if json_output:
        print_json(
            {
                "key": created.key,
                "id": created.api_key.id,
                "role": created.api_key.role,
                "scope": created.api_key.scope,
                "expires_at": None if expires_at is None else expires_at.isoformat(),
                "login": created.identity.login,
                "name": created.api_key.name,
                "prefix": created.api_key.prefix,
            }
        )
        return
    console.print(created.key, highlight=False, soft_wrap=True)
    err_console.print(
        f"API key {created.api_key.id} ({created.api_key.role}, scope {created.api_key.scope}, "
        f"login {created.identity.login}, expires {expires_at or 'never'}): store it now, "
        "it is not shown again. Use it as ATTUNE_API_KEY or the X-API-Key header."
    )


async def _create(
    database: DatabaseSettings,
    role: Role,
    login: str,
    name: str,
    scope: ApiKeyScope,
    expires_at: datetime | None,
) -> CreatedKey:
    conn = await connect(database, application_name="attune-cli")
    try:
        async with conn.transaction():
            created = await create_api_key(
                conn, role=role, login=login, name=name, scope=scope, expires_at=expires_at
            )
            await record_cli(
                conn,
                "apikey.create",
                login,
                details={
                    "api_key_id": created.api_key.id,
                    "role": role,
                    "scope": scope,
                    "expires_at": None if expires_at is None else expires_at.isoformat(),
                },
            )
            return created
    finally:
        await conn.close()


@apikey_app.command("list")
def list_keys(json_output: bool = typer.Option(False, "-j", "--json", help="print JSON")) -> None:
    """List API keys (never the keys themselves)."""
    rows = asyncio.run(_list(load_settings().database))
    if json_output:
        print_json(rows)
        return
    print_table(
        rows,
        [
            "id",
            "login",
            "role",
            "scope",
            "name",
            "prefix",
            "created",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ],
        title="API keys",
    )


async def _list(database: DatabaseSettings) -> list[dict[str, Any]]:
    conn = await connect(database, application_name="attune-cli")
    try:
        keys = await ApiKeyRepository(conn).list()
        identities = await IdentityRepository(conn).get_many({k.identity for k in keys})
        return [
            {
                **k.model_dump(mode="json", exclude={"key_hash", "identity"}),
                "login": identities[k.identity].login if k.identity in identities else None,
            }
            for k in keys
        ]
    finally:
        await conn.close()


@apikey_app.command("revoke")
def revoke(key_id: int = typer.Argument(..., help="the key's id (see `attune apikey list`)")) -> None:
    """Revoke an API key; the bearer tokens issued for it stop working too."""
    if not asyncio.run(_revoke(load_settings().database, key_id)):
        err_console.print(f"[bold red]attune:[/] no active API key {key_id}")
        raise typer.Exit(1)
    console.print(f"API key {key_id} revoked")


async def _revoke(database: DatabaseSettings, key_id: int) -> bool:
    conn = await connect(database, application_name="attune-cli")
    try:
        async with conn.transaction():
            revoked = await ApiKeyRepository(conn).revoke(key_id)
            await record_cli(conn, "apikey.revoke", str(key_id), ok=revoked)
            return revoked
    finally:
        await conn.close()
