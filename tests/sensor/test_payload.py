"""Reading a trigger payload: JSON in any encoding ``json.loads`` accepts from bytes, refused with
the dead-letter reason otherwise."""

from __future__ import annotations

import codecs

import pytest
from nats.aio.msg import Msg
from nats.errors import NotJSMessageError

from attune_sensor.payload import Reason, parse_payload, read_message
from attune_shared.bus import Subjects
from attune_shared.errors import PermanentError

LIMIT = 1 << 20


@pytest.mark.parametrize(
    "body",
    [
        b'{"host": "web-1", "n": 1.5}',
        '{"host": "web-1", "n": 1.5}'.encode("utf-16"),
        '{"host": "web-1", "n": 1.5}'.encode("utf-16-le"),
        '{"host": "web-1", "n": 1.5}'.encode("utf-16-be"),
        '{"host": "web-1", "n": 1.5}'.encode("utf-32"),
        codecs.BOM_UTF8 + b'{"host": "web-1", "n": 1.5}',
        b' \n{"host": "web-1", "n": 1.5}',
    ],
)
def test_a_json_object_in_any_json_encoding_is_read(body: bytes) -> None:
    assert parse_payload(body, LIMIT) == {"host": "web-1", "n": 1.5}


@pytest.mark.parametrize(
    ("body", "reason", "detail"),
    [
        (b'{"n": NaN}', Reason.INVALID_JSON, "NaN is not JSON"),
        (b'{"n": 1e999}', Reason.INVALID_JSON, "out of range"),
        (b'{"n": ', Reason.INVALID_JSON, "Expecting value"),
        (b"[1, 2]", Reason.NOT_AN_OBJECT, "a JSON array"),
        (b'{"a": "\\u0000"}', Reason.INVALID_JSON, "\\u0000"),
        (b"{\xff}", Reason.INVALID_JSON, "not UTF-8"),
        (b"   ", Reason.INVALID_JSON, "empty body"),
    ],
)
def test_what_is_not_a_storable_object_is_refused_with_its_reason(
    body: bytes, reason: str, detail: str
) -> None:
    with pytest.raises(PermanentError) as info:
        parse_payload(body, LIMIT)
    assert info.value.reason == reason and detail in str(info.value)


def test_a_body_over_the_limit_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(PermanentError) as info:
        parse_payload(b'{"a": "' + b"x" * 100 + b'"}', 50)
    assert info.value.reason == Reason.TOO_LARGE


@pytest.mark.parametrize(
    "reply",
    [
        "$JS.ACK.T1_TRIGGERS.sensor.1.123456.98765.1733370000123456789.17",
        "$JS.ACK.hub.ACCHASH.T1_TRIGGERS.sensor.2.123456.98765.1733370000123456789.17.RnD",
        "$JS.ACK._.ACCHASH.T1_TRIGGERS.sensor.2.123456.98765.1733370000000000000.0",
    ],
)
def test_the_stream_position_is_what_nats_py_reads(reply: str) -> None:
    read = read_message(_delivery(reply), Subjects("p"), LIMIT)
    meta = _delivery(reply).metadata
    assert (read.dedup_id, read.created) == (f"seq:{meta.sequence.stream}", meta.timestamp)
    assert read.dedup_id == "seq:123456" and read.created.tzinfo is not None


def test_a_message_not_delivered_by_jetstream_is_refused() -> None:
    with pytest.raises(NotJSMessageError):
        read_message(_delivery("_INBOX.abc"), Subjects("p"), LIMIT)


def _delivery(reply: str) -> Msg:
    return Msg(None, subject="p.trigger.demo.alert", reply=reply, data=b'{"a": 1}')  # type: ignore[arg-type]
