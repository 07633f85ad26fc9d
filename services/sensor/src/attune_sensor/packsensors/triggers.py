"""The triggers a pack sensor is told about (``add_trigger`` / ``remove_trigger``): one per distinct
``(trigger type, parameters)`` of the enabled rules on its trigger types, as StackStorm's Trigger
objects."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from attune_shared.models import Rule, Sensor


def triggers_for(sensor: Sensor, rules: Iterable[Rule]) -> dict[str, dict[str, Any]]:
    """The sensor's triggers by id."""
    found: dict[str, dict[str, Any]] = {}
    for rule in rules:
        if rule.trigger_ref not in sensor.trigger_types or not rule.enabled:
            continue
        params = json.dumps(rule.trigger_params, sort_keys=True)
        digest = hashlib.sha256(params.encode()).hexdigest()[:12]
        pack, name = rule.trigger_ref.split(".", 1)
        trigger_id = f"{rule.trigger_ref}:{digest}"
        found[trigger_id] = {
            "id": trigger_id,
            "ref": rule.trigger_ref,
            "uid": f"trigger:{pack}:{name}:{digest}",
            "name": name,
            "pack": pack,
            "type": rule.trigger_ref,
            "parameters": rule.trigger_params,
            "description": "",
        }
    return found
