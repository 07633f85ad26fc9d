"""Timer schedules as pure functions: interval slots from the rule's anchor, cron in a time zone,
one-shot datetimes; and the message id that makes a slot fire once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from attune_sensor.timers.schedule import (
    CRON_TRIGGER,
    DATETIME_TRIGGER,
    INTERVAL_TRIGGER,
    CronSchedule,
    DateTimeSchedule,
    IntervalSchedule,
    ScheduleError,
    schedule_for,
)
from attune_sensor.timers.scheduler import message_id

ANCHOR = datetime(2026, 3, 28, 12, 0, 0, 250_000, tzinfo=UTC)


def test_interval_slots_count_from_the_anchor() -> None:
    schedule = schedule_for(INTERVAL_TRIGGER, {"unit": "seconds", "interval": 10}, ANCHOR)
    assert isinstance(schedule, IntervalSchedule)
    # the first slot is one interval after the rule was enabled, never the anchor itself
    assert schedule.next_after(ANCHOR - timedelta(hours=1)) == ANCHOR + timedelta(seconds=10)
    assert schedule.next_after(ANCHOR) == ANCHOR + timedelta(seconds=10)
    assert schedule.next_after(ANCHOR + timedelta(seconds=10)) == ANCHOR + timedelta(seconds=20)
    assert schedule.next_after(ANCHOR + timedelta(seconds=25.5)) == ANCHOR + timedelta(seconds=30)
    assert schedule.describe() == {"interval_seconds": 10.0}


@pytest.mark.parametrize(
    ("unit", "interval", "seconds"),
    [("seconds", 0.5, 0.5), ("minutes", 2, 120), ("hours", 1.5, 5400), ("days", 1, 86400)],
)
def test_interval_units(unit: str, interval: float, seconds: float) -> None:
    schedule = schedule_for(INTERVAL_TRIGGER, {"unit": unit, "interval": interval}, ANCHOR)
    assert schedule.next_after(ANCHOR) == ANCHOR + timedelta(seconds=seconds)


def test_interval_slots_are_exact_after_many_periods() -> None:
    schedule = schedule_for(INTERVAL_TRIGGER, {"unit": "seconds", "interval": 0.1}, ANCHOR)
    far = ANCHOR + timedelta(days=400, microseconds=50_000)
    assert schedule.next_after(far) == ANCHOR + timedelta(days=400, microseconds=100_000)


@pytest.mark.parametrize(
    "params",
    [
        {"unit": "weeks", "interval": 1},
        {"unit": "seconds"},
        {"unit": "seconds", "interval": 0},
        {"unit": "seconds", "interval": -5},
        {"unit": "seconds", "interval": 0.01},
        {"unit": "seconds", "interval": "10"},
        {"unit": "seconds", "interval": True},
        {"unit": "seconds", "interval": float("inf")},
    ],
)
def test_interval_rejects_bad_params(params: dict[str, object]) -> None:
    with pytest.raises(ScheduleError):
        schedule_for(INTERVAL_TRIGGER, params, ANCHOR)


def test_cron_in_a_time_zone_across_daylight_saving() -> None:
    params = {"expression": "30 9 * * *", "timezone": "Europe/Paris"}
    schedule = schedule_for(CRON_TRIGGER, params, ANCHOR - timedelta(days=7))
    assert isinstance(schedule, CronSchedule)
    # 28 March 2026 is CET (+01:00); the next day is CEST (+02:00)
    first = schedule.next_after(datetime(2026, 3, 28, 7, 0, tzinfo=UTC))
    assert first == datetime(2026, 3, 28, 8, 30, tzinfo=UTC)
    second = schedule.next_after(first)
    assert second == datetime(2026, 3, 29, 7, 30, tzinfo=UTC)
    assert second.astimezone(ZoneInfo("Europe/Paris")).hour == 9
    assert schedule.describe() == {"expression": "30 9 * * *", "timezone": "Europe/Paris"}


def test_cron_has_no_slot_before_the_rule_was_enabled() -> None:
    schedule = schedule_for(CRON_TRIGGER, {"expression": "0 * * * *"}, ANCHOR)
    assert schedule.next_after(ANCHOR - timedelta(days=1)) == datetime(2026, 3, 28, 13, 0, tzinfo=UTC)


def test_cron_with_seconds_first_and_default_utc() -> None:
    schedule = schedule_for(CRON_TRIGGER, {"expression": "*/15  * * * * *"}, ANCHOR)
    assert schedule.next_after(ANCHOR) == datetime(2026, 3, 28, 12, 0, 15, tzinfo=UTC)
    assert schedule.describe() == {"expression": "*/15 * * * * *", "timezone": "UTC"}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"expression": ""},
        {"expression": "* * *"},
        {"expression": "61 * * * *"},
        {"expression": "* * * * * * * *"},
        {"expression": "0 * * * *", "timezone": "Mars/Olympus"},
        {"expression": "0 * * * *", "timezone": 5},
    ],
)
def test_cron_rejects_bad_params(params: dict[str, object]) -> None:
    with pytest.raises(ScheduleError):
        schedule_for(CRON_TRIGGER, params, ANCHOR)


def test_datetime_fires_once() -> None:
    schedule = schedule_for(DATETIME_TRIGGER, {"fire_at": "2030-01-31T09:00:00+01:00"}, ANCHOR)
    assert isinstance(schedule, DateTimeSchedule)
    at = datetime(2030, 1, 31, 8, 0, tzinfo=UTC)
    assert schedule.next_after(ANCHOR) == at
    assert schedule.next_after(at) is None


def test_datetime_without_offset_is_read_in_its_time_zone() -> None:
    params = {"fire_at": "2030-07-01T09:00:00", "timezone": "America/New_York"}
    assert schedule_for(DATETIME_TRIGGER, params, ANCHOR).next_after(ANCHOR) == datetime(
        2030, 7, 1, 13, 0, tzinfo=UTC
    )
    assert schedule_for(DATETIME_TRIGGER, {"fire_at": "2030-07-01T09:00:00"}, ANCHOR).next_after(
        ANCHOR
    ) == datetime(2030, 7, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("params", [{}, {"fire_at": "tomorrow"}, {"fire_at": 1700000000}])
def test_datetime_rejects_bad_params(params: dict[str, object]) -> None:
    with pytest.raises(ScheduleError):
        schedule_for(DATETIME_TRIGGER, params, ANCHOR)


def test_a_slot_has_one_message_id_whatever_its_zone() -> None:
    slot = datetime(2026, 3, 29, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))
    assert message_id("demo.tick", slot) == "timer:demo.tick:2026-03-29T07:30:00.000000+00:00"
    assert message_id("demo.tick", slot.astimezone(UTC)) == message_id("demo.tick", slot)
