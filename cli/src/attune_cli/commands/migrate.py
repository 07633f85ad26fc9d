from __future__ import annotations

import asyncio

import typer

from attune_cli.output import console, err_console, print_json
from attune_shared.db import connect
from attune_shared.migrations import MigrationReport, load_migrations
from attune_shared.migrations import migrate as run_migrations
from attune_shared.packs import RegistrationReport, register_core_pack
from attune_shared.settings import load_settings


def migrate(
    json_output: bool = typer.Option(False, "-j", "--json", help="print the report as JSON"),
    seed: bool = typer.Option(
        True, "--seed/--no-seed", help="register the bundled core pack after migrating"
    ),
) -> None:
    """Apply pending database migrations (idempotent; safe to run from several replicas at once)."""
    settings = load_settings()
    report, core = asyncio.run(_migrate(settings.database, settings.timescale.required, seed))
    for warning in report.warnings:
        err_console.print(f"[bold yellow]attune: warning:[/] {warning}", highlight=False, soft_wrap=True)
    if json_output:
        print_json({**report.__dict__, "core_pack": None if core is None else core.model_dump(mode="json")})
        return
    flavour = "TimescaleDB" if report.timescale else "PostgreSQL without TimescaleDB"
    console.print(f"database: {flavour}")
    for name in report.applied:
        console.print(f"  applied  {name}")
    for name in report.not_applicable:
        console.print(f"  skipped  {name} (not for this database)", style="dim")
    console.print(f"{len(report.applied)} applied, {len(report.already_applied)} already applied")
    if core is not None:
        console.print(
            f"core pack: {'registered' if core.changed else 'unchanged'} ({core.path})", soft_wrap=True
        )


async def _migrate(  # type: ignore[no-untyped-def]
    database, timescale_required: bool, seed: bool
) -> tuple[MigrationReport, RegistrationReport | None]:
    migrations = load_migrations(database.migrations_dir)
    conn = await connect(database, application_name="attune-migrate")
    try:
        report = await run_migrations(conn, migrations, timescale_required=timescale_required)
        return report, await register_core_pack(conn) if seed else None
    finally:
        await conn.close()
