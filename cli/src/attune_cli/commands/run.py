"""`attune run ACTION_REF key=value …`: run an action and wait for its result."""

from __future__ import annotations

import typer

from attune_cli.client import ApiClient, parse_params
from attune_cli.commands.execution import show, wait
from attune_cli.output import console, err_console, fail, print_json


def run(
    action_ref: str = typer.Argument(..., help="the action to run, e.g. core.echo"),
    parameters: list[str] = typer.Argument(
        None, help="key=value parameters (values parsed as JSON when they parse)"
    ),
    timeout_seconds: int | None = typer.Option(None, "--timeout-seconds", help="the action's run timeout"),
    wait_for: float = typer.Option(600.0, "--wait", help="seconds to wait for the result"),
    no_wait: bool = typer.Option(False, "--async", help="print the execution and return without waiting"),
    json_output: bool = typer.Option(False, "-j", "--json", help="print the execution as JSON"),
) -> None:
    """Run an action or a workflow; exit 0 when it completes, 1 when it fails, times out or is
    cancelled. A workflow's task tree and output are shown."""
    try:
        params = parse_params(parameters or [])
    except ValueError as exc:
        fail(str(exc), code=2)
    client = ApiClient()
    body = {"action_ref": action_ref, "parameters": params, "timeout_seconds": timeout_seconds}
    execution = client.post("/api/v1/executions", body)
    if no_wait:
        if json_output:
            print_json(execution)
        else:
            console.print(f"execution {execution['id']} requested ({action_ref})")
        return
    with err_console.status(f"{action_ref} #{execution['id']}: requested") as spinner:
        final = wait(client, execution, wait_for, spinner)
    show(client, final, json_output)
    if final["status"] != "completed":
        if not json_output:
            err_console.print(f"execution {final['id']} {final['status']}", style="bold red")
        raise typer.Exit(1)
