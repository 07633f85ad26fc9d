"""Run hostile input in a child process with a memory ceiling and a deadline, so that a test whose
defence has been removed fails (a refusal missing, a MemoryError, a timeout) instead of taking the
test run down with it."""

from __future__ import annotations

import multiprocessing
import resource
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

#: Address space of the child: far more than a bounded evaluation needs, far less than the machine.
MEMORY_BYTES = 1536 * 1024 * 1024
DEADLINE_S = 60.0


def _child(send: Connection, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    try:
        send.send(("returned", function(*args)))
    except BaseException as exc:  # the test reads what was raised
        send.send(("raised", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def contained(function: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    """``("returned", value)`` or ``("raised", "<Type>: message…")`` of ``function(*args)`` in a
    forked child; AssertionError when the child dies or runs past the deadline."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(send, function, args), daemon=True)
    child.start()
    try:
        if not receive.poll(DEADLINE_S):
            raise AssertionError(f"no answer within {DEADLINE_S} s (exit code {child.exitcode})")
        outcome: tuple[str, Any] = receive.recv()
        return outcome
    finally:
        child.kill()
        child.join()
