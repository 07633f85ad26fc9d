"""Finding the processes a service started, through /proc."""

from __future__ import annotations

from pathlib import Path


def processes_running(marker: str) -> dict[int, str]:
    """Live processes whose command line contains ``marker``: pid -> command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().split(") ", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found[int(entry.name)] = cmdline
    return found


def parent_of(pid: int | None) -> int | None:
    """The parent pid of a live process, or ``None``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.split(") ", 1)[1].split()[1])
