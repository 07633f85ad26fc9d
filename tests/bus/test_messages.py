"""The hand-written announcement bodies equal what the message model writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from attune_shared.bus import EnforcementCreated, EventCreated, ExecutionStatusChanged
from attune_shared.statuses import ExecutionStatus as S

MOMENTS = [
    datetime(2026, 12, 4, 22, 0, 1, 123456, tzinfo=UTC),
    datetime(2026, 12, 4, 22, 0, 1, tzinfo=UTC),  # no fraction
    datetime(2026, 12, 4, 22, 0, 1, 5, tzinfo=timezone(timedelta(hours=2))),
    datetime(2026, 12, 4, 22, 0, 1, 250000, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
]
CHANGES = [
    (None, S.REQUESTED),
    (S.REQUESTED, S.SCHEDULING),
    (S.SCHEDULING, S.SCHEDULED),
    (S.SCHEDULED, S.RUNNING),
    (S.RUNNING, S.COMPLETED),
]


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
@pytest.mark.parametrize("action_ref", ["core.noop", 'odd."quoted"\\ref', "ünï.cödé"])
def test_status_bodies_are_the_models_json(moment: datetime, action_ref: str) -> None:
    created = moment - timedelta(seconds=3, microseconds=7)
    bodies = ExecutionStatusChanged.bodies(2**40 + 7, created, action_ref, CHANGES, moment)
    expected = [
        ExecutionStatusChanged(
            execution_id=2**40 + 7,
            created=created,
            action_ref=action_ref,
            old_status=old,
            new_status=new,
            at=moment,
        )
        .model_dump_json()
        .encode()
        for old, new in CHANGES
    ]
    assert bodies == expected
    # and what readers parse back is the change announced
    parsed = [ExecutionStatusChanged.model_validate_json(b) for b in bodies]
    assert [(p.old_status, p.new_status, p.at, p.created) for p in parsed] == [
        (old, new, moment, created) for old, new in CHANGES
    ]


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
@pytest.mark.parametrize("trigger_ref", ["core.st2.webhook", 'odd."quoted"\\ref', "ünï.cödé"])
def test_wake_up_bodies_are_the_models_json(moment: datetime, trigger_ref: str) -> None:
    enforcement = EnforcementCreated.body(12, moment, trigger_ref)
    assert (
        enforcement
        == EnforcementCreated(enforcement_id=12, created=moment, rule_ref=trigger_ref)
        .model_dump_json()
        .encode()
    )
    body = EventCreated.body(2**40 + 7, moment, trigger_ref)
    assert (
        body
        == EventCreated(event_id=2**40 + 7, created=moment, trigger_ref=trigger_ref)
        .model_dump_json()
        .encode()
    )
    parsed = EventCreated.model_validate_json(body)
    assert (parsed.event_id, parsed.created, parsed.trigger_ref) == (2**40 + 7, moment, trigger_ref)
