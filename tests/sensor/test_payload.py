"""Reading a trigger payload: JSON in any encoding ``json.loads`` accepts from bytes, refused with
the dead-letter reason otherwise."""

from __future__ import annotations

import codecs

import pytest

from attune_sensor.payload import Reason, parse_payload
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
