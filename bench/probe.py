"""The host-stall probe: a process that sleeps 1 ms in a loop and records how late it wakes up.

Run beside the latency run (``python -m bench.probe``; SIGINT ends it and it prints its figures as
JSON). A late wake-up is the machine not running a ready process: other tenants, the hypervisor,
memory pressure. Its overshoots, with their wall-clock times, tell a tail the shared machine
caused from one the pipeline caused (see ``tail.py``).
"""

from __future__ import annotations

import json
import signal
import sys
import time

#: overshoots at or above this (ms) are kept with their time, for attribution
KEEP_MS = 5.0
TICK = 0.001


def main() -> None:
    overshoots: list[float] = []
    stalls: list[tuple[float, float]] = []  # (wall-clock start of the sleep, overshoot ms)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while True:
            wall = time.time()
            before = time.perf_counter()
            time.sleep(TICK)
            late = (time.perf_counter() - before - TICK) * 1000
            overshoots.append(late)
            if late >= KEEP_MS:
                stalls.append((wall, round(late, 2)))
    except KeyboardInterrupt:
        pass
    ordered = sorted(overshoots) or [0.0]
    result = {
        "ticks": len(overshoots),
        "p50_ms": round(ordered[len(ordered) // 2], 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
        "max_ms": round(ordered[-1], 2),
        "stalls": stalls,
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
