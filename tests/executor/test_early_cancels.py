"""The memory of cancels seen before their run registers: remembered for a while, bounded, and as
cheap with thousands remembered as with one (it was rebuilt on every run start before)."""

from __future__ import annotations

from attune_executor.running import EarlyCancels


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_cancel_is_taken_once_within_its_memory() -> None:
    clock = Clock()
    early = EarlyCancels(memory=30, clock=clock)
    early.remember(7)
    clock.now += 29
    assert early.take(7) is True
    assert early.take(7) is False  # taken: forgotten
    early.remember(8)
    clock.now += 30
    assert early.take(8) is False  # too old


def test_expired_cancels_are_forgotten_as_new_ones_come() -> None:
    clock = Clock()
    early = EarlyCancels(memory=30, clock=clock)
    for i in range(1000):
        early.remember(i)
    clock.now += 31
    early.remember(5000)
    assert len(early) == 1
    assert early.take(5000) is True


def test_a_cancel_seen_again_is_remembered_from_then() -> None:
    clock = Clock()
    early = EarlyCancels(memory=30, clock=clock)
    early.remember(1)
    clock.now += 20
    early.remember(2)
    early.remember(1)  # seen again: its memory starts over, behind 2
    clock.now += 15
    early.remember(3)  # 1's first sighting is 35 s old, but it was seen again 15 s ago
    assert len(early) == 3
    assert early.take(1) is True


def test_at_most_limit_are_remembered_the_oldest_dropped_first() -> None:
    clock = Clock()
    early = EarlyCancels(memory=30, limit=100, clock=clock)
    for i in range(250):
        early.remember(i)
        clock.now += 0.001
    assert len(early) == 100
    assert early.take(149) is False and early.take(150) is True and early.take(249) is True
