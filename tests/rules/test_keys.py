from typing import Any

import pytest

from attune_shared.rules import build_context
from attune_shared.rules.keys import WILDCARD, KeyPathError, parse_key, resolve

PAYLOAD: dict[str, Any] = {
    "level": "high",
    "null": None,
    "headers": {"X-Custom-Header": "yes", "a.b": 1, "it's": 2},
    "items": [{"n": 1}, {"n": 2, "tags": ["x"]}],
    "text": "abc",
}
CONTEXT = build_context(PAYLOAD, event={"id": 7, "trigger_ref": "demo.alert"})


@pytest.mark.parametrize(
    ("key", "segments", "tag"),
    [
        ("trigger.level", ("trigger", "level"), None),
        ("trigger.level#low", ("trigger", "level"), "low"),
        ("trigger.level#", ("trigger", "level"), ""),
        ("trigger.items[0].n", ("trigger", "items", 0, "n"), None),
        ("trigger.items[-1]", ("trigger", "items", -1), None),
        ("trigger.items[*].n", ("trigger", "items", WILDCARD, "n"), None),
        ("trigger.headers['X-Custom-Header']", ("trigger", "headers", "X-Custom-Header"), None),
        ('trigger.headers["a.b"]', ("trigger", "headers", "a.b"), None),
        ("trigger.headers['it\\'s']", ("trigger", "headers", "it's"), None),
        ("trigger.headers['a#b']#tag", ("trigger", "headers", "a#b"), "tag"),
        ("trigger.'a.b'", ("trigger", "a.b"), None),
        ("trigger.x-y", ("trigger", "x-y"), None),
    ],
)
def test_parse(key: str, segments: tuple[Any, ...], tag: str | None) -> None:
    parsed = parse_key(key)
    assert parsed.segments == segments
    assert parsed.tag == tag
    assert parsed.path == (key.rsplit("#", 1)[0] if tag is not None else key)


@pytest.mark.parametrize(
    "key", ["", ".x", "trigger..x", "trigger.", "trigger[0", "trigger['x'", "trigger x", "[0]"]
)
def test_parse_errors(key: str) -> None:
    with pytest.raises(KeyPathError):
        parse_key(key)


@pytest.mark.parametrize(
    ("key", "found", "value"),
    [
        ("trigger.level", True, "high"),
        ("trigger.level#any_tag", True, "high"),
        ("trigger.null", True, None),
        ("trigger.absent", False, None),
        ("trigger.absent.deeper", False, None),
        ("trigger.headers['X-Custom-Header']", True, "yes"),
        ("trigger.headers['a.b']", True, 1),
        ("trigger.items[1].n", True, 2),
        ("trigger.items[-1].tags[0]", True, "x"),
        ("trigger.items[5]", False, None),
        ("trigger.items[*].n", True, 1),
        ("trigger.items[*].tags", True, ["x"]),
        ("trigger.text[0]", False, None),
        ("trigger.items.n", False, None),
        ("event.payload.level", True, "high"),
        ("event.trigger_ref", True, "demo.alert"),
        ("event.id", True, 7),
        ("trigger", True, PAYLOAD),
    ],
)
def test_resolve(key: str, found: bool, value: Any) -> None:
    assert resolve(parse_key(key), CONTEXT) == (found, value)
