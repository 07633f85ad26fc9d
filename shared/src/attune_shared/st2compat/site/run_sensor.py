"""Runs one sensor until SIGTERM: ``python run_sensor.py --channel-fd N`` with the job on stdin.

The job is ``{"pack", "file", "class_name", "config", "poll_interval", "triggers", "lib_paths"}``.
``setup()``, then ``add_trigger()`` for each trigger rules use, then ``run()``; trigger changes
arrive on the channel; SIGTERM ends ``run()`` and ``cleanup()`` runs before the process exits.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import traceback
from types import FrameType
from typing import Any


class Stop(BaseException):
    """SIGTERM: leave ``run()`` wherever it is."""


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise Stop


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--channel-fd", type=int, required=True)
    args = parser.parse_args()
    job = json.loads(sys.stdin.readline())
    signal.signal(signal.SIGTERM, _stop)

    from attune_st2.channel import Channel
    from attune_st2.loading import load_module, sensor_class
    from attune_st2.services import SensorService
    from st2reactor.sensor.base import PollingSensor

    class_name = job["class_name"]
    sensor: Any = None

    def on_event(event: str, trigger: dict[str, Any]) -> None:
        handler = {"add": "add_trigger", "update": "update_trigger", "remove": "remove_trigger"}.get(event)
        if sensor is not None and handler is not None:
            try:
                getattr(sensor, handler)(trigger)
            except Exception:
                sys.stderr.write(f"Sensor {class_name}.{handler} raised:\n{traceback.format_exc()}")

    channel = Channel(args.channel_fd, on_event)
    try:
        module = load_module(job["file"], job["lib_paths"])
        cls = sensor_class(module, class_name)
        if cls is None:
            sys.stderr.write(f'Sensor module "{job["file"]}" is missing a class with name "{class_name}"\n')
            return 2
        kwargs: dict[str, Any] = {"sensor_service": SensorService(channel, job["pack"], cls.__name__)}
        kwargs["config"] = job["config"]
        if job.get("poll_interval") and issubclass(cls, PollingSensor):
            kwargs["poll_interval"] = job["poll_interval"]
        sensor = cls(**kwargs)
        sensor.setup()
        for trigger in job["triggers"]:
            on_event("add", trigger)
        sys.stderr.write(f"Sensor {class_name} running\n")
        sys.stderr.flush()
        sensor.run()
    except Stop:
        return 0
    except Exception as exc:
        sys.stderr.write(
            f'Sensor "{class_name}" run method raised an exception: {exc}\n{traceback.format_exc()}'
        )
        return 1
    finally:
        if sensor is not None:
            try:
                sensor.cleanup()
            except BaseException:
                sys.stderr.write(f"Sensor {class_name}.cleanup raised:\n{traceback.format_exc()}")
    sys.stderr.write(f"Sensor {class_name} run() returned\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
