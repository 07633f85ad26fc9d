"""`attune action list|get` (through the API)."""

from __future__ import annotations

from typing import Any

import typer

from attune_cli.client import ApiClient, short
from attune_cli.output import console, print_json, print_table

action_app = typer.Typer(help="Actions: what rules and `attune run` can execute.", no_args_is_help=True)

JsonOption = typer.Option(False, "-j", "--json", help="print JSON")


@action_app.command("list")
def list_actions(
    pack: str | None = typer.Option(None, "--pack", help="only this pack's actions"),
    ref: str | None = typer.Option(None, "--ref", help="a ref or a wildcard such as 'core.*'"),
    limit: int = typer.Option(100, "--limit", "-n", min=1, max=1000),
    json_output: bool = JsonOption,
) -> None:
    """List actions, newest first."""
    page = ApiClient().get("/api/v1/actions", {"pack": pack, "ref": ref, "limit": limit})
    if json_output:
        print_json(page["data"])
        return
    rows = [
        {**a, "description": short(a["description"], 70), "enabled": "yes" if a["enabled"] else "no"}
        for a in page["data"]
    ]
    print_table(rows, ["ref", "runner_type", "enabled", "description"], title="actions")


@action_app.command("get")
def get_action(
    ref: str = typer.Argument(..., help="the action ref, e.g. core.echo"), json_output: bool = JsonOption
) -> None:
    """Show an action and its parameters."""
    action = ApiClient().get(f"/api/v1/actions/{ref}")
    if json_output:
        print_json(action)
        return
    for field in (
        "ref",
        "description",
        "runner_type",
        "entry_point",
        "output_format",
        "timeout_seconds",
        "max_retries",
        "enabled",
    ):
        console.print(f"[bold]{field}:[/] {'' if action[field] is None else action[field]}", highlight=False)
    print_table(
        _parameters(action["parameters_schema"]),
        ["name", "type", "required", "default", "description"],
        title="parameters",
    )


def _parameters(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required") or [])
    rows = []
    for name, spec in (schema.get("properties") or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        rows.append(
            {
                "name": name,
                "type": spec.get("type", ""),
                "required": "yes" if name in required else "",
                "default": short(spec["default"], 30) if "default" in spec else "",
                "description": short(spec.get("description", ""), 60),
            }
        )
    return rows
