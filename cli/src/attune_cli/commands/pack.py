"""`attune pack validate|register|install|remove|list`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer
from nats.errors import Error as NatsError

from attune_cli.client import ApiClient, short
from attune_cli.output import print_json, print_table
from attune_shared.audit import record_cli, without_credentials
from attune_shared.bus import Bus, RuleChanged, bus_spec, make_broker, provision, stop_broker
from attune_shared.db import connect, create_pool
from attune_shared.errors import AttuneError
from attune_shared.packs import (
    InstallError,
    InstallReport,
    InvalidPackError,
    RegistrationReport,
    Validation,
    install_pack,
    register_pack,
    remove_pack,
    validate_pack,
)
from attune_shared.packs.report import SECTIONS
from attune_shared.secrets import SecretBox
from attune_shared.settings import Settings, load_settings

pack_app = typer.Typer(help="Check and register packs (directories of triggers, actions, rules, policies).")

INVALID = 2

PathArgument = typer.Argument(..., help="the pack directory (holding pack.yaml)")
JsonOption = typer.Option(False, "-j", "--json", help="print the result as JSON")


@pack_app.command("validate")
def validate(
    path: Path = PathArgument,
    offline: bool = typer.Option(
        False,
        "--offline",
        help="do not use the database: refs to other packs are checked against the bundled core pack only",
    ),
    json_output: bool = JsonOption,
) -> None:
    """Check a pack without registering it; exit 0 when valid, 2 with every problem when not."""
    settings = None if offline else load_settings()
    result = asyncio.run(_validate(path, settings))
    if json_output:
        print_json(
            {
                "valid": result.valid,
                "pack": result.pack_ref,
                "path": result.path,
                "problems": [p.__dict__ for p in result.problems],
                "unresolved": [p.__dict__ for p in result.unresolved],
            }
        )
    else:
        for problem in result.problems:
            typer.echo(str(problem))
        for note in result.unresolved:
            typer.echo(f"note: {note} (registers; cannot fire until it is)")
        if result.valid:
            typer.echo(f"pack {result.pack_ref} is valid ({result.path})")
        else:
            count = len(result.problems)
            typer.echo(f"pack {result.path} is invalid: {count} problem{'s' if count != 1 else ''}", err=True)
    if not result.valid:
        raise typer.Exit(INVALID)


async def _validate(path: Path, settings: Settings | None) -> Validation:
    if settings is None:
        return await validate_pack(path)
    conn = await connect(settings.database, application_name="attune-cli")
    try:
        return await validate_pack(path, conn)
    finally:
        await conn.close()


@pack_app.command("register")
def register(
    path: Path = PathArgument,
    strict: bool = typer.Option(
        False,
        "--strict",
        help="refuse the pack when a workflow fails inspection (by default it registers, warned)",
    ),
    json_output: bool = JsonOption,
) -> None:
    """Register a pack (create, update, remove its components) and announce its rule changes."""
    settings = load_settings()
    try:
        report = asyncio.run(_register(path, settings, strict))
    except InvalidPackError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        typer.echo(f"pack {exc.path} is invalid: nothing was registered", err=True)
        raise typer.Exit(INVALID) from None
    published = asyncio.run(_announce(settings, report.rule_changes))
    if json_output:
        print_json({**report.model_dump(mode="json"), "published": published})
        return
    _print_report(report)
    for ref, problems in report.workflow_problems.items():
        lines = "\n".join(f"  {p}" for p in problems)
        typer.echo(f"warning: workflow {ref} fails inspection; it will fail when run:\n{lines}", err=True)
    if published < len(report.rule_changes):
        typer.echo(
            f"warning: {len(report.rule_changes) - published} rule change(s) were not published; "
            "services pick them up when they reconcile or restart",
            err=True,
        )


async def _register(path: Path, settings: Settings, strict: bool) -> RegistrationReport:
    conn = await connect(settings.database, application_name="attune-cli")
    try:
        try:
            report = await register_pack(conn, path, strict=strict, box=SecretBox.of(settings.security))
        except InvalidPackError as exc:
            await record_cli(
                conn, "pack.register", str(path), ok=False, details={"problems": len(exc.problems)}
            )
            raise
        await record_cli(conn, "pack.register", report.pack_ref, details={"path": str(path)})
        return report
    finally:
        await conn.close()


async def _announce(settings: Settings, changes: list[RuleChanged]) -> int:
    """Publish rule changes after the commit; returns how many went out (a failure is reported, not raised)."""
    if not changes:
        return 0
    spec = bus_spec(settings.nats)
    broker = make_broker(settings.nats, "cli")
    published = 0
    try:
        await asyncio.wait_for(broker.connect(), timeout=settings.nats.connect_timeout)
        await provision(broker.connection, spec)
        bus = Bus(broker, spec, timeout=settings.nats.publish_timeout)
        for change in changes:
            await bus.rule_changed(change)
            published += 1
    except (AttuneError, NatsError, TimeoutError, OSError) as exc:
        detail = str(exc) or type(exc).__name__
        typer.echo(f"publishing rule changes to {settings.nats.url} failed: {detail}", err=True)
    finally:
        await stop_broker(broker)
    return published


def _print_report(report: RegistrationReport) -> None:
    rows: list[dict[str, Any]] = []
    for name in SECTIONS:
        changes = report.section(name)
        rows.append(
            {
                "kind": name,
                "created": len(changes.created),
                "updated": len(changes.updated),
                "unchanged": len(changes.unchanged),
                "removed": len(changes.removed),
            }
        )
    print_table(rows, ["kind", "created", "updated", "unchanged", "removed"], title=f"pack {report.pack_ref}")
    for name in SECTIONS:
        changes = report.section(name)
        for outcome in ("created", "updated", "removed"):
            for ref in getattr(changes, outcome):
                typer.echo(f"  {outcome:<8} {ref}")
    for note in report.unresolved:
        typer.echo(f"  note     {note}: the rule cannot fire until it is")
    if not report.changed:
        typer.echo(f"pack {report.pack_ref} is unchanged ({report.path})")
    else:
        typer.echo(f"pack {report.pack_ref} registered from {report.path}")


@pack_app.command("install")
def install(
    source: str = typer.Argument(
        ..., help="a git URL (URL@ref for a branch, tag or commit), a directory or a .tar.gz"
    ),
    force: bool = typer.Option(
        False, "--force", help="install even if stackstorm_version or python_versions exclude this system"
    ),
    json_output: bool = JsonOption,
) -> None:
    """Install a pack: fetch it, build its virtual environment from requirements.txt, check its python
    actions and sensors import, register it. A failure leaves the installed version as it was."""
    settings = load_settings()
    try:
        report = asyncio.run(_install(source, settings, force))
    except InvalidPackError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        typer.echo(f"pack {source} is invalid: nothing was installed", err=True)
        raise typer.Exit(INVALID) from None
    except InstallError as exc:
        typer.echo(f"cannot install {source}: {exc}", err=True)
        raise typer.Exit(1) from None
    published = asyncio.run(_announce(settings, report.rule_changes))
    if json_output:
        print_json({**report.model_dump(mode="json", exclude={"rule_changes"}), "published": published})
        return
    if report.registration is not None:
        _print_report(report.registration)
    previous = f" (was {report.previous_version})" if report.previous_version else ""
    typer.echo(f"pack {report.pack_ref} {report.version} {report.outcome}{previous}: {report.path}")


async def _install(source: str, settings: Settings, force: bool) -> InstallReport:
    pool = await create_pool(settings.database, max_size=2)
    shown = without_credentials(source)
    try:
        try:
            report = await install_pack(
                pool, source, settings.packs, force=force, box=SecretBox.of(settings.security)
            )
        except (InvalidPackError, InstallError) as exc:
            await record_cli(pool, "pack.install", shown, ok=False, details={"error": str(exc)[:1000]})
            raise
        await record_cli(
            pool, "pack.install", report.pack_ref, details={"source": shown, "version": report.version}
        )
        return report
    finally:
        await pool.close()


@pack_app.command("remove")
def remove(ref: str = typer.Argument(..., help="the pack ref")) -> None:
    """Remove a pack: every component, and the files and virtual environment of an installed pack."""
    settings = load_settings()
    try:
        changes = asyncio.run(_remove(ref, settings))
    except InstallError as exc:
        typer.echo(f"cannot remove {ref}: {exc}", err=True)
        raise typer.Exit(1) from None
    asyncio.run(_announce(settings, changes))
    typer.echo(f"pack {ref} removed")


async def _remove(ref: str, settings: Settings) -> list[RuleChanged]:
    pool = await create_pool(settings.database, max_size=2)
    try:
        try:
            changes = await remove_pack(pool, ref, settings.packs)
        except InstallError as exc:
            await record_cli(pool, "pack.delete", ref, ok=False, details={"error": str(exc)[:1000]})
            raise
        await record_cli(pool, "pack.delete", ref)
        return changes
    finally:
        await pool.close()


@pack_app.command("list")
def list_packs(
    limit: int = typer.Option(100, "--limit", "-n", min=1, max=1000), json_output: bool = JsonOption
) -> None:
    """List registered packs (through the API)."""
    page = ApiClient().get("/api/v1/packs", {"limit": limit})
    if json_output:
        print_json(page["data"])
        return
    rows = [{**p, "source": short(p.get("source") or "(registered in place)", 50)} for p in page["data"]]
    print_table(rows, ["ref", "version", "source", "path"], title="packs")
