"""The host-stall probes: a process that sleeps 1 ms in a loop and records how late it wakes up,
and, in a thread of it, writes 8 KB and ``fsync``s them every 10 ms and records how long that took.

Run beside the latency run (``python -m bench.probe [DIR]``, ``DIR`` on the servers' disk, the
temporary directory by default; SIGINT ends it and it prints its figures as JSON). A late wake-up is
the machine not running a ready process: other tenants, the hypervisor, memory pressure. A slow
``fsync`` is the disk the durable servers commit to being slow for everyone (the servers' own
writes share it, so at a low rate it says little of them). With their wall-clock times, both tell
a tail the shared machine caused from one the pipeline caused (see ``tail.py``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import threading
import time
from typing import Any

#: overshoots and fsyncs at or above this (ms) are kept with their time, for attribution
KEEP_MS = 5.0
TICK = 0.001
#: one fsync of FSYNC_BYTES every FSYNC_EVERY seconds
FSYNC_EVERY = 0.01
FSYNC_BYTES = 8192


def _figures(values: list[float], kept: list[tuple[float, float]]) -> dict[str, Any]:
    ordered = sorted(values) or [0.0]
    return {
        "ticks": len(values),
        "p50_ms": round(ordered[len(ordered) // 2], 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
        "max_ms": round(ordered[-1], 2),
        "stalls": kept,
    }


class _Fsyncs(threading.Thread):
    def __init__(self, directory: str) -> None:
        super().__init__(daemon=True)
        self.directory = directory
        self.times: list[float] = []
        self.slow: list[tuple[float, float]] = []  # (wall-clock start of the fsync, ms)
        self.done = threading.Event()

    def run(self) -> None:
        fd, path = tempfile.mkstemp(prefix="attune-fsync-probe-", dir=self.directory)
        try:
            while not self.done.wait(FSYNC_EVERY):
                os.pwrite(fd, b"\0" * FSYNC_BYTES, 0)
                wall, before = time.time(), time.perf_counter()
                os.fsync(fd)
                ms = (time.perf_counter() - before) * 1000
                self.times.append(ms)
                if ms >= KEEP_MS:
                    self.slow.append((wall, round(ms, 2)))
        finally:
            os.close(fd)
            os.unlink(path)


def main() -> None:
    overshoots: list[float] = []
    stalls: list[tuple[float, float]] = []  # (wall-clock start of the sleep, overshoot ms)
    fsyncs = _Fsyncs(sys.argv[1] if len(sys.argv) > 1 else tempfile.gettempdir())
    fsyncs.start()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while True:
            wall = time.time()
            before = time.perf_counter()
            time.sleep(TICK)
            late = (time.perf_counter() - before - TICK) * 1000
            overshoots.append(late)
            if late >= KEEP_MS:
                stalls.append((wall + TICK, round(late, 2)))
    except KeyboardInterrupt:
        pass
    fsyncs.done.set()
    fsyncs.join()
    result = _figures(overshoots, stalls) | {"fsync": _figures(fsyncs.times, fsyncs.slow)}
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
