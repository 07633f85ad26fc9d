"""`attune sensor list|get|enable|disable` (through the API)."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from attune_cli.client import ApiClient, short
from attune_cli.output import console, print_json, print_table

sensor_app = typer.Typer(help="Sensors: pack sensors and whether their process runs.", no_args_is_help=True)

JsonOption = typer.Option(False, "-j", "--json", help="print JSON")


def _state(sensor: dict[str, Any]) -> str:
    process = sensor.get("process")
    if not sensor["enabled"]:
        return "disabled"
    if not sensor.get("class_name"):
        return "built in" if sensor["runner_type"] == "builtin" else "catalog only"
    return process["status"] if process else "not started"


def _last_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else ""


@sensor_app.command("list")
def list_sensors(
    pack: str | None = typer.Option(None, "--pack", help="only this pack's sensors"),
    limit: int = typer.Option(100, "--limit", "-n", min=1, max=1000),
    json_output: bool = JsonOption,
) -> None:
    """List sensors with the state of their process."""
    page = ApiClient().get("/api/v1/sensors", {"pack": pack, "limit": limit})
    if json_output:
        print_json(page["data"])
        return
    rows = [
        {
            **s,
            "state": _state(s),
            "restarts": (s.get("process") or {}).get("restarts", ""),
            "last error": short(
                ((s.get("process") or {}).get("last_error") or "").splitlines()[-1:] or "", 50
            ),
        }
        for s in page["data"]
    ]
    print_table(rows, ["ref", "state", "restarts", "trigger_types", "last error"], title="sensors")


@sensor_app.command("get")
def get_sensor(ref: str = typer.Argument(..., help="the sensor ref"), json_output: bool = JsonOption) -> None:
    """Show a sensor, its process (host, pid, restarts) and the last error it reported."""
    sensor = ApiClient().get(f"/api/v1/sensors/{ref}")
    if json_output:
        print_json(sensor)
        return
    for field in (
        "ref",
        "description",
        "class_name",
        "entry_point",
        "poll_interval",
        "trigger_types",
        "enabled",
    ):
        console.print(f"[bold]{field}:[/] {escape(str(sensor.get(field)))}", highlight=False)
    console.print(f"[bold]state:[/] {_state(sensor)}", highlight=False)
    process = sensor.get("process")
    if process:
        for field in ("host", "pid", "restarts", "started_at", "last_error_at"):
            console.print(f"[bold]{field}:[/] {escape(str(process.get(field)))}", highlight=False)
        if process.get("last_error"):
            console.print("[bold]last error:[/]", highlight=False)
            console.print(process["last_error"], markup=False, highlight=False)


@sensor_app.command("enable")
def enable_sensor(
    ref: str = typer.Argument(..., help="the sensor ref"), json_output: bool = JsonOption
) -> None:
    """Enable a sensor (operator): a sensor replica starts it."""
    _toggle(ref, "enable", json_output)


@sensor_app.command("disable")
def disable_sensor(
    ref: str = typer.Argument(..., help="the sensor ref"), json_output: bool = JsonOption
) -> None:
    """Disable a sensor (operator): its process is stopped."""
    _toggle(ref, "disable", json_output)


def _toggle(ref: str, verb: str, json_output: bool) -> None:
    sensor = ApiClient().post(f"/api/v1/sensors/{ref}/{verb}")
    if json_output:
        print_json(sensor)
    else:
        console.print(
            f"sensor {sensor['ref']} is {'enabled' if sensor['enabled'] else 'disabled'}", highlight=False
        )
