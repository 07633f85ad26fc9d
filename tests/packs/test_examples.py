"""The examples pack does what docs/packs.md says: which rules match which alert, with valid parameters."""

from __future__ import annotations

from typing import Any

import pytest

from attune_shared.packs import CORE_PACK_DIR, LoadedPack, load_pack
from attune_shared.parameters import validate_parameters
from attune_shared.rules import RuleDefinition, build_context, evaluate_criteria, render_params

EXAMPLES = load_pack(CORE_PACK_DIR.parent / "examples")
CORE = load_pack(CORE_PACK_DIR)
ACTIONS = {a.ref: a.values["parameters_schema"] for p in (EXAMPLES, CORE) for a in p.of("action")}


def matching(pack: LoadedPack, payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Rule ref -> rendered, validated action parameters, for every enabled rule matching ``payload``."""
    found = {}
    for component in pack.of("rule"):
        values = {k: v for k, v in component.values.items() if k != "is_adhoc"}
        rule = RuleDefinition.model_validate({**values, "pack_ref": pack.ref})
        if not rule.enabled or rule.trigger_ref != "examples.alert":
            continue
        context = build_context(payload, event={"id": 1}, rule=rule, pack_config=pack.values["config"])
        if evaluate_criteria(rule.criteria, context, condition=rule.condition).matched:
            params = render_params(rule.action_params, context)
            found[rule.ref] = validate_parameters(params, ACTIONS[rule.action_ref])
    return found


def test_the_walkthrough_alert() -> None:
    payload = {"host": "web-1", "severity": "critical", "message": "disk full", "count": 5, "threshold": 3}
    found = matching(EXAMPLES, payload)
    assert set(found) == {"examples.page_on_critical", "examples.remediate_disk", "examples.web_warnings"}
    assert found["examples.page_on_critical"] == {
        "channel": "#ops-oncall",
        "severity": "critical",
        "message": "web-1: disk full (rule examples.page_on_critical)",
    }
    assert found["examples.remediate_disk"] == {"host": "web-1", "seconds": 1, "exit_code": 0}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"host": "db-3", "severity": "info", "message": "slow queries"}, {"examples.triage_production"}),
        (
            {"host": "app-1", "severity": "warning", "message": "x", "tags": ["production"], "count": 4},
            {"examples.triage_production"},
        ),
        (
            {
                "host": "app-1",
                "severity": "info",
                "message": "x",
                "checks": [{"name": "disk-io", "status": "failed"}],
            },
            {"examples.failed_disk_check"},
        ),
        ({"host": "web-2", "severity": "warning", "message": "maintenance window"}, set()),
    ],
)
def test_which_rules_match(payload: dict[str, Any], expected: set[str]) -> None:
    assert set(matching(EXAMPLES, payload)) == expected


def test_triage_parameters_keep_their_types() -> None:
    payload = {"host": "db-1", "severity": "warning", "message": "x", "tags": ["production"], "count": 4}
    assert matching(EXAMPLES, payload)["examples.triage_production"] == {
        "host": "db-1",
        "severity": "warning",
        "count": 4,
        "tags": ["production"],
        "page_threshold": 3,
    }
