"""`attune key set|get|list|delete`: the datastore, through the API (``ATTUNE_API_URL``,
``ATTUNE_API_KEY``). `attune key rotate` re-encrypts the secrets at rest (see docs/deploy.md)."""

from __future__ import annotations

import asyncio
from typing import Any

import typer

from attune_cli.client import ApiClient, parse_value
from attune_cli.output import console, fail, print_json, print_table
from attune_shared.audit import record_cli
from attune_shared.db import connect
from attune_shared.rotation import rotate_secrets
from attune_shared.secrets import SecretBox, SecretDecryptError
from attune_shared.settings import Settings, load_settings

key_app = typer.Typer(help="The datastore: keys automations read (st2kv).", no_args_is_help=True)

ScopeOption = typer.Option("system", "--scope", help="system, or user (your own keys)")
UserOption = typer.Option(None, "--user", help="another user's user-scoped keys (admin)")
JsonOption = typer.Option(False, "-j", "--json", help="print JSON")


def _path(name: str) -> str:
    return f"/api/v1/keys/{name}"


@key_app.command("set")
def set_key(
    name: str = typer.Argument(..., help="the key's name, e.g. deploy.token"),
    value: str = typer.Argument(..., help="the value: JSON when it parses (5, true, {...}), else text"),
    scope: str = ScopeOption,
    user: str | None = UserOption,
    encrypt: bool = typer.Option(False, "--encrypt", help="a secret: encrypted at rest, masked when shown"),
    ttl: float | None = typer.Option(None, "--ttl", min=0.001, help="seconds until the key disappears"),
    description: str = typer.Option("", "--description"),
    json_output: bool = JsonOption,
) -> None:
    """Create or replace a key."""
    body = {
        "value": parse_value(value),
        "scope": scope,
        "user": user,
        "secret": encrypt,
        "ttl": ttl,
        "description": description,
    }
    _show(ApiClient().request("PUT", _path(name), json=body), json_output)


@key_app.command("get")
def get_key(
    name: str = typer.Argument(..., help="the key's name"),
    scope: str = ScopeOption,
    user: str | None = UserOption,
    decrypt: bool = typer.Option(False, "--decrypt", help="show a secret in clear (admin, or your own key)"),
    json_output: bool = JsonOption,
) -> None:
    """Show a key (a secret as ******** unless --decrypt)."""
    params = {"scope": scope, "user": user, "decrypt": str(decrypt).lower()}
    _show(ApiClient().get(_path(name), params), json_output)


@key_app.command("list")
def list_keys(
    prefix: str | None = typer.Option(None, "--prefix", help="only keys whose name starts with this"),
    scope: str | None = typer.Option(
        None, "--scope", help="system or user (default: both that you may read)"
    ),
    user: str | None = UserOption,
    decrypt: bool = typer.Option(False, "--decrypt", help="show secrets in clear"),
    limit: int = typer.Option(100, "--limit", "-n", min=1, max=1000, help="keys per page"),
    all_pages: bool = typer.Option(False, "--all", help="every page, not just the first"),
    json_output: bool = JsonOption,
) -> None:
    """List keys by name."""
    client = ApiClient()
    keys: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params = {"prefix": prefix, "scope": scope, "user": user, "after": after, "limit": limit}
        page = client.get("/api/v1/keys", {**params, "decrypt": str(decrypt).lower()})
        keys += page["data"]
        after = page["next"]
        if not all_pages or after is None:
            break
    if json_output:
        print_json(keys)
        return
    print_table([_row(k) for k in keys], ["name", "scope", "user", "value", "expires_at"], title="keys")
    if after is not None:
        console.print(f"more: --all, or the next page starts after {after}")


@key_app.command("delete")
def delete_key(
    name: str = typer.Argument(..., help="the key's name"),
    scope: str = ScopeOption,
    user: str | None = UserOption,
) -> None:
    """Delete a key."""
    ApiClient().request(
        "DELETE", _path(name), params={k: v for k, v in (("scope", scope), ("user", user)) if v}
    )
    console.print(f"deleted {scope} key {name}")


@key_app.command("rotate")
def rotate() -> None:
    """Re-encrypt every stored secret with security.secret_key (the old key as
    security.previous_secret_key); works on the database directly. See docs/deploy.md."""
    settings = load_settings()
    if settings.security.previous_secret_key is None:
        fail(
            "nothing to rotate from: set ATTUNE__SECURITY__PREVIOUS_SECRET_KEY to the old key "
            "(and ATTUNE__SECURITY__SECRET_KEY to the new one)",
            code=2,
        )
    box = SecretBox.of(settings.security)
    changed = asyncio.run(_rotate(settings, box))
    for column, count in changed.items():
        console.print(f"{column}: {count} re-encrypted")
    console.print("done: every stored secret is under security.secret_key; previous_secret_key may go")


async def _rotate(settings: Settings, box: SecretBox) -> dict[str, int]:
    conn = await connect(settings.database, application_name="attune-key-rotate")
    try:
        try:
            changed = await rotate_secrets(conn, box)
        except SecretDecryptError as exc:
            await record_cli(conn, "secrets.rotate", None, ok=False, details={"error": str(exc)})
            raise
        await record_cli(conn, "secrets.rotate", None, details={"re_encrypted": changed})
        return changed
    finally:
        await conn.close()


def _row(key: dict[str, Any]) -> dict[str, Any]:
    value = key["value"]
    return {**key, "value": value if isinstance(value, str) else repr(value), "user": key["user"] or ""}


def _show(key: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(key)
    else:
        print_table([_row(key)], ["name", "scope", "user", "value", "secret", "expires_at"])
