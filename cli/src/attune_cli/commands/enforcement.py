"""`attune enforcement list|get` (through the API): what rules did with events, and why they failed."""

from __future__ import annotations

import typer
from rich.markup import escape

from attune_cli.client import ApiClient, short
from attune_cli.output import console, print_json, print_table

enforcement_app = typer.Typer(
    help="Enforcements: a rule matched an event (or failed to: `disabled` with the reason).",
    no_args_is_help=True,
)

JsonOption = typer.Option(False, "-j", "--json", help="print JSON")


@enforcement_app.command("list")
def list_enforcements(
    rule: str | None = typer.Option(None, "--rule", help="a rule ref or wildcard"),
    status: str | None = typer.Option(None, "--status", help="created, processed or disabled"),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000),
    json_output: bool = JsonOption,
) -> None:
    """List enforcements, newest first; a `disabled` one says why in `failure_reason`."""
    page = ApiClient().get("/api/v1/enforcements", {"rule_ref": rule, "status": status, "limit": limit})
    if json_output:
        print_json(page["data"])
        return
    rows = [{**e, "failure_reason": short(e["failure_reason"] or "", 80)} for e in page["data"]]
    print_table(
        rows, ["id", "rule_ref", "event", "status", "created", "failure_reason"], title="enforcements"
    )


@enforcement_app.command("get")
def get_enforcement(
    id: int = typer.Argument(..., help="the enforcement id"), json_output: bool = JsonOption
) -> None:
    """Show an enforcement: its rule, event, status, reason and executions."""
    enforcement = ApiClient().get(f"/api/v1/enforcements/{id}")
    if json_output:
        print_json(enforcement)
        return
    for field in (
        "id",
        "rule_ref",
        "trigger_ref",
        "event",
        "status",
        "failure_reason",
        "created",
        "resolved_at",
    ):
        value = enforcement[field]
        console.print(f"[bold]{field}:[/] {escape('' if value is None else str(value))}", highlight=False)
    console.print(f"[bold]parameters:[/] {escape(short(enforcement['config'], 200))}", highlight=False)
    for x in enforcement["executions"]:
        console.print(f"execution {x['id']}: {x['action_ref']} {x['status']}", highlight=False, markup=False)
