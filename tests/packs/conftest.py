"""A small valid pack in a temporary directory, to break one file at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

DEMO_FILES = {
    "pack.yaml": """
ref: demo
label: Demo
version: 1.0.0
config_schema:
  type: object
  properties:
    retries: {type: integer, default: 2}
    channel: {type: string}
config:
  channel: "#ops"
""",
    "triggers/alert.yaml": """
ref: alert
payload_schema:
  type: object
  properties:
    host: {type: string}
  required: [host]
""",
    "actions/run.yaml": """
ref: run
description: Runs run.sh
runner_type: shell
entry_point: run.sh
parameters_schema:
  type: object
  properties:
    host: {type: string}
""",
    "actions/run.sh": "#!/bin/sh\ncat\n",
    "rules/on_alert.yaml": """
ref: on_alert
trigger: alert
criteria:
  trigger.host: {type: startswith, pattern: web}
action: run
action_params:
  host: "{{ trigger.host }}"
""",
    "policies/limit.yaml": """
ref: limit
action: run
concurrency: {limit: 1, method: cancel, group_by: [host]}
""",
}


class PackDir:
    """A pack directory under test: write, replace or remove files by relative path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, name: str, text: str) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.lstrip("\n"))

    def remove(self, name: str) -> None:
        (self.path / name).unlink()


@pytest.fixture
def demo(tmp_path: Path) -> PackDir:
    pack = PackDir(tmp_path / "demo")
    for name, text in DEMO_FILES.items():
        pack.write(name, text)
    return pack
