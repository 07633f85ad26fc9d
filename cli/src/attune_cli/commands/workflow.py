"""`attune workflow validate FILE`: check an Orquesta workflow file before registering its pack."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import typer

from attune_cli.output import err_console, print_json
from attune_shared.db import connect
from attune_shared.errors import AttuneError
from attune_shared.settings import load_settings
from attune_shared.workflows.registration import CheckedWorkflow, check_workflow

workflow_app = typer.Typer(help="Orquesta workflows: check a workflow file.", no_args_is_help=True)

INVALID = 2


@workflow_app.command("validate")
def validate(
    path: Path = typer.Argument(..., help="the workflow file (YAML)", exists=True, dir_okay=False),
    offline: bool = typer.Option(
        False, "--offline", help="do not read the catalog: the actions the workflow names are not checked"
    ),
    json_output: bool = typer.Option(False, "-j", "--json", help="print the result as JSON"),
) -> None:
    """Check a workflow: its syntax, unknown and unreachable tasks, expressions, variables used before
    they are set and, with the catalog (the database, when reachable), its actions and their input.
    Exit 0 when it is valid, 2 with one line per error (file, task and field, message)."""
    checked, note = asyncio.run(_check(path.resolve(), offline))
    if json_output:
        print_json({"valid": not checked.errors, "file": str(path), "errors": checked.errors, "note": note})
    else:
        if note:
            err_console.print(note, highlight=False)
        for problem in checked.problems():
            typer.echo(f"{path}:{problem.field}: {problem.message}")
        if checked.errors:
            count = len(checked.errors)
            typer.echo(f"workflow {path} is invalid: {count} error{'s' if count != 1 else ''}", err=True)
        else:
            typer.echo(f"workflow {path} is valid")
    if checked.errors:
        raise typer.Exit(INVALID)


async def _check(path: Path, offline: bool) -> tuple[CheckedWorkflow, str | None]:
    if offline:
        return await check_workflow(path), "offline: the actions it names were not checked"
    settings = load_settings()
    try:
        conn = await connect(settings.database, application_name="attune-cli", wait=0)
        try:
            return await check_workflow(path, db=conn), None
        finally:
            await conn.close()
    except (AttuneError, OSError, asyncpg.PostgresError) as exc:
        note = f"catalog unreachable ({exc}): the actions it names were not checked"
        return await check_workflow(path), note
