"""`attune inquiry list|get|respond`: questions executions wait on (StackStorm's core.ask)."""

from __future__ import annotations

from typing import Any

import typer

from attune_cli.client import ApiClient, parse_params
from attune_cli.output import console, fail, print_json, print_table

inquiry_app = typer.Typer(help="Inquiries: answer what executions ask (core.ask).", no_args_is_help=True)

JsonOption = typer.Option(False, "-j", "--json", help="print JSON")


@inquiry_app.command("list")
def list_inquiries(
    status: str = typer.Option("pending", "--status", help="pending, responded, timeout or cancelled"),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000),
    json_output: bool = JsonOption,
) -> None:
    """List inquiries (the pending ones by default), newest first."""
    rows = ApiClient().get("/api/v1/inquiries", {"status": status, "limit": limit})["data"]
    if json_output:
        print_json(rows)
        return
    print_table(
        [_row(r) for r in rows],
        ["id", "status", "route", "asks", "users", "roles", "timeout_at"],
        title="inquiries",
    )


@inquiry_app.command("get")
def get_inquiry(
    inquiry_id: int = typer.Argument(..., help="the inquiry (= execution) id"), json_output: bool = JsonOption
) -> None:
    """Show an inquiry: what it asks (its schema) and its answer."""
    inquiry = ApiClient().get(f"/api/v1/inquiries/{inquiry_id}")
    if json_output:
        print_json(inquiry)
        return
    print_table([_row(inquiry)], ["id", "status", "route", "asks", "users", "roles", "timeout_at"])
    console.print("schema:")
    print_json(inquiry["schema"])
    if inquiry["response"] is not None:
        console.print(f"response (by {inquiry['responded_by']}):")
        print_json(inquiry["response"])


@inquiry_app.command("respond")
def respond(
    inquiry_id: int = typer.Argument(..., help="the inquiry (= execution) id"),
    answers: list[str] = typer.Argument(None, help="key=value pairs (values are JSON when they parse)"),
    json_output: bool = JsonOption,
) -> None:
    """Answer an inquiry: `attune inquiry respond 42 continue=true reason="disk replaced"`."""
    try:
        response = parse_params(answers or [])
    except ValueError as exc:
        fail(str(exc), code=2)
    answered = ApiClient().post(f"/api/v1/inquiries/{inquiry_id}/respond", {"response": response})
    if json_output:
        print_json(answered)
        return
    console.print(f"inquiry {inquiry_id}: {answered['status']}")


def _row(inquiry: dict[str, Any]) -> dict[str, Any]:
    properties = (inquiry.get("schema") or {}).get("properties") or {}
    return {
        **inquiry,
        "asks": ", ".join(properties),
        "users": ", ".join(inquiry["users"]),
        "roles": ", ".join(inquiry["roles"]),
        "timeout_at": inquiry["timeout_at"] or "never",
    }
