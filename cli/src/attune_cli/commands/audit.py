"""`attune audit list`: the audit log (admin), through the API."""

from __future__ import annotations

import typer

from attune_cli.client import ApiClient
from attune_cli.output import print_json, print_table

audit_app = typer.Typer(
    help="The audit log: who changed what, when, from where, and how it ended (admin).",
    no_args_is_help=True,
)


@audit_app.command("list")
def list_audit(
    actor: str = typer.Option(None, "--actor", help="a login, or cli:<user> for database commands"),
    action: str = typer.Option(None, "--action", help="an action, or a wildcard such as rule.*"),
    target: str = typer.Option(None, "--target", help="exact target, e.g. a rule's ref"),
    outcome: str = typer.Option(None, "--outcome", help="success, denied or error"),
    since: str = typer.Option(None, "--since", help="at or after (ISO 8601)"),
    until: str = typer.Option(None, "--until", help="before (ISO 8601)"),
    before_id: int = typer.Option(None, "--before-id", help="the `next` of a previous page"),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000),
    json_output: bool = typer.Option(False, "-j", "--json", help="print JSON ({data, next})"),
) -> None:
    """List audit records, newest first."""
    query = {
        "actor": actor,
        "action": action,
        "target": target,
        "outcome": outcome,
        "since": since,
        "until": until,
        "before_id": before_id,
        "limit": limit,
    }
    result = ApiClient().get("/api/v1/audit", query)
    if json_output:
        print_json(result)
        return
    print_table(
        result["data"],
        ["id", "created", "actor", "action", "target", "outcome", "status", "remote_addr"],
        title="audit log" + (f" (more: --before-id {result['next']})" if result["next"] else ""),
    )
