"""The `attune` command: one Typer app, one sub-module per command group."""

from __future__ import annotations

import logging
import sys

import typer

from attune_cli.commands import (
    action,
    apikey,
    audit,
    bus,
    enforcement,
    event,
    execution,
    inquiry,
    key,
    migrate,
    pack,
    rule,
    run,
    sensor,
    up,
    workflow,
)
from attune_cli.output import fail
from attune_shared.errors import AttuneError, ConfigError, ServerSetupError

app = typer.Typer(
    name="attune",
    help="Attune: event-driven automation on NATS JetStream and PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command(name="migrate")(migrate.migrate)
app.add_typer(bus.bus_app, name="bus")
app.add_typer(bus.dlq_app, name="dlq")
app.add_typer(pack.pack_app, name="pack")
app.add_typer(rule.rule_app, name="rule")
app.add_typer(action.action_app, name="action")
app.add_typer(sensor.sensor_app, name="sensor")
app.command(name="run")(run.run)
app.add_typer(execution.execution_app, name="execution")
app.add_typer(workflow.workflow_app, name="workflow")
app.add_typer(event.event_app, name="event")
app.add_typer(enforcement.enforcement_app, name="enforcement")
app.add_typer(apikey.apikey_app, name="apikey")
app.add_typer(key.key_app, name="key")
app.add_typer(inquiry.inquiry_app, name="inquiry")
app.add_typer(audit.audit_app, name="audit")
app.command(name="up")(up.up)


@app.callback()
def _root() -> None:
    """Attune: event-driven automation on NATS JetStream and PostgreSQL."""


def main() -> None:
    """Console entry point: bad configuration exits 2, other known errors exit 1, one line each."""
    # Library warnings (a NATS connection closing after a publish…) are not for the terminal.
    logging.basicConfig(level=logging.ERROR, format="attune: %(message)s")
    try:
        app()
    except ServerSetupError as exc:
        fail(str(exc), code=2)
    except ConfigError as exc:
        fail(f"config error: {exc}", code=2)
    except AttuneError as exc:
        fail(str(exc), code=1)
    except KeyboardInterrupt:
        sys.exit(130)
