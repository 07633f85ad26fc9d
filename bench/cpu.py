"""CPU seconds (user + system) from /proc: per service process, per server process tree, the host.

A process's figure is its own ticks plus those of the children it has reaped, summed over every
live process of its tree, so a PostgreSQL backend that exited during the run still counts (in the
postmaster's reaped ticks). CPU seconds per execution hardly move with the machine's load, where
rates swing several times over.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and its reaped children)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return ppid, (utime + stime + cutime + cstime) / _TICK


def tree_seconds(root: int) -> float:
    """CPU seconds of ``root`` and all its live descendants (0 if it is gone)."""
    stats = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            s = _stat(int(entry.name))
            if s is not None:
                stats[int(entry.name)] = s
    if root not in stats:
        return 0.0
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += stats[pid][1]
        todo.extend(children.get(pid, []))
    return total


def host_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (every CPU, all tenants), from /proc/stat."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[:8])
    return (user + nice + system + irq + softirq + steal) / _TICK


def snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process tree, plus ``host`` and this process (``bench``)."""
    seconds = {name: tree_seconds(pid) for name, pid in pids.items()}
    own = os.times()
    seconds["bench"] = own.user + own.system  # this process alone: the servers and services are its children
    seconds["host"] = host_busy_seconds()
    return seconds


def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds between two snapshots, per name."""
    return {name: round(after[name] - before.get(name, 0.0), 3) for name in after}
