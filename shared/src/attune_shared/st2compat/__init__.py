"""Running StackStorm's Python actions and sensors unchanged, in child processes.

``site/`` is put first on the child's ``sys.path`` (never installed, so nothing in this project
or in a user's environment imports it by accident). It holds a small shim written here with the
import paths packs use — ``st2common.runners.base_action.Action``,
``st2reactor.sensor.base.Sensor`` and ``PollingSensor`` (and the older
``st2actions.runners.pythonrunner.Action``) — and the wrappers the executor and the sensor
service run: :data:`ACTION_WRAPPER`, :data:`SENSOR_WRAPPER`, :data:`CHECK_WRAPPER`.

The child talks to its parent over a socket passed as a file descriptor (JSON lines, see
:mod:`attune_shared.st2compat.channel`): its result, datastore calls, dispatched triggers, and the
parent's trigger notifications. It never receives a database or NATS address.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

#: The directory put on the child's ``sys.path``.
SITE_DIR: Final = Path(__file__).resolve().parent / "site"
#: Runs one python-script action: job on stdin, result on the channel.
ACTION_WRAPPER: Final = SITE_DIR / "run_action.py"
#: Runs one sensor until SIGTERM.
SENSOR_WRAPPER: Final = SITE_DIR / "run_sensor.py"
#: Imports a pack's python actions and sensors, reporting what does not load (pack install).
CHECK_WRAPPER: Final = SITE_DIR / "check_pack.py"
