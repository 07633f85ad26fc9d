"""`attune rule test` end to end, as a subprocess: output, exit codes 0/1/2, --json."""

import json
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
PACK_RULE = FIXTURES / "pack" / "rules" / "on_alert.yaml"
ALERT = FIXTURES / "payloads" / "alert.json"
SCHEMA = FIXTURES / "payloads" / "notify_schema.json"


def attune(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "attune_cli", "rule", "test", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "NO_COLOR": "1"},
    )


def test_a_match_exits_0_and_shows_criteria_and_parameters(tmp_path: Path) -> None:
    result = attune("--rule", PACK_RULE, "--payload", ALERT)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "rule demo.on_alert: trigger demo.alert -> action demo.notify" in out
    assert "criteria (condition any):" in out
    assert 'failed   trigger.severity in ["critical", "error"]; value "warning"' in out
    assert '"warning" is not inside ["critical", "error"]' in out
    assert "matched  trigger.count gt 3; value 4" in out  # threshold from pack.yaml's config_schema default
    assert '"channel": "#oncall"' in out  # channel from pack.yaml's config
    assert '"count": 4,' in out
    assert '"summary": "demo.on_alert: warning on web-1"' in out
    assert "result: match" in out


def test_no_match_exits_1_with_the_reason(tmp_path: Path) -> None:
    payload = tmp_path / "quiet.json"
    payload.write_text(json.dumps({"host": "web-1", "severity": "info", "count": 1}))
    result = attune("--rule", PACK_RULE, "--payload", payload)
    assert result.returncode == 1, result.stderr
    assert "result: no match (no criterion matched (condition any))" in result.stdout
    assert "action parameters" not in result.stdout


def test_json_output_is_parseable() -> None:
    result = attune("--rule", PACK_RULE, "--payload", ALERT, "--action-schema", SCHEMA, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["rule"] == "demo.on_alert"
    assert data["matched"] is True
    assert data["condition"] == "any"
    assert [c["outcome"] for c in data["criteria"]] == ["failed", "matched"]
    assert data["criteria"][1] == {
        "key": "trigger.count",
        "operator": "gt",
        "pattern": 3,
        "value": 4,
        "found": True,
        "outcome": "matched",
        "matched": True,
        "reason": None,
    }
    assert data["action_params"] == {
        "channel": "#oncall",
        "count": 4,
        "summary": "demo.on_alert: warning on web-1",
        "details": {"host": "web-1", "tags": ["production", "web"]},
        "priority": "high",
    }
    assert data["parameters_validated"] is True
    assert data["parameters_error"] is None


def test_parameters_failing_the_schema_exit_1_naming_the_field(tmp_path: Path) -> None:
    payload = tmp_path / "alert.json"
    payload.write_text(json.dumps({"host": "web-1", "severity": "critical", "count": 0, "tags": []}))
    result = attune("--rule", PACK_RULE, "--payload", payload, "--action-schema", SCHEMA)
    assert result.returncode == 1
    assert "action parameters (demo.notify) are invalid:" in result.stdout
    assert "count: 0 is less than the minimum of 1" in result.stdout


def test_stackstorm_rule_with_pack_config_file(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("unused: true\n")
    rule = FIXTURES / "stackstorm" / "github_push.yaml"
    result = attune(
        "--rule", rule, "--payload", FIXTURES / "payloads" / "github_push.json", "--pack-config", config, "-j"
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["rule"] == "ci.github_push_to_main"
    assert data["action_params"]["message"] == "push by ada to refs/heads/main"


def test_a_disabled_rule_does_not_match() -> None:
    rule = FIXTURES / "stackstorm" / "interval.yaml"
    result = attune("--rule", rule, "--payload", ALERT, "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["criteria_matched"] is True
    assert data["matched"] is False
    assert "disabled" in data["reason"]


def test_invalid_inputs_exit_2_with_one_line_naming_file_and_field(tmp_path: Path) -> None:
    bad_rule = FIXTURES / "invalid" / "unknown_operator.yaml"
    result = attune("--rule", bad_rule, "--payload", ALERT)
    assert result.returncode == 2
    assert result.stdout == ""
    assert (
        result.stderr.strip()
        == f"attune: {bad_rule}:criteria.trigger.severity.type: unknown operator 'equalz'"
    )

    bad_json = tmp_path / "payload.json"
    bad_json.write_text('{"host": ')
    result = attune("--rule", PACK_RULE, "--payload", bad_json)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"attune: {bad_json}: invalid JSON: Expecting value (line 1")

    not_object = tmp_path / "list.json"
    not_object.write_text("[1, 2]")
    result = attune("--rule", PACK_RULE, "--payload", not_object)
    assert result.returncode == 2
    assert "the payload must be a JSON object, not list" in result.stderr

    bad_schema = tmp_path / "schema.json"
    bad_schema.write_text('{"type": "obj"}')
    result = attune("--rule", PACK_RULE, "--payload", ALERT, "--action-schema", bad_schema)
    assert result.returncode == 2
    assert f"{bad_schema}:type: 'obj' is not valid" in result.stderr

    result = attune("--rule", tmp_path / "missing.yaml", "--payload", ALERT)
    assert result.returncode == 2
    assert "missing.yaml:(root): cannot read the file: No such file or directory" in result.stderr
