"""Runs one python-script action: ``python run_action.py --channel-fd N`` with the job on stdin.

The job is ``{"pack", "file", "parameters", "config", "log_level", "lib_paths"}``. The result goes
to the parent on the channel as ``(status, result)``: ``status`` is ``None`` when ``run()``
returned a plain value, the boolean when it returned a 2-tuple (StackStorm's contract).
"""

from __future__ import annotations

import argparse
import json
import sys

#: StackStorm's exit code for a 2-tuple whose first item is not a boolean.
INVALID_STATUS_EXIT_CODE = 220


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--channel-fd", type=int, required=True)
    args = parser.parse_args()
    job = json.loads(sys.stdin.readline())

    from attune_st2.channel import Channel
    from attune_st2.loading import action_class, load_module
    from attune_st2.logs import action_logger
    from attune_st2.services import ActionService
    from st2common.runners.base_action import Action

    channel = Channel(args.channel_fd)
    module = load_module(job["file"], job["lib_paths"])
    cls = action_class(module, Action)
    if cls is None:
        sys.stderr.write(f'File "{job["file"]}" has no action class (a subclass of Action).\n')
        return 1
    service = ActionService(
        channel, job["pack"], cls.__name__, job["log_level"], action_logger(cls.__name__, job["log_level"])
    )
    try:
        action = cls(config=job["config"], action_service=service)
    except TypeError:
        action = cls(config=job["config"])
        action.action_service = service
    output = action.run(**job["parameters"])
    status = None
    if isinstance(output, tuple) and len(output) == 2:
        status, output = output
        if not isinstance(status, bool):
            sys.stderr.write(
                f"Status returned from the action run() method must either be True or False, got: {status}\n"
                "Return a list instead of a tuple, or a tuple whose first item is a status flag: "
                "(True, ('item1', 'item2'))\n"
            )
            return INVALID_STATUS_EXIT_CODE
        try:
            json.dumps(output)
        except (TypeError, ValueError):
            output = str(output)
    sys.stdout.flush()
    channel.request("result", status=status, result=output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
