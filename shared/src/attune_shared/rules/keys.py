"""Criteria keys: a JSONPath subset resolved against the rule context.

``trigger.body.items[0].name``, ``trigger.headers['X-Token']``, ``trigger.items[*].id``,
``event.trigger_ref``. Everything after a ``#`` outside quotes is a tag and is dropped
(``trigger.level#low``), so one field can carry several criteria.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final


class KeyPathError(ValueError):
    """A criteria key that cannot be parsed."""


class _Wildcard:
    def __repr__(self) -> str:
        return "[*]"


#: ``[*]``: every element of a list.
WILDCARD: Final = _Wildcard()

Segment = str | int | _Wildcard

_NAME = re.compile(r"[^.\[\]#'\"\s]+")
_INDEX = re.compile(r"\[\s*(-?\d+|\*)\s*\]")
_QUOTED = re.compile(r"""'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)\"""")


@dataclass(frozen=True)
class KeyPath:
    """A parsed key: ``path`` (the key without its tag), its ``segments`` (field names, list
    indexes, :data:`WILDCARD`) and the dropped ``tag``."""

    path: str
    segments: tuple[Segment, ...]
    tag: str | None

    @property
    def root(self) -> str:
        first = self.segments[0]
        assert isinstance(first, str)
        return first


@lru_cache(maxsize=4096)
def parse_key(source: str) -> KeyPath:
    """Parse a criteria key; raise :class:`KeyPathError` naming the offending position."""
    segments: list[Segment] = []
    pos, tag = 0, None
    while pos < len(source):
        char = source[pos]
        if char == "#":
            tag = source[pos + 1 :]
            break
        if char == "." and segments:
            pos += 1
            name = _NAME.match(source, pos) or _QUOTED.match(source, pos)
            if name is None:
                raise KeyPathError(f"expected a field name after '.' at position {pos}")
            segments.append(_field(name))
            pos = name.end()
        elif char == "[" and segments:
            if (index := _INDEX.match(source, pos)) is not None:
                segments.append(WILDCARD if index.group(1) == "*" else int(index.group(1)))
                pos = index.end()
                continue
            quoted = _QUOTED.match(source, pos + 1)
            if quoted is None or not source.startswith("]", quoted.end()):
                raise KeyPathError(f"expected [n], [*] or ['name'] at position {pos}")
            segments.append(_field(quoted))
            pos = quoted.end() + 1
        elif not segments and (name := _NAME.match(source, pos)) is not None:
            segments.append(name.group())
            pos = name.end()
        else:
            raise KeyPathError(f"unexpected {char!r} at position {pos}")
    if not segments:
        raise KeyPathError("empty key")
    return KeyPath(source[:pos], tuple(segments), tag)


def _field(match: re.Match[str]) -> str:
    if match.re is _NAME:
        return match.group()
    raw = match.group(1) if match.group(1) is not None else match.group(2)
    return re.sub(r"\\(.)", r"\1", raw)


def resolve(key: KeyPath, context: Mapping[str, Any]) -> tuple[bool, Any]:
    """``(found, value)`` of the first match of ``key`` in ``context`` (StackStorm compares the first)."""
    for value in _matches(context, key.segments):
        return True, value
    return False, None


def _matches(value: Any, segments: Sequence[Segment]) -> Iterator[Any]:
    if not segments:
        yield value
        return
    head, rest = segments[0], segments[1:]
    if isinstance(head, str):
        if isinstance(value, Mapping) and head in value:
            yield from _matches(value[head], rest)
    elif isinstance(head, int):
        if isinstance(value, list | tuple) and -len(value) <= head < len(value):
            yield from _matches(value[head], rest)
    else:
        for item in value if isinstance(value, list | tuple) else [value]:
            yield from _matches(item, rest)
