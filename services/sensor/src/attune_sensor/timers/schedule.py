"""When a timer fires: the schedules of the core timer triggers, as pure functions of a rule's
``trigger_params``.

Every replica computes the same slots for the same rule (an interval timer counts from the rule's
``updated`` time, cron slots are absolute, a datetime timer has one slot), so the slot's time makes
a message id that JetStream de-duplicates when two replicas fire the same slot.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

INTERVAL_TRIGGER = "core.intervaltimer"
CRON_TRIGGER = "core.crontimer"
DATETIME_TRIGGER = "core.datetimetimer"
#: StackStorm's timers, on the same machinery (their parameters as StackStorm takes them).
ST2_INTERVAL_TRIGGER = "core.st2.IntervalTimer"
ST2_CRON_TRIGGER = "core.st2.CronTimer"
ST2_DATE_TRIGGER = "core.st2.DateTimer"
ST2_TIMER_TRIGGERS = (ST2_INTERVAL_TRIGGER, ST2_CRON_TRIGGER, ST2_DATE_TRIGGER)
TIMER_TRIGGERS = (INTERVAL_TRIGGER, CRON_TRIGGER, DATETIME_TRIGGER, *ST2_TIMER_TRIGGERS)

#: Seconds per ``unit`` of ``core.intervaltimer`` (and of ``core.st2.IntervalTimer``, with weeks).
UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
ST2_UNITS = {**UNITS, "weeks": 7 * 86400}
#: APScheduler's cron fields from the most to the least significant, and the minimum of each.
ST2_CRON_FIELDS = (
    ("year", None),
    ("month", "1"),
    ("week", None),
    ("day", "1"),
    ("day_of_week", None),
    ("hour", "0"),
    ("minute", "0"),
    ("second", "0"),
)
#: The shortest interval accepted, in seconds.
MIN_INTERVAL = 0.1

_MICROSECOND = timedelta(microseconds=1)


class ScheduleError(ValueError):
    """A rule's ``trigger_params`` do not describe a schedule."""


class Schedule(Protocol):
    @property
    def kind(self) -> str:
        """``interval``, ``cron`` or ``datetime`` (the payload's ``type``)."""
        ...

    def next_after(self, t: datetime) -> datetime | None:
        """The first slot strictly after ``t`` (aware), or ``None`` when there is none."""
        ...

    def describe(self) -> dict[str, Any]:
        """Fields added to the payload of every event the timer fires."""
        ...


