"""`attune execution list|get|cancel|pause|resume|tail` and the waiting behind `attune run`."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import typer
from rich.status import Status
from rich.tree import Tree

from attune_cli.client import ApiClient, ApiError, short
from attune_cli.output import console, err_console, print_json, print_table
from attune_shared.statuses import ExecutionStatus

execution_app = typer.Typer(
    help="Executions: list, inspect, cancel, pause and resume workflows, follow.", no_args_is_help=True
)

JsonOption = typer.Option(False, "-j", "--json", help="print JSON")
STREAM = "/api/v1/executions/stream"


def is_terminal(status: str) -> bool:
    return ExecutionStatus(status).is_terminal


@execution_app.command("list")
def list_executions(
    status: list[str] = typer.Option(None, "--status", "-s", help="only these statuses (repeatable)"),
    action: str | None = typer.Option(None, "--action", help="an action ref or wildcard"),
    rule: str | None = typer.Option(None, "--rule", help="a rule ref or wildcard"),
    trigger: str | None = typer.Option(None, "--trigger", help="a trigger ref or wildcard"),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000),
    json_output: bool = JsonOption,
) -> None:
    """List executions, newest first."""
    params: dict[str, Any] = {"action_ref": action, "rule_ref": rule, "trigger_ref": trigger, "limit": limit}
    if status:
        params["status"] = status
    page = ApiClient().get("/api/v1/executions", params)
    if json_output:
        print_json(page["data"])
        return
    rows = [{**x, "created": _time(x["created"])} for x in page["data"]]
    print_table(rows, ["id", "action_ref", "status", "created", "rule_ref"], title="executions")


@execution_app.command("get")
def get_execution(
    execution_id: int = typer.Argument(..., help="the execution id"), json_output: bool = JsonOption
) -> None:
    """Show an execution, what caused it, and its result; a workflow's task tree with statuses and durations."""
    client = ApiClient()
    show(client, client.get(f"/api/v1/executions/{execution_id}"), json_output)


@execution_app.command("cancel")
def cancel_execution(
    execution_id: int = typer.Argument(..., help="the execution id"), json_output: bool = JsonOption
) -> None:
    """Cancel an execution (not started: cancelled now; running: its executor stops it)."""
    result = ApiClient().post(f"/api/v1/executions/{execution_id}/cancel")
    if json_output:
        print_json(result)
    else:
        console.print(f"execution {execution_id}: {result['outcome']}")


@execution_app.command("pause")
def pause_execution(
    execution_id: int = typer.Argument(..., help="the workflow's execution id"),
    json_output: bool = JsonOption,
) -> None:
    """Pause a workflow: running tasks finish, no new task starts (nested workflows pause too)."""
    _control(execution_id, "pause", json_output)


@execution_app.command("resume")
def resume_execution(
    execution_id: int = typer.Argument(..., help="the workflow's execution id"),
    json_output: bool = JsonOption,
) -> None:
    """Resume a paused workflow."""
    _control(execution_id, "resume", json_output)


def _control(execution_id: int, request: str, json_output: bool) -> None:
    result = ApiClient().post(f"/api/v1/executions/{execution_id}/{request}")
    if json_output:
        print_json(result)
    else:
        console.print(f"execution {execution_id}: {result['status']}")


@execution_app.command("tail")
def tail(
    execution_id: int | None = typer.Argument(None, help="follow only this execution (until it finishes)"),
    action: str | None = typer.Option(None, "--action", help="only this action ref or wildcard"),
    json_output: bool = typer.Option(False, "-j", "--json", help="one JSON object per line"),
) -> None:
    """Follow execution status changes live (Ctrl-C to stop)."""
    client = ApiClient()
    for event in client.stream(STREAM, {"execution_id": execution_id, "action_ref": action}):
        data = json.loads(event.data)
        status = data.get("new_status") or data.get("status")
        if json_output:
            typer.echo(json.dumps({"event": event.event, "id": event.id or None, **data}))
        elif event.event == "snapshot":
            console.print(f"#{data['execution_id']} {data['action_ref']}: {status}", highlight=False)
        elif event.event == "execution":
            console.print(
                f"{_time(data['at'])}  #{data['execution_id']} {data['action_ref']}: "
                f"{data.get('old_status') or '-'} -> {status}",
                highlight=False,
            )
        else:
            err_console.print(f"{event.event}: {event.data}", highlight=False)
        if execution_id is not None and status and is_terminal(status):
            return


