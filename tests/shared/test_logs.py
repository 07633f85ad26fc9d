"""Throttled warnings: the first line per key in full, then one per interval with the count held back."""

from __future__ import annotations

import logging

import pytest

from attune_shared.logs import Throttle


def test_one_line_per_key_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    throttle = Throttle(logging.getLogger("test.throttle"), 60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "test.throttle"):
        for event in range(1, 6):
            throttle.warning("rule.a", "enforcement.failed", rule="a", event=event)
        throttle.warning("rule.b", "enforcement.failed", rule="b", event=6)
        now[0] += 59.9
        throttle.warning("rule.a", "enforcement.failed", rule="a", event=7)
        now[0] += 0.1
        throttle.warning("rule.a", "enforcement.failed", rule="a", event=8)
    lines = [(r.rule, r.event, getattr(r, "repeats", None)) for r in caplog.records]  # type: ignore[attr-defined]
    assert lines == [("a", 1, None), ("b", 6, None), ("a", 8, 5)]
