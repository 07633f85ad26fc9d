"""Message models for every subject of the bus. Messages carry ids (and ``created``, so a
hypertable lookup hits one chunk); the database is authoritative.

Every model has a version ``v``; readers ignore fields they do not know, so adding a field is
compatible and only a change of meaning bumps ``v``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from attune_shared.statuses import ExecutionStatus

#: Header carrying a trace tag from producer to event to execution.
TRACE_TAG_HEADER = "Attune-Trace-Tag"
#: Header naming the one rule a trigger message is meant for (timer events): the event's ``rule_ref``,
#: and the executor then evaluates only that rule.
RULE_HEADER = "Attune-Rule"
#: Header naming where a trigger message came from (``timer``, ``webhook``, …); the event's
#: ``source_ref``. Messages without it are stored with ``source_ref = "nats"``.
SOURCE_HEADER = "Attune-Source"
#: JetStream's de-duplication header.
MSG_ID_HEADER = "Nats-Msg-Id"
#: Headers added to a dead letter.
DLQ_REASON_HEADER = "Attune-Dlq-Reason"


#: A committed status change: ``(old, new)``; ``old`` is ``None`` for a new execution.
Change = tuple[ExecutionStatus | None, ExecutionStatus]


def utcnow() -> datetime:
    return datetime.now(UTC)


class BusMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    v: int = 1


class EventCreated(BusMessage):
    """``<p>.event.created``: the sensor stored an event."""

    event_id: int
    created: datetime
    trigger_ref: str

    @staticmethod
    def body(event_id: int, created: datetime, trigger_ref: str) -> bytes:
        """The body of one, byte for byte as ``model_dump_json`` writes it (a test holds them equal).
        Written by hand: the model's validation and serialization were a twentieth of the sensor's
        CPU per event."""
        return _wake_up("event_id", event_id, created, "trigger_ref", trigger_ref)


class EnforcementCreated(BusMessage):
    """``<p>.enforcement.created``: a rule matched an event."""

    enforcement_id: int
    created: datetime
    rule_ref: str

    @staticmethod
    def body(enforcement_id: int, created: datetime, rule_ref: str) -> bytes:
        """The body of one, byte for byte as ``model_dump_json`` writes it (a test holds them equal)."""
        return _wake_up("enforcement_id", enforcement_id, created, "rule_ref", rule_ref)


class ExecutionRequested(BusMessage):
    """``<p>.execution.requested``: an execution waits to be scheduled."""

    execution_id: int
    created: datetime
    action_ref: str


class ExecutionStatusChanged(BusMessage):
    """``<p>.execution.status.<action_ref>``: an execution changed status (after the commit)."""

    execution_id: int
    created: datetime
    action_ref: str
    old_status: ExecutionStatus | None
    new_status: ExecutionStatus
    at: datetime = Field(default_factory=utcnow)

    @staticmethod
    def bodies(
        execution_id: int,
        created: datetime,
        action_ref: str,
        changes: Iterable[Change],
        at: datetime,
    ) -> list[bytes]:
        """The bodies of consecutive changes of one execution, byte for byte as ``model_dump_json``
        writes them (a test holds them equal). Written here by hand: an execution is announced five
        times, and the model's validation and serialization were half of each announcement's cost."""
        head = f'{{"v":1,"execution_id":{int(execution_id)},"created":"{_iso(created)}","action_ref":'
        head += json.dumps(action_ref, ensure_ascii=False) + ',"old_status":'
        tail = f',"at":"{_iso_at(at)}"}}'
        return [f'{head}{_quoted(old)},"new_status":"{new.value}"{tail}'.encode() for old, new in changes]


def _wake_up(id_field: str, row_id: int, created: datetime, ref_field: str, ref: str) -> bytes:
    """A wake-up's JSON: ``v``, the row's id and ``created``, a ref (as the models write them)."""
    quoted = json.dumps(ref, ensure_ascii=False)
    return f'{{"v":1,"{id_field}":{int(row_id)},"created":"{_iso(created)}","{ref_field}":{quoted}}}'.encode()


def _quoted(status: ExecutionStatus | None) -> str:
    return "null" if status is None else f'"{status.value}"'


def _iso(moment: datetime) -> str:
    """A datetime as pydantic writes it in JSON (ISO 8601, ``Z`` for UTC)."""
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


#: :func:`_iso` of the last ``at``: the executions of a batch are announced at one moment.
_iso_at = lru_cache(maxsize=1)(_iso)


RuleOp = Literal["created", "updated", "enabled", "disabled", "deleted"]


class RuleChanged(BusMessage):
    """``<p>.rule.changed``: a rule was created, changed, enabled, disabled or deleted."""

    rule_ref: str
    trigger_ref: str
    enabled: bool
    op: RuleOp


class DeadLetter(BusMessage):
    """``<p>.dlq.<reason>``: a message that will never be processed, and why."""

    reason: str
    detail: str
    subject: str
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    body_b64: str | None = None
    stream: str | None = None
    stream_seq: int | None = None
    consumer: str | None = None
    num_delivered: int | None = None
    failed_at: datetime = Field(default_factory=utcnow)