def wait(
    client: ApiClient, execution: dict[str, Any], timeout: float, spinner: Status | None
) -> dict[str, Any]:
    """Follow an execution until it is terminal: the live stream, or polling when the stream breaks."""
    execution_id = execution["id"]
    deadline = time.monotonic() + timeout
    label = f"{execution['action_ref']} #{execution_id}"

    def update(status: str) -> None:
        if spinner is not None:
            spinner.update(f"{label}: {status}")

    try:
        for event in client.stream(STREAM, {"execution_id": execution_id}, read_timeout=min(timeout, 60)):
            data = json.loads(event.data)
            status = data.get("new_status") or data.get("status")
            if status:
                update(status)
                if is_terminal(status):
                    return dict(client.get(f"/api/v1/executions/{execution_id}"))
            if time.monotonic() > deadline:
                break
    except ApiError as exc:
        if exc.status is not None:
            raise
        err_console.print(f"(live stream unavailable, polling: {exc})", highlight=False)
    while time.monotonic() < deadline:
        current = dict(client.get(f"/api/v1/executions/{execution_id}"))
        update(current["status"])
        if is_terminal(current["status"]):
            return current
        time.sleep(0.5)
    raise ApiError(
        f"execution {execution_id} did not finish within {timeout:g} s (still running; see `attune execution get {execution_id}`)"
    )


def show(client: ApiClient, execution: dict[str, Any], json_output: bool) -> None:
    """An execution for people (a workflow with its task tree and its output) or as JSON (a
    workflow's with ``children``, recursively)."""
    workflow = execution.get("workflow_def") is not None
    if json_output:
        print_json(
            {**execution, "children": children_tree(client, execution["id"])} if workflow else execution
        )
        return
    links = execution.get("links") or {}
    rule = (links.get("rule") or {}).get("ref") or execution.get("rule_ref")
    rows = {
        "id": execution["id"],
        "action": execution["action_ref"],
        "status": execution["status"],
        "created": _time(execution["created"]),
        "started": _time(execution.get("started_at")),
        "updated": _time(execution.get("updated")),
        "rule": rule,
        "trigger": execution.get("trigger_ref"),
        "parameters": short(execution.get("config") or {}, 100),
    }
    for name, value in rows.items():
        if value not in (None, ""):
            console.print(f"[bold]{name}:[/] {value}", highlight=False)
    if workflow:
        tree = Tree(f"#{execution['id']} {execution['action_ref']} [bold]{execution['status']}[/]")
        _add_tasks(tree, children_tree(client, execution["id"]))
        console.print("[bold]tasks:[/]")
        console.print(tree, highlight=False)
    result = execution.get("result")
    if workflow and isinstance(result, dict):
        console.print("[bold]output:[/]")
        console.print_json(json.dumps(result.get("output"), default=str))
        if result.get("errors"):
            console.print("[bold]errors:[/]")
            console.print_json(json.dumps(result["errors"], default=str))
    elif result is not None:
        console.print("[bold]result:[/]")
        console.print_json(json.dumps(result, default=str))


def children_tree(client: ApiClient, execution_id: int) -> list[dict[str, Any]]:
    """A workflow's children, oldest first, each a nested workflow's with its ``children``."""
    children: list[dict[str, Any]] = []
    after: int | None = None
    while True:
        page = client.get(f"/api/v1/executions/{execution_id}/children", {"after_id": after})
        children += page["data"]
        after = page["next"]
        if after is None:
            break
    for child in children:
        if child.get("workflow_def") is not None:
            child["children"] = children_tree(client, child["id"])
    return children


def _add_tasks(tree: Tree, children: list[dict[str, Any]]) -> None:
    for child in children:
        item = "" if child.get("task_item") is None else f"[{child['task_item']}]"
        line = (
            f"{child.get('task_name') or '?'}{item}  #{child['id']} {child['action_ref']}  "
            f"[bold]{child['status']}[/]  {_duration(child)}"
        )
        _add_tasks(tree.add(line), child.get("children") or [])


def _duration(execution: dict[str, Any]) -> str:
    """How long it ran: started -> its end (the last update of a finished one), or -> now."""
    started = execution.get("started_at")
    if not started:
        return ""
    end = (
        datetime.fromisoformat(execution["updated"])
        if is_terminal(execution["status"])
        else datetime.now(UTC)
    )
    seconds = max((end - datetime.fromisoformat(started)).total_seconds(), 0.0)
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _time(value: str | None) -> str:
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return value
