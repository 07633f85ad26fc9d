"""Each malformed-pack case gives its exact `file:field: message` problem (no database needed)."""

from __future__ import annotations

import pytest

from attune_shared.packs import InvalidPackError, load_pack
from tests.packs.conftest import PackDir


def problems(demo: PackDir) -> list[str]:
    with pytest.raises(InvalidPackError) as info:
        load_pack(demo.path)
    return [str(p) for p in info.value.problems]


def test_demo_pack_is_valid(demo: PackDir) -> None:
    pack = load_pack(demo.path)
    assert pack.ref == "demo"
    assert pack.values["path"] == str(demo.path.resolve())
    assert pack.values["config"] == {"channel": "#ops", "retries": 2}  # schema defaults filled in
    assert [c.ref for c in pack.of("trigger")] == ["demo.alert"]
    rule = pack.of("rule")[0]
    assert rule.values["trigger_ref"] == "demo.alert"
    assert rule.values["action_ref"] == "demo.run"
    policy = pack.of("policy")[0].values
    assert (policy["concurrency_limit"], policy["concurrency_method"], policy["concurrency_group_by"]) == (
        1,
        "cancel",
        ["host"],
    )
    assert policy["rate_limit_max"] is None


MALFORMED = {
    "bad YAML": (
        "rules/on_alert.yaml",
        "ref: on_alert\n  trigger: alert\n",
        "rules/on_alert.yaml:(root): invalid YAML: mapping values are not allowed here (line 2, column 10)",
    ),
    "duplicate YAML key": (
        "triggers/alert.yaml",
        "ref: alert\nref: other\n",
        "triggers/alert.yaml:(root): invalid YAML: duplicate key 'ref' (line 2, column 1)",
    ),
    "not a mapping": (
        "triggers/alert.yaml",
        "- ref: alert\n",
        "triggers/alert.yaml:(root): must be a mapping of keys to values, got a list",
    ),
    "unknown key": (
        "actions/run.yaml",
        "ref: run\nrunner_type: shell\nentry_point: run.sh\ntimout: 5\n",
        "actions/run.yaml:timout: unknown key (did you mean 'timeout'?)",
    ),
    "unknown nested key": (
        "policies/limit.yaml",
        "ref: limit\naction: run\nconcurrency: {limit: 1, metod: cancel}\n",
        "policies/limit.yaml:concurrency.metod: unknown key (did you mean 'method'?)",
    ),
    "bad semver": (
        "pack.yaml",
        "ref: demo\nversion: '1.0'\n",
        "pack.yaml:version: '1.0' is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.0.0)",
    ),
    "version read as a number": (
        "pack.yaml",
        "ref: demo\nversion: 1.0\n",
        "pack.yaml:version: 1.0 is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.0.0)",
    ),
    "bad pack ref": (
        "pack.yaml",
        "ref: Demo\nversion: 1.0.0\n",
        "pack.yaml:ref: 'Demo' is not a valid pack ref: lowercase letters, digits, '_' or '-'",
    ),
    "invalid JSON schema": (
        "triggers/alert.yaml",
        "ref: alert\npayload_schema:\n  type: object\n  properties:\n    host: {type: strin}\n",
        "triggers/alert.yaml:payload_schema.properties.host.type: invalid JSON Schema: "
        "'strin' is not valid under any of the given schemas",
    ),
    "config not matching config_schema": (
        "pack.yaml",
        "ref: demo\nversion: 1.0.0\n"
        "config_schema: {type: object, properties: {retries: {type: integer}}}\nconfig: {retries: three}\n",
        "pack.yaml:config.retries: 'three' is not of type 'integer'",
    ),
    "missing entry point file": (
        "actions/run.yaml",
        "ref: run\nrunner_type: shell\nentry_point: missing.sh\n",
        "actions/run.yaml:entry_point: file actions/missing.sh does not exist",
    ),
    "entry point outside the pack": (
        "actions/run.yaml",
        "ref: run\nrunner_type: shell\nentry_point: ../../run.sh\n",
        "actions/run.yaml:entry_point: '../../run.sh' is outside the pack directory",
    ),
    "entry point holding a NUL character": (
        "actions/run.yaml",
        'ref: run\nrunner_type: shell\nentry_point: "run\\0.sh"\n',
        "actions/run.yaml:entry_point: 'run\\x00.sh' contains a NUL character, which no file name can hold",
    ),
    "python action without a script": (
        "actions/run.yaml",
        "ref: run\nrunner_type: python\n",
        "actions/run.yaml:entry_point: the python runner needs a script file",
    ),
    "unknown builtin": (
        "actions/run.yaml",
        "ref: run\nrunner_type: builtin\nentry_point: reboot\n",
        "actions/run.yaml:entry_point: 'reboot' is not a builtin; the builtin runner runs noop, echo, sleep",
    ),
    "unknown runner_type": (
        "actions/run.yaml",
        "ref: run\nrunner_type: bash\nentry_point: run.sh\n",
        "actions/run.yaml:runner_type: Input should be 'builtin', 'shell', 'python', 'http' or 'orquesta'",
    ),
    "bad output_format": (
        "actions/run.yaml",
        "ref: run\nrunner_type: shell\nentry_point: run.sh\noutput_format: xml\n",
        "actions/run.yaml:output_format: Input should be 'json', 'yaml' or 'text'",
    ),
    "bad policy method": (
        "policies/limit.yaml",
        "ref: limit\naction: run\nconcurrency: {limit: 1, method: queue}\n",
        "policies/limit.yaml:concurrency.method: Input should be 'enqueue' or 'cancel'",
    ),
    "policy without a limit": (
        "policies/limit.yaml",
        "ref: limit\naction: run\n",
        "policies/limit.yaml:concurrency: a policy needs concurrency, rate_limit or both",
    ),
    "duplicate refs": (
        "triggers/page.yaml",
        "ref: demo.alert\n",
        "triggers/page.yaml:ref: duplicate ref 'demo.alert' (also in triggers/alert.yaml)",
    ),
    "ref of another pack": (
        "triggers/alert.yaml",
        "ref: other.alert\n",
        "triggers/alert.yaml:ref: 'other.alert' belongs to pack 'other', not to this pack 'demo'",
    ),
    "malformed ref in a rule": (
        "rules/on_alert.yaml",
        "ref: on_alert\ntrigger: Alert!\naction: run\n",
        "rules/on_alert.yaml:trigger: 'Alert!' is not a valid ref (expected <pack>.<name>)",
    ),
    "unknown criteria operator": (
        "rules/on_alert.yaml",
        "ref: on_alert\ntrigger: alert\naction: run\ncriteria: {trigger.host: {type: equalz, pattern: x}}\n",
        "rules/on_alert.yaml:criteria.trigger.host.type: unknown operator 'equalz'",
    ),
    "StackStorm rule of another pack": (
        "rules/on_alert.yaml",
        "name: on_alert\npack: other\ntrigger: {type: demo.alert}\naction: {ref: demo.run}\n",
        "rules/on_alert.yaml:pack: 'other' is not the pack 'demo' the rule is loaded from",
    ),
    "non-string key": (
        "triggers/alert.yaml",
        "ref: alert\nparameters_schema: {1: x}\n",
        "triggers/alert.yaml:(root): keys must be strings, got int 1 (line 2, column 21)",
    ),
}