@dataclass(frozen=True)
class IntervalSchedule:
    """Slots at ``anchor + k * period`` for k ≥ 1: the first one period after the rule was enabled."""

    anchor: datetime
    period: timedelta
    kind: str = "interval"

    def next_after(self, t: datetime) -> datetime:
        period_us = self.period // _MICROSECOND
        elapsed_us = (t - self.anchor) // _MICROSECOND
        k = max(elapsed_us // period_us + 1, 1)
        return self.anchor + timedelta(microseconds=k * period_us)

    def describe(self) -> dict[str, Any]:
        return {"interval_seconds": self.period.total_seconds()}


@dataclass(frozen=True)
class CronSchedule:
    """Cron slots in ``timezone`` (five fields, or six with seconds first), none before ``anchor``."""

    expression: str
    timezone: ZoneInfo
    anchor: datetime
    kind: str = "cron"

    def next_after(self, t: datetime) -> datetime:
        base = max(t, self.anchor).astimezone(self.timezone)
        slots = croniter(self.expression, base, second_at_beginning=_has_seconds(self.expression))
        nxt: datetime = slots.get_next(datetime)
        return nxt.astimezone(UTC)

    def describe(self) -> dict[str, Any]:
        return {"expression": self.expression, "timezone": self.timezone.key}


@dataclass(frozen=True)
class DateTimeSchedule:
    """One slot, ``fire_at``."""

    fire_at: datetime
    kind: str = "datetime"

    def next_after(self, t: datetime) -> datetime | None:
        return self.fire_at if self.fire_at > t else None

    def describe(self) -> dict[str, Any]:
        return {}


def schedule_for(trigger_ref: str, params: dict[str, Any], anchor: datetime) -> Schedule:
    """The schedule of a rule on a timer trigger; ``anchor`` is when the rule was last changed."""
    if trigger_ref == INTERVAL_TRIGGER:
        return interval_schedule(params, anchor)
    if trigger_ref == CRON_TRIGGER:
        return cron_schedule(params, anchor)
    if trigger_ref == DATETIME_TRIGGER:
        return datetime_schedule(params)
    if trigger_ref == ST2_INTERVAL_TRIGGER:
        return st2_interval_schedule(params, anchor)
    if trigger_ref == ST2_CRON_TRIGGER:
        return cron_schedule({"expression": st2_cron_expression(params), **_zone_only(params)}, anchor)
    if trigger_ref == ST2_DATE_TRIGGER:
        return datetime_schedule({"fire_at": params.get("date"), **_zone_only(params)})
    raise ScheduleError(f"{trigger_ref} is not a timer trigger")


def st2_interval_schedule(params: dict[str, Any], anchor: datetime) -> IntervalSchedule:
    """``core.st2.IntervalTimer``: ``unit`` (weeks, days, hours, minutes, seconds) and an integer ``delta``."""
    unit, delta = params.get("unit"), params.get("delta")
    if unit not in ST2_UNITS:
        raise ScheduleError(f"unit must be one of {', '.join(ST2_UNITS)}, not {unit!r}")
    if isinstance(delta, bool) or not isinstance(delta, int) or delta <= 0:
        raise ScheduleError(f"delta must be a positive integer, not {delta!r}")
    return IntervalSchedule(_aware(anchor), timedelta(seconds=delta * ST2_UNITS[unit]))


def st2_cron_expression(params: dict[str, Any]) -> str:
    """``core.st2.CronTimer``'s APScheduler fields as a six-field cron expression (seconds first).

    As APScheduler: fields less significant than the least significant one given take their
    minimum, more significant ones are ``*``; ``day_of_week`` counts from Monday = 0. ``year`` and
    ``week`` have no cron equivalent and are refused.
    """
    given = {name: params[name] for name, _ in ST2_CRON_FIELDS if params.get(name) is not None}
    if not given:
        raise ScheduleError(
            "a CronTimer needs at least one field (second, minute, hour, day, month, day_of_week)"
        )
    for name in ("year", "week"):
        if name in given and str(given[name]) != "*":
            raise ScheduleError(f"the {name} field of a CronTimer is not supported here")
    least = max(i for i, (name, _) in enumerate(ST2_CRON_FIELDS) if name in given)
    values: dict[str, str] = {}
    for i, (name, minimum) in enumerate(ST2_CRON_FIELDS):
        if name in given:
            values[name] = str(given[name]).replace(" ", "")
        else:
            values[name] = minimum if i > least and minimum is not None else "*"
    if values["day"] == "last":
        values["day"] = "L"
    values["day_of_week"] = _cron_weekdays(values["day_of_week"])
    return " ".join(values[n] for n in ("second", "minute", "hour", "day", "month", "day_of_week"))


def _cron_weekdays(field: str) -> str:
    """APScheduler's weekdays (0 = Monday) as cron's (0 = Sunday); names pass through."""

    def shift(match: re.Match[str]) -> str:
        return str(int(match.group()) + 1)

    if field == "*" or "/" in field.split("-")[0]:
        return field
    return re.sub(r"(?<![/\w])\d+", shift, field)


def _zone_only(params: dict[str, Any]) -> dict[str, Any]:
    return {"timezone": params["timezone"]} if params.get("timezone") else {}


def interval_schedule(params: dict[str, Any], anchor: datetime) -> IntervalSchedule:
    unit = params.get("unit")
    if unit not in UNITS:
        raise ScheduleError(f"unit must be one of {', '.join(UNITS)}, not {unit!r}")
    interval = params.get("interval")
    if isinstance(interval, bool) or not isinstance(interval, int | float) or not math.isfinite(interval):
        raise ScheduleError(f"interval must be a number, not {interval!r}")
    seconds = interval * UNITS[unit]
    if seconds < MIN_INTERVAL:
        raise ScheduleError(f"interval must be at least {MIN_INTERVAL} seconds, not {seconds:g}")
    return IntervalSchedule(_aware(anchor), timedelta(seconds=seconds))


def cron_schedule(params: dict[str, Any], anchor: datetime) -> CronSchedule:
    expression = params.get("expression")
    if not isinstance(expression, str) or not expression.strip():
        raise ScheduleError("expression must be a cron expression such as '*/5 * * * *'")
    expression = " ".join(expression.split())
    fields = len(expression.split())
    if not expression.startswith("@") and fields not in (5, 6):
        raise ScheduleError(f"expression {expression!r} must have 5 fields (or 6, seconds first)")
    if not croniter.is_valid(expression, second_at_beginning=_has_seconds(expression)):
        raise ScheduleError(f"expression {expression!r} is not a valid cron expression")
    return CronSchedule(expression, _zone(params), _aware(anchor))


def datetime_schedule(params: dict[str, Any]) -> DateTimeSchedule:
    fire_at = params.get("fire_at")
    if not isinstance(fire_at, str):
        raise ScheduleError(f"fire_at must be an ISO 8601 date and time, not {fire_at!r}")
    try:
        parsed = datetime.fromisoformat(fire_at)
    except ValueError as exc:
        raise ScheduleError(f"fire_at {fire_at!r} is not an ISO 8601 date and time") from exc
    zone = _zone(params)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return DateTimeSchedule(parsed.astimezone(UTC))


def _zone(params: dict[str, Any]) -> ZoneInfo:
    name = params.get("timezone") or "UTC"
    if not isinstance(name, str):
        raise ScheduleError(f"timezone must be an IANA time zone name, not {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone {name!r}") from exc


def _has_seconds(expression: str) -> bool:
    return len(expression.split()) == 6


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)
