"""`attune apikey create|list|revoke`: API keys, straight against the database (bootstraps the first)."""

from __future__ import annotations

import asyncio
from typing import Any

import typer

from attune_cli.output import console, err_console, print_json, print_table
from attune_shared.apikeys import CreatedKey, create_api_key
from attune_shared.db import connect
from attune_shared.models.identity import Role
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
    json_output: bool = typer.Option(False, "-j", "--json", help="print JSON"),
) -> None:
    """Create an API key and print it (the only time it is shown)."""
    if role not in ("admin", "operator", "viewer"):
        raise typer.BadParameter("must be admin, operator or viewer", param_hint="--role")
    settings = load_settings()
    created = asyncio.run(_create(settings.database, role, login, name))  # type: ignore[arg-type]
    if json_output:
        print_json(
            {
                "key": created.key,
                "id": created.api_key.id,
                "role": created.api_key.role,
                "login": created.identity.login,
                "name": created.api_key.name,
                "prefix": created.api_key.prefix,
            }
        )
        return
    console.print(created.key, highlight=False, soft_wrap=True)
    err_console.print(
        f"API key {created.api_key.id} ({created.api_key.role}, login {created.identity.login}): store it now, "
        "it is not shown again. Use it as ATTUNE_API_KEY or the X-API-Key header."
    )


async def _create(database: DatabaseSettings, role: Role, login: str, name: str) -> CreatedKey:
    conn = await connect(database, application_name="attune-cli")
    try:
        return await create_api_key(conn, role=role, login=login, name=name)
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
        ["id", "login", "role", "name", "prefix", "created", "last_used_at", "revoked_at"],
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
        return await ApiKeyRepository(conn).revoke(key_id)
    finally:
        await conn.close()
