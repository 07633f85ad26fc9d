"""`attune rule test`: evaluate a rule file against a payload, offline (like `st2-rule-tester`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.markup import escape

from attune_cli.client import ApiClient, short
from attune_cli.output import console, err_console, print_json, print_table
from attune_shared.errors import DefinitionError
from attune_shared.packs.schemas import instance_booleans, with_defaults
from attune_shared.parameters import schema_errors
from attune_shared.rules import CriterionResult, load_rule_file, try_rule
from attune_shared.yamlfile import YamlError, load_yaml

rule_app = typer.Typer(help="Work with rules.", no_args_is_help=True)

MATCH, NO_MATCH, INVALID = 0, 1, 2


@rule_app.command("test")
def test(
    rule_file: Path = typer.Option(..., "--rule", help="the rule YAML file (Attune or StackStorm form)"),
    payload_file: Path = typer.Option(..., "--payload", help="the trigger payload, a JSON object"),
    schema_file: Path | None = typer.Option(
        None, "--action-schema", help="the action's parameters JSON Schema: validate the rendered parameters"
    ),
    pack_ref: str | None = typer.Option(
        None, "--pack", help="the rule's pack (default: the pack directory the rule file is in, if any)"
    ),
    config_file: Path | None = typer.Option(
        None,
        "--pack-config",
        help="the pack config (JSON or YAML) for {{ pack.config.x }} (default: the config in pack.yaml)",
    ),
    json_output: bool = typer.Option(False, "-j", "--json", help="print the result as JSON"),
) -> None:
    """Evaluate a rule against a payload without any service.

    Prints each criterion with its value and result, then the rendered action parameters.
    Exit 0: the rule matches and its parameters render (and validate, with --action-schema).
    Exit 1: no match (or a disabled rule, or parameters that fail). Exit 2: invalid input.
    """
    pack = _pack_of(rule_file)
    try:
        rule = load_rule_file(rule_file, pack_ref or (pack[0] if pack else None))
    except DefinitionError as exc:
        _invalid(exc.lines())
    payload = _read_document(payload_file, json_only=True)
    if not isinstance(payload, dict):
        _invalid([f"{payload_file}: the payload must be a JSON object, not {_kind(payload)}"])
    schema = _read_document(schema_file, json_only=True) if schema_file is not None else None
    if schema_file is not None:
        problems = schema_errors(schema, field="")
        if problems:
            _invalid(DefinitionError(problems, source=str(schema_file)).lines())
    if config_file is not None:
        config = _read_document(config_file, json_only=False)
    else:
        config = pack[1] if pack and pack[0] == rule.pack_ref else {}
    if not isinstance(config, dict):
        _invalid([f"{config_file}: the pack config must be a mapping, not {_kind(config)}"])

    if schema is not None:  # a YAML 1.1 yes/no where the action's schema means a boolean
        rule = rule.model_copy(update={"action_params": instance_booleans(schema, rule.action_params)})
    trial = try_rule(rule, payload, pack_config=config, parameters_schema=schema)
    if json_output:
        print_json(trial.to_dict())
    else:
        result = trial.criteria
        _print_report(rule.ref, rule.trigger_ref, rule.action_ref, result.condition, result.criteria)
        if result.matched:
            _print_params(
                rule.action_ref, trial.parameters, trial.parameters_error, validated=schema is not None
            )
        verdict = "match" if trial.matched else "no match"
        error = trial.parameters_error
        detail = trial.reason or (f"action parameters: {error['field']}" if error else None)
        _plain(f"result: {verdict}" + (f" ({detail})" if detail and not trial.matched else ""), style="bold")
    raise typer.Exit(MATCH if trial.matched else NO_MATCH)


def _print_report(
    ref: str, trigger_ref: str, action_ref: str, condition: str, criteria: tuple[CriterionResult, ...]
) -> None:
    _plain(f"rule {ref}: trigger {trigger_ref} -> action {action_ref}")
    if not criteria:
        _plain("criteria: none (always matches)")
        return
    _plain(f"criteria (condition {condition}):")
    styles = {"matched": "green", "failed": "red", "error": "red", "skipped": "dim"}
    for c in criteria:
        value = _show(c.value) if c.found else "(missing)"
        line = f"  {c.outcome:<8} {c.key} {c.operator} {_show(c.pattern)}"
        if c.outcome != "skipped":
            line += f"; value {value}"
        _plain(line, style=styles[c.outcome])
        if c.reason:
            _plain(f"           {c.reason}", style=styles[c.outcome])


def _print_params(
    action_ref: str, params: dict[str, Any] | None, error: dict[str, Any] | None, *, validated: bool
) -> None:
    if error is not None:
        kind = "do not render" if error["kind"] == "template" else "are invalid"
        _plain(f"action parameters ({action_ref}) {kind}:", style="red")
        for field, message in error.get("errors") or [(error["field"], error["message"])]:
            _plain(f"  {field}: {message}", style="red")
        return
    _plain(f"action parameters ({action_ref}){' (valid against the schema)' if validated else ''}:")
    _plain(json.dumps(params, indent=2, default=str, ensure_ascii=False))


def _pack_of(rule_file: Path) -> tuple[str, dict[str, Any]] | None:
    """The ref and config (defaults applied) of the pack directory holding ``rules/<rule_file>``."""
    pack_file = rule_file.parent.parent / "pack.yaml"
    if rule_file.parent.name != "rules" or not pack_file.is_file():
        return None
    meta = _read_document(pack_file, json_only=False)
    if not isinstance(meta, dict) or not isinstance(meta.get("ref"), str):
        return None
    config, schema = meta.get("config") or {}, meta.get("config_schema") or {}
    if not isinstance(config, dict) or not isinstance(schema, dict):
        return None
    return meta["ref"], with_defaults(schema, instance_booleans(schema, config))


def _read_document(path: Path, *, json_only: bool) -> Any:
    if not json_only and path.suffix != ".json":
        try:
            return load_yaml(path)
        except YamlError as exc:
            _invalid([str(exc)])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        _invalid([f"{path}: cannot read the file: {exc.strerror or exc}"])
    except UnicodeDecodeError:
        _invalid([f"{path}: not UTF-8 text"])
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        _invalid([f"{path}: invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"])


def _invalid(lines: list[str]) -> NoReturn:
    for line in lines:
        err_console.print(f"[bold red]attune:[/] {escape(line)}", highlight=False, soft_wrap=True)
    raise typer.Exit(INVALID)


def _plain(text: str, style: str | None = None) -> None:
    console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)


def _show(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


# -- `attune rule list|get|enable|disable`: the rules registered, through the API ------------------


@rule_app.command("list")
def list_rules(
    pack: str | None = typer.Option(None, "--pack", help="only this pack's rules"),
    ref: str | None = typer.Option(None, "--ref", help="a ref or a wildcard such as 'examples.*'"),
    enabled: bool | None = typer.Option(
        None, "--enabled/--disabled", help="only enabled (or disabled) rules"
    ),
    limit: int = typer.Option(100, "--limit", "-n", min=1, max=1000),
    json_output: bool = typer.Option(False, "-j", "--json", help="print JSON"),
) -> None:
    """List registered rules, newest first."""
    page = ApiClient().get("/api/v1/rules", {"pack": pack, "ref": ref, "enabled": enabled, "limit": limit})
    if json_output:
        print_json(page["data"])
        return
    rows = [
        {
            **r,
            "enabled": "yes" if r["enabled"] else "no",
            "cannot fire": short("; ".join(r["cannot_fire"]), 60),
        }
        for r in page["data"]
    ]
    print_table(rows, ["ref", "trigger_ref", "action_ref", "enabled", "cannot fire"], title="rules")


@rule_app.command("get")
def get_rule(
    ref: str = typer.Argument(..., help="the rule ref"),
    json_output: bool = typer.Option(False, "-j", "--json", help="print JSON"),
) -> None:
    """Show a registered rule: trigger, criteria, action and parameters."""
    rule = ApiClient().get(f"/api/v1/rules/{ref}")
    if json_output:
        print_json(rule)
        return
    for field in ("ref", "description", "enabled", "trigger_ref", "condition", "action_ref"):
        _plain(f"{field}: {rule[field]}")
    _plain(f"trigger_params: {short(rule['trigger_params'], 100)}")
    _plain(f"criteria: {short(rule['criteria'], 200)}")
    _plain(f"action_params: {short(rule['action_params'], 200)}")
    for reason in rule["cannot_fire"]:
        _plain(f"cannot fire: {reason}", style="red")


@rule_app.command("enable")
def enable_rule(
    ref: str = typer.Argument(..., help="the rule ref"),
    json_output: bool = typer.Option(False, "-j", "--json", help="print JSON"),
) -> None:
    """Enable a rule (needs the operator role)."""
    _toggle(ref, "enable", json_output)


@rule_app.command("disable")
def disable_rule(
    ref: str = typer.Argument(..., help="the rule ref"),
    json_output: bool = typer.Option(False, "-j", "--json", help="print JSON"),
) -> None:
    """Disable a rule (needs the operator role)."""
    _toggle(ref, "disable", json_output)


def _toggle(ref: str, verb: str, json_output: bool) -> None:
    rule = ApiClient().post(f"/api/v1/rules/{ref}/{verb}")
    if json_output:
        print_json(rule)
    else:
        _plain(f"rule {rule['ref']} is {'enabled' if rule['enabled'] else 'disabled'}")
