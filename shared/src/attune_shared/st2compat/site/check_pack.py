"""Imports a pack's python actions and sensors (``python check_pack.py`` with a job on stdin) and
prints one JSON object: ``{"problems": [{"file", "field", "message"}]}``.

The job is ``{"actions": [{"file", "path"}], "sensors": [{"file", "path", "class_name"}], "lib_paths"}``
(``file`` is the YAML file to name in a problem, ``path`` the Python file).
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any


def main() -> int:
    job = json.loads(sys.stdin.read())

    from attune_st2.loading import action_class, load_module, sensor_class
    from st2common.runners.base_action import Action

    problems: list[dict[str, str]] = []

    def load(item: dict[str, Any]) -> Any:
        try:
            return load_module(item["path"], job["lib_paths"])
        except BaseException as exc:
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            problems.append(
                {"file": item["file"], "field": "entry_point", "message": f"does not import: {last}"}
            )
            return None

    for item in job["actions"]:
        module = load(item)
        if module is not None and action_class(module, Action) is None:
            problems.append(
                {
                    "file": item["file"],
                    "field": "entry_point",
                    "message": "has no action class (a subclass of Action)",
                }
            )
    for item in job["sensors"]:
        module = load(item)
        if module is not None and sensor_class(module, item["class_name"]) is None:
            problems.append(
                {
                    "file": item["file"],
                    "field": "class_name",
                    "message": f'the sensor module has no class named "{item["class_name"]}"',
                }
            )
    sys.stdout.write(json.dumps({"problems": problems}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
