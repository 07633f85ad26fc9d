"""Brute-force throttling: failed authentications counted per remote address in a sliding window.

Only guesses count — a key no row has, a token not signed by us — not a revoked or expired key or
an expired token of ours (a browser's stale session cookie).

An address with ``limit`` failures within ``window`` seconds is refused every further attempt (429
with ``Retry-After``), valid or not, until its oldest failure leaves the window, so guessing gains
nothing from the answers. Counters live in the API process: each replica throttles on its own.
"""

from __future__ import annotations

import math
import time
from collections import deque

#: Addresses tracked at most; past it, those whose failures have all expired are forgotten first.
MAX_ADDRESSES = 100_000


class AuthThrottle:
    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again; ``None`` when it may now."""
        failures = self._recent(address)
        if failures is None or len(failures) < self.limit:
            return None
        return max(1, math.ceil(failures[-self.limit] + self.window - time.monotonic()))

    def failed(self, address: str) -> None:
        """Count a failed authentication from ``address``."""
        failures = self._recent(address)
        if failures is None:
            if len(self._failures) >= MAX_ADDRESSES:
                self._forget_expired()
            failures = self._failures[address] = deque(maxlen=self.limit)
        failures.append(time.monotonic())

    def _recent(self, address: str) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        horizon = time.monotonic() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures

    def _forget_expired(self) -> None:
        horizon = time.monotonic() - self.window
        for address in [a for a, f in self._failures.items() if not f or f[-1] <= horizon]:
            del self._failures[address]
        while len(self._failures) >= MAX_ADDRESSES:  # all recent: drop the oldest tracked
            del self._failures[next(iter(self._failures))]
