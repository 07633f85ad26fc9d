"""Pack sensors (StackStorm's ``Sensor`` and ``PollingSensor`` classes) as supervised child processes."""
