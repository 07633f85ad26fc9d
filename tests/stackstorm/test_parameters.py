"""StackStorm's parameter rules: immutable parameters, templated defaults, secrets, script arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from attune_executor.runners.st2.local import script_command
from attune_executor.runners.st2.params import SplitParameters
from attune_shared.errors import ParameterError
from attune_shared.masking import MASK, mask_secrets
from attune_shared.packs import load_pack
from attune_shared.parameters import validate_parameters

from .conftest import ST2DEMO

CORE = Path(__file__).resolve().parents[2] / "packs" / "core"


def action_schema(pack: Path, ref: str) -> dict:
    return next(a for a in load_pack(pack).of("action") if a.ref == ref).values["parameters_schema"]


def test_core_echo_renders_its_immutable_command() -> None:
    schema = action_schema(CORE, "core.echo")
    params = validate_parameters({"message": "hi there"}, schema)
    assert params["cmd"] == "echo 'hi there'" and params["sudo"] is False and params["timeout"] == 60
    with pytest.raises(ParameterError) as info:
        validate_parameters({"message": "x", "cmd": "rm -rf /"}, schema)
    assert info.value.errors == [("cmd", "Override of immutable parameter(s) ['cmd'] is unsupported.")]
    with pytest.raises(ParameterError) as info:
        validate_parameters({"message": "x", "colour": "red"}, schema)
    assert info.value.errors == [("colour", "unexpected (not in the schema)")]


def test_a_templated_default_reads_other_parameters_and_the_pack_config() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string", "default": "{{ b }}-{{ config_context.suffix }}"},
            "b": {"type": "string", "default": "x"},
            "c": {"type": "integer", "default": "{{ config_context.n }}"},
        },
    }
    context = {"config_context": {"suffix": "s", "n": 3}}
    assert validate_parameters({}, schema, context=context) == {"a": "x-s", "b": "x", "c": 3}
    assert validate_parameters({"b": "y"}, schema, context=context)["a"] == "y-s"
    cyclic = {"type": "object", "properties": {"a": {"default": "{{ b }}"}, "b": {"default": "{{ a }}"}}}
    with pytest.raises(ParameterError) as info:
        validate_parameters({}, cyclic)
    assert info.value.message == "Cyclic dependency found in the following variables: a, b"


def test_config_secrets_are_masked_deep_and_whole() -> None:
    schema = {
        "type": "object",
        "properties": {
            "token": {"type": "string", "secret": True},
            "auth": {"type": "object", "properties": {"password": {"type": "string", "secret": True}}},
            "keys": {"type": "array", "secret": True},
        },
    }
    values = {"token": "t", "auth": {"user": "u", "password": "p"}, "keys": ["k"], "other": 1}
    assert mask_secrets(values, schema) == {
        "token": MASK,
        "auth": {"user": "u", "password": MASK},
        "keys": MASK,
        "other": 1,
    }
    assert values["token"] == "t"


def test_script_arguments_as_stackstorm_passes_them() -> None:
    schema = action_schema(ST2DEMO, "st2demo.args")
    params = SplitParameters(
        runner={"kwarg_op": "-"},
        action={"name": "it's", "enabled": False, "force": True, "label": "", "tags": {"a": 1}},
    )
    command = script_command(
        ST2DEMO / "actions" / "scripts" / "args.sh", params, schema, "local-shell-script"
    )
    # each named argument one whole shell word (the same argv as StackStorm's -tags='{...}')
    assert command.endswith("""args.sh -force '-tags={'"'"'a'"'"': 1}' 'it'"'"'s' '' '' 0 ''"""), command