@pytest.mark.parametrize(("file", "text", "expected"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_file(demo: PackDir, file: str, text: str, expected: str) -> None:
    demo.write(file, text)
    assert problems(demo) == [expected]


def test_missing_pack_yaml(demo: PackDir) -> None:
    demo.remove("pack.yaml")
    assert problems(demo) == [f"pack.yaml:(root): not found: {demo.path.resolve()} is not a pack directory"]


def test_every_problem_of_every_file_is_listed(demo: PackDir) -> None:
    demo.write("pack.yaml", "ref: demo\nversion: 1\nlabel: Demo\n")
    demo.write("triggers/alert.yaml", "ref: alert\npayload_schema: {type: objekt}\n")
    demo.write("actions/run.yaml", "ref: run\nrunner_type: python\nentry_point: gone.py\nenabled: maybe\n")
    demo.write("policies/limit.yaml", "ref: limit\naction: run\nrate_limit: {max: 0, window_seconds: 60}\n")
    assert problems(demo) == [
        "pack.yaml:version: 1 is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.0.0)",
        "triggers/alert.yaml:payload_schema.type: invalid JSON Schema: 'objekt' is not valid under any of the given schemas",
        "actions/run.yaml:enabled: Input should be a valid boolean",
        "policies/limit.yaml:rate_limit.max: Input should be greater than 0",
    ]


def test_a_bad_pack_yaml_still_reports_the_components(demo: PackDir) -> None:
    demo.write("pack.yaml", "ref: demo\nversion: 1.0.0\nconfig_schema: {type: object, required: [token]}\n")
    demo.write("actions/run.yaml", "ref: run\nrunner_type: http\nentry_point: run.sh\n")
    assert problems(demo) == [
        "pack.yaml:config: 'token' is a required property",
        "actions/run.yaml:entry_point: the http runner takes no entry point",
    ]


def test_flat_parameters_become_a_json_schema(demo: PackDir) -> None:
    demo.write(
        "actions/run.yaml",
        """
ref: run
runner_type: shell
entry_point: run.sh
parameters:
  host: {type: string, required: true, description: The host}
  count: {type: integer, default: 1}
""",
    )
    action = load_pack(demo.path).of("action")[0]
    assert action.values["parameters_schema"] == {
        "type": "object",
        "properties": {
            "host": {"type": "string", "description": "The host"},
            "count": {"type": "integer", "default": 1},
        },
        "required": ["host"],
    }


def test_flat_parameters_are_checked(demo: PackDir) -> None:
    demo.write(
        "actions/run.yaml",
        "ref: run\nrunner_type: shell\nentry_point: run.sh\nparameters:\n  host: {type: strin}\n",
    )
    assert problems(demo) == [
        "actions/run.yaml:parameters.host.type: invalid parameter: 'strin' is not valid under any of the given schemas"
    ]


def test_parameters_and_parameters_schema_exclude_each_other(demo: PackDir) -> None:
    demo.write(
        "actions/run.yaml",
        "ref: run\nrunner_type: shell\nentry_point: run.sh\nparameters: {}\nparameters_schema: {}\n",
    )
    assert problems(demo) == [
        "actions/run.yaml:parameters: give either parameters (flat) or parameters_schema, not both"
    ]


def test_stackstorm_rule_form(demo: PackDir) -> None:
    demo.write(
        "rules/on_alert.yaml",
        """
name: on_alert
pack: demo
description: StackStorm form
enabled: false
trigger:
  type: demo.alert
  parameters: {}
criteria:
  trigger.host:
    type: equals
    pattern: web-1
action:
  ref: run
  parameters:
    host: "{{ trigger.host }}"
""",
    )
    values = load_pack(demo.path).of("rule")[0].values
    assert values["ref"] == "demo.on_alert"
    assert values["trigger_ref"] == "demo.alert"
    assert values["action_ref"] == "demo.run"
    assert values["action_params"] == {"host": "{{ trigger.host }}"}
    assert values["criteria"] == {"trigger.host": {"type": "equals", "pattern": "web-1"}}
    assert values["enabled"] is False


def test_dates_stay_strings(demo: PackDir) -> None:
    demo.write(
        "rules/later.yaml", "ref: later\ntrigger: alert\naction: run\naction_params: {at: 2030-01-31}\n"
    )
    rule = next(r for r in load_pack(demo.path).of("rule") if r.ref == "demo.later")
    assert rule.values["action_params"] == {"at": "2030-01-31"}


def test_yaml_1_1_booleans_count_where_a_boolean_is_meant(demo: PackDir) -> None:
    """A StackStorm pack read by PyYAML may write yes/no/on/off for booleans: those load as booleans,
    while the same words elsewhere are the strings YAML 1.2 reads."""
    demo.write(
        "pack.yaml",
        """
ref: demo
version: 1.0.0
config_schema:
  type: object
  additionalProperties: no
  properties:
    verify: {type: boolean, default: yes}
    mode: {type: string, enum: [on, off]}
    strict: {type: boolean}
config: {mode: on, strict: off}
""",
    )
    demo.write(
        "actions/run.yaml",
        """
ref: run
runner_type: shell
entry_point: run.sh
enabled: yes
parameters:
  host: {type: string, required: yes}
  token: {type: string, secret: yes, required: no}
  cmd: {type: string, default: run.sh, immutable: yes}
  force: {type: boolean, default: no}
  answer: {type: string, enum: [yes, no], default: yes}
  sure: {type: boolean, enum: [yes, no]}
""",
    )
    demo.write("triggers/alert.yaml", "ref: alert\nenabled: off\n")
    demo.write("policies/limit.yaml", "ref: limit\naction: run\nenabled: no\nconcurrency: {limit: 1}\n")
    demo.write(
        "rules/on_alert.yaml",
        "name: on_alert\nenabled: on\ntrigger: {type: alert}\n"
        "criteria: {trigger.state: {type: equals, pattern: on}}\naction: {ref: run}\n",
    )
    pack = load_pack(demo.path)
    assert pack.values["config_schema"]["additionalProperties"] is False
    assert pack.values["config"] == {"mode": "on", "strict": False, "verify": True}
    action = pack.of("action")[0].values
    assert action["enabled"] is True
    schema = action["parameters_schema"]
    assert schema["required"] == ["host"]
    assert schema["properties"] == {
        "host": {"type": "string"},
        "token": {"type": "string", "secret": True},
        "cmd": {"type": "string", "default": "run.sh", "immutable": True},
        "force": {"type": "boolean", "default": False},
        "answer": {"type": "string", "enum": ["yes", "no"], "default": "yes"},
        "sure": {"type": "boolean", "enum": [True, False]},
    }
    assert pack.of("trigger")[0].values["enabled"] is False
    assert pack.of("policy")[0].values["enabled"] is False
    rule = pack.of("rule")[0].values
    assert rule["enabled"] is True
    assert rule["criteria"] == {"trigger.state": {"type": "equals", "pattern": "on"}}


def test_a_quoted_yes_is_not_a_boolean(demo: PackDir) -> None:
    demo.write("actions/run.yaml", "ref: run\nrunner_type: shell\nentry_point: run.sh\nenabled: 'yes'\n")
    demo.write("triggers/alert.yaml", "ref: alert\nenabled: maybe\n")
    assert problems(demo) == [
        "triggers/alert.yaml:enabled: Input should be a valid boolean",
        "actions/run.yaml:enabled: Input should be a valid boolean",
    ]


def test_bundled_packs_are_valid() -> None:
    from attune_shared.constants import PACKS_DIR

    core = load_pack(PACKS_DIR / "core")
    assert {"core.noop", "core.echo", "core.sleep", "core.local", "core.local_sudo", "core.http"} <= {
        a.ref for a in core.of("action")
    }
    assert {"core.intervaltimer", "core.st2.IntervalTimer", "core.st2.webhook"} <= {
        t.ref for t in core.of("trigger")
    }
    for action in core.of("action"):
        assert action.values["description"], action.ref
        schema = action.values["parameters_schema"]
        for name, spec in schema.get("properties", {}).items():
            assert spec.get("description"), f"{action.ref}.{name}"
    examples = load_pack(PACKS_DIR / "examples")
    assert len(examples.of("rule")) >= 5
